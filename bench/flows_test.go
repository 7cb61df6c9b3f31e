package bench

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/eve"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/flowtable"
	"github.com/xdpsensor/xdpsensor/userspace/pipeline"
	"github.com/xdpsensor/xdpsensor/userspace/zeek"
)

// What the flow table costs the daemon: a sweep pass over a table of 2^20
// flows, when none is due and when all are (each then decoded, written
// and removed), and the flow records the daemon writes a second.

const sweepFlows = 1 << 20

// fillTable puts n IPv4 TCP flows in the sensor's table, last seen at
// lastSeen (kernel monotonic ns).
func fillTable(tb testing.TB, s *loader.Sensor, n int, lastSeen uint64) {
	const chunk = 65536
	keys := make([]abi.BpfFlowKeyV4, chunk)
	vals := make([]abi.BpfFlowValue, chunk)
	for done := 0; done < n; done += chunk {
		for i := range keys {
			j := uint32(done + i)
			binary.BigEndian.PutUint32(keys[i].AddrLo[:], 0xc6336400|j>>16) // 198.51.100.x
			binary.BigEndian.PutUint32(keys[i].AddrHi[:], 0xcb007100|j>>16&0xff)
			keys[i].PortLo, keys[i].PortHi, keys[i].ZoneProto = uint16(j), 443, 6
			vals[i] = abi.BpfFlowValue{FirstSeenNs: lastSeen - 1000}
			vals[i].Dir[0].Packets, vals[i].Dir[1].Packets = 10, 8
			vals[i].Dir[0].FrameBytes, vals[i].Dir[1].FrameBytes = 1200, 900
			vals[i].Dir[0].TcpFlags, vals[i].Dir[1].TcpFlags = 0x1b, 0x1b
			vals[i].LastSeenUs = 1
		}
		if _, err := s.Objects.FlowsV4.BatchUpdate(keys, vals, nil); err != nil {
			tb.Fatal(err)
		}
	}
}

// loadSweepSensor loads a sensor whose table holds sweepFlows flows (the
// caller closes it).
func loadSweepSensor(b *testing.B) *loader.Sensor {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Fatal("needs root")
	}
	s, err := loader.Load(loader.Config{FlowTableSize: sweepFlows, RingSize: 1 << 20})
	if err != nil {
		b.Fatalf("%+v", err)
	}
	return s
}

func newTracker(s *loader.Sensor, write func(*event.Flow) error) *flowtable.Tracker {
	return &flowtable.Tracker{
		Maps:       s.Maps(),
		Capacity:   s.Config.FlowCapacity(),
		CapacityV6: uint64(s.Config.FlowTableSizeV6),
		Decoder:    &flowtable.Decoder{Clock: func(ns uint64) time.Time { return time.Unix(0, int64(ns)) }},
		Write:      write,
		Timeout:    120 * time.Second,
	}
}

// BenchmarkSweep is one pass of the tracker over a table of 2^20 flows:
// the first Tick of a tracker sweeps all of it.
func BenchmarkSweep(b *testing.B) {
	s := loadSweepSensor(b)
	defer s.Close()
	const now = uint64(1000 * time.Second)
	for _, c := range []struct {
		name     string
		lastSeen uint64
	}{
		{"1M-flows-none-due", now},
		{"1M-flows-all-due", now - uint64(200*time.Second)},
	} {
		b.Run(c.name, func(b *testing.B) {
			var spent time.Duration
			var written uint64
			for i := 0; i < b.N; i++ {
				fillTable(b, s, sweepFlows, c.lastSeen)
				tr := newTracker(s, func(*event.Flow) error { return nil })
				tr.Quiescent = true
				start := time.Now()
				if err := tr.Tick(now); err != nil {
					b.Fatal(err)
				}
				if err := tr.Commit(); err != nil {
					b.Fatal(err)
				}
				spent += time.Since(start)
				written += tr.Counters.Written
			}
			b.ReportMetric(float64(spent.Milliseconds())/float64(b.N), "ms/pass")
			b.ReportMetric(float64(spent.Nanoseconds())/float64(b.N)/sweepFlows, "ns/flow")
			b.ReportMetric(float64(written)/float64(b.N), "written")
		})
	}
}

// BenchmarkFlowRecords is flow records written a second, from the kernel's
// table to eve.json and conn.log as the daemon writes them (EVE encoded on
// every CPU): a pass over 2^20 flows all due, each decoded, labelled,
// encoded twice, written to files and removed.
func BenchmarkFlowRecords(b *testing.B) {
	s := loadSweepSensor(b)
	defer s.Close()
	const now = uint64(1000 * time.Second)
	var spent time.Duration
	var written uint64
	for i := 0; i < b.N; i++ {
		fillTable(b, s, sweepFlows, now-uint64(200*time.Second))
		dir := b.TempDir()
		ev, err := eve.Open(filepath.Join(dir, "eve.json"), eve.Options{CompressIPv6: true, Workers: runtime.NumCPU()})
		if err != nil {
			b.Fatal(err)
		}
		zk, err := zeek.Open(filepath.Join(dir, "conn.log"), zeek.Options{})
		if err != nil {
			b.Fatal(err)
		}
		tr := newTracker(s, func(f *event.Flow) error {
			if err := ev.WriteFlow(f); err != nil {
				return err
			}
			return zk.WriteFlow(f)
		})
		tr.Quiescent = true
		tr.Sync = func() error {
			if err := ev.Flush(); err != nil {
				return err
			}
			return zk.Flush()
		}
		start := time.Now()
		if err := tr.Tick(now); err != nil {
			b.Fatal(err)
		}
		if err := tr.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := tr.Commit(); err != nil {
			b.Fatal(err)
		}
		spent += time.Since(start)
		written += tr.Counters.Written
		ev.Close()
		zk.Close()
	}
	if written != uint64(b.N)*sweepFlows {
		b.Fatalf("wrote %d of %d flows", written, b.N*sweepFlows)
	}
	b.ReportMetric(float64(written)/spent.Seconds()/1e6, "Mrecords/s")
}

// BenchmarkStorm is the live storm rate: the lab generator in new-flow
// mode (every frame a new source address and port, as storm_test.go's)
// into a sensor with its defaults, as fast as the generator sends; the
// rate at which the sensor took new flows, and whether every one was
// written or counted.
func BenchmarkStorm(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Fatal("needs root")
	}
	const frames = 1_000_000
	e := newLiveEnv(b, false)
	dir := b.TempDir()
	pin := "/sys/fs/bpf/xdpsensor-bench-storm-" + e.ns
	b.Cleanup(func() { loader.Unpin(pin) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready, done := make(chan struct{}), make(chan pipeline.Summary, 1)
	var runErr error
	go func() {
		sum, err := pipeline.Live(ctx, pipeline.LiveConfig{
			Config: pipeline.Config{OutDir: filepath.Join(dir, "out"), Capture: pipeline.CaptureConfig{Mode: loader.CaptureNone},
				Logger: benchLogger(b)},
			Interfaces: []string{e.rcv}, Netns: e.ns, MonitorPort: true, PinDir: pin,
			XDPMode: loader.XDPNative, Ready: func() { close(ready) },
		})
		runErr = err
		done <- sum
	}()
	select {
	case <-ready:
	case <-done:
		b.Fatalf("sensor: %+v", runErr)
	}
	be := func(a [4]byte) uint32 { return binary.NativeEndian.Uint32(a[:]) }
	gen := e.generator(b, false, map[string]uint32{"gen_new_flows": 1, "gen_src_net": be([4]byte{198, 51, 100, 0})})
	frame := Frame{Src: "198.51.100.1", Dst: plainDst.String(), SrcPort: 1024, DstPort: 80, Flags: "S"}.Build()
	var took time.Duration
	for i := 0; i < b.N; i++ {
		took += e.send(b, gen, frame, frames)
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	sum := <-done
	if runErr != nil {
		b.Fatalf("sensor: %+v", runErr)
	}
	k := sum.Kernel
	seen := k.FlowsNew + k.FlowTableFull
	if k.Packets != uint64(frames*b.N) || seen != k.Packets {
		b.Errorf("%d frames sent, the sensor counted %d packets and %d new flows", frames*b.N, k.Packets, seen)
	}
	accounted := sum.Flows + k.FlowRecordsLost
	report(b, took, frames*b.N)
	b.ReportMetric(float64(seen-min(accounted, seen)), "flows-unaccounted")
	b.ReportMetric(float64(k.LostEvents), "lost-events")
	b.ReportMetric(float64(k.FlowTableFull), "table-full")
}

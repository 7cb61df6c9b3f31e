package bench

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/ringbuf"
	"github.com/xdpsensor/xdpsensor/userspace/capture"
	"github.com/xdpsensor/xdpsensor/userspace/eve"
	"github.com/xdpsensor/xdpsensor/userspace/pipeline"
)

// BenchmarkRingDrain fills the event ring with alert events in the kernel
// (BPF_PROG_TEST_RUN), then times the daemon's side alone: read every
// record, and (decode) turn it into the event model and EVE JSON.
func BenchmarkRingDrain(b *testing.B) {
	setup(b)
	sb := sensors[""]
	frame := toCC.Build()
	const batch = 100_000 // 42 MB of events: fits the 64 MB ring
	for _, c := range []struct {
		name    string
		decode  bool
		workers int
	}{
		{"read", false, 0},
		{"decode+eve-1goroutine", true, 0},
		// As the daemon writes eve.json: encoded on every CPU.
		{"decode+eve", true, runtime.NumCPU()},
	} {
		decode := c.decode
		b.Run(c.name, func(b *testing.B) {
			if decode { // the collector's pace while the daemon drains
				defer debug.SetGCPercent(debug.SetGCPercent(pipeline.CollectorPercent))
			}
			rules := &ringbuf.KernelRules{Map: sb.s.Objects.Rules}
			dec := &ringbuf.Decoder{Rules: rules, Clock: func(ns uint64) time.Time { return time.Unix(0, int64(ns)) }}
			w := eve.NewWriter(io.Discard, eve.Options{Workers: c.workers})
			var events int
			var spent time.Duration
			for i := 0; i < b.N; i++ {
				sb.fill(b, frame, batch)
				start := time.Now()
				n := 0
				err := sb.reader.Drain(func(raw []byte) error {
					if decode {
						a, err := dec.Alert(raw)
						if err != nil {
							return err
						}
						if err := w.WriteAlert(a); err != nil {
							return err
						}
					}
					n++
					return nil
				})
				if err == nil {
					err = w.Flush() // what the workers still encode is part of the time
				}
				spent += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if n != batch {
					b.Fatalf("drained %d events, want %d", n, batch)
				}
				events += n
			}
			b.ReportMetric(float64(events)/spent.Seconds()/1e6, "Mevents/s")
		})
	}
}

// writeMixedCapture writes n frames: flows to many hosts, a few listed.
func writeMixedCapture(b *testing.B, path string, n, size int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	base := time.Date(2007, 2, 21, 10, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		fr := Frame{Src: "192.0.2.10", Dst: net.IPv4(198, 51, 100, byte(i%200+1)).String(), SrcPort: uint16(1024 + i%4096), DstPort: 443, Flags: "A", Payload: max(size-54, 0)}
		if i%100 == 0 {
			fr.Dst = "203.0.113.66"
		}
		data := fr.Build()
		w.WritePacket(gopacket.CaptureInfo{Timestamp: base.Add(time.Duration(i) * time.Microsecond), CaptureLength: len(data), Length: len(data)}, data)
	}
}

// BenchmarkReplay is `xdpsensor replay` end to end: capture file through
// the kernel program, alerts, flows, every output, the pcap ring. The
// capture is new-flow heavy (102,400 flows of about two frames); replay
// sizes its tables from it, as the CLI does (a table of 65,536 given here
// before left a third of the flows as records of one packet each).
func BenchmarkReplay(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Fatal("needs root")
	}
	dir := b.TempDir()
	pcap := filepath.Join(dir, "mixed.pcap")
	const n = 200_000
	writeMixedCapture(b, pcap, n, 64)
	rules := filepath.Join(dir, "list.txt")
	os.WriteFile(rules, []byte("203.0.113.66\n"), 0o644)
	b.ResetTimer()
	var spent time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		sum, err := pipeline.Replay(context.Background(), pipeline.Config{Blocklists: []string{rules}, OutDir: filepath.Join(dir, "out"),
			RingSize: 16 << 20, Logger: benchLogger(b)}, []string{pcap})
		if err != nil {
			b.Fatal(err)
		}
		spent += time.Since(start)
		if sum.Packets != n || sum.Kernel.FlowTableFull != 0 {
			b.Fatalf("replayed %d packets, %d found the flow table full", sum.Packets, sum.Kernel.FlowTableFull)
		}
	}
	b.ReportMetric(float64(n*b.N)/spent.Seconds()/1e6, "Mpps")
}

// BenchmarkCaptureToDisk is full-content capture from the kernel to pcap
// files: frames captured by the program (capture all) into the capture
// ring, drained into the pcap ring on disk; bytes/s, packets/s and loss.
func BenchmarkCaptureToDisk(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Fatal("needs root")
	}
	for _, size := range []int{64, 1500} {
		b.Run(map[int]string{64: "64B", 1500: "1500B"}[size], func(b *testing.B) {
			s, err := loader.Load(loader.Config{FlowTableSize: 4096, RingSize: 1 << 16, CaptureRingSize: 64 << 20})
			if err != nil {
				b.Fatalf("%+v", err)
			}
			defer s.Close()
			if err := s.SetCapture(loader.CaptureSettings{Mode: loader.CaptureAll}); err != nil {
				b.Fatal(err)
			}
			rd, err := ringbuf.NewReader(s.Objects.Capture)
			if err != nil {
				b.Fatal(err)
			}
			defer rd.Close()
			ring, err := capture.OpenRing(capture.RingOptions{Dir: b.TempDir(), Files: 4, FileSize: 256 << 20, Snaplen: loader.MaxSnaplen})
			if err != nil {
				b.Fatal(err)
			}
			defer ring.Close()
			frame := Frame{Src: "192.0.2.10", Dst: "198.51.100.20", SrcPort: 1, DstPort: 2, Flags: "A", Payload: max(size-54, 0)}.Build()
			batch := min((60<<20)/(len(frame)+80), 200_000)
			var pkts, bytes int
			var spent time.Duration
			for i := 0; i < b.N; i++ {
				before, err := s.Maps().ReadStats()
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if _, _, err := s.Objects.Xdpsensor.Benchmark(frame, batch, nil); err != nil {
					b.Fatal(err)
				}
				var rec capture.Record
				written := 0
				err = rd.Drain(func(raw []byte) error {
					hdr, data, err := abi.ParseCaptureRecord(raw)
					if err != nil {
						return err
					}
					rec = capture.Record{Time: time.Unix(0, int64(hdr.TsNs)), Data: data, OrigLen: int(hdr.FrameLen)}
					if _, err := ring.Write(&rec); err != nil {
						return err
					}
					written++
					bytes += len(data)
					return nil
				})
				if err == nil {
					err = ring.Flush()
				}
				spent += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				after, err := s.Maps().ReadStats()
				if err != nil {
					b.Fatal(err)
				}
				if lost := after.CaptureLost - before.CaptureLost; lost != 0 || written != batch {
					b.Fatalf("%d frames written to disk of %d sent, %d lost", written, batch, lost)
				}
				pkts += written
			}
			b.ReportMetric(float64(pkts)/spent.Seconds()/1e6, "Mpps")
			b.ReportMetric(float64(bytes)/spent.Seconds()/1e6, "MB/s")
		})
	}
}

// BenchmarkFirstTouch is what fresh memory costs on this host: the first
// write to each 4 KB page of a new anonymous mapping (a page fault and a
// zeroed page), and the same with transparent huge pages asked for. On a
// VM it can be most of a short-lived command's time: memory a command
// does not take is time it does not spend.
func BenchmarkFirstTouch(b *testing.B) {
	const size = 64 << 20
	for _, c := range []struct {
		name string
		huge bool
	}{{"4k-pages", false}, {"huge-pages", true}} {
		b.Run(c.name, func(b *testing.B) {
			var spent time.Duration
			for i := 0; i < b.N; i++ {
				m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
				if err != nil {
					b.Fatal(err)
				}
				if c.huge {
					if err := unix.Madvise(m, unix.MADV_HUGEPAGE); err != nil {
						unix.Munmap(m)
						b.Skipf("transparent huge pages unavailable: %v", err)
					}
				}
				start := time.Now()
				for p := 0; p < size; p += 4096 {
					m[p] = 1
				}
				spent += time.Since(start)
				unix.Munmap(m)
			}
			b.ReportMetric(float64(spent.Nanoseconds())/1e3/float64(b.N*size/4096), "µs/4KB-page")
		})
	}
}

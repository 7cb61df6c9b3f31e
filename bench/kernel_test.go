package bench

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/ringbuf"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
)

// In-kernel cost per packet, measured by the kernel itself with
// BPF_PROG_TEST_RUN (repeat R, the kernel's own clock), against floors.
// Every flow table is pre-filled with 64K flows first: a table that only
// holds the measured flow flatters every lookup.

const (
	prefill = 65536
	repeat  = 200_000
)

var (
	known   = Frame{Src: "192.0.2.10", Dst: "198.51.100.20", SrcPort: 40000, DstPort: 443, Flags: "A", Payload: 6}
	knownV6 = Frame{Src: "2001:db8:1::10", Dst: "2001:db8:2::20", SrcPort: 40000, DstPort: 443, Flags: "A", Payload: 6}
	vlan    = Frame{Src: "192.0.2.10", Dst: "198.51.100.20", SrcPort: 40001, DstPort: 443, Flags: "A", Payload: 6, VLAN: 100}
	toCC    = Frame{Src: "192.0.2.10", Dst: "203.0.113.66", SrcPort: 40002, DstPort: 6667, Flags: "A", Payload: 6}
	fromCC  = Frame{Src: "203.0.113.67", Dst: "192.0.2.10", SrcPort: 6667, DstPort: 40003, Flags: "A", Payload: 6}
	toCIDR  = Frame{Src: "192.0.2.10", Dst: "100.64.7.9", SrcPort: 40004, DstPort: 6667, Flags: "A", Payload: 6}
)

// benchList is a realistic blocklist: 100k addresses and 10k prefixes
// around the listed lab addresses.
func benchList() *blocklist.List {
	l := &blocklist.List{Rules: []blocklist.Rule{
		{GID: 1, SID: 1, Rev: 1, Msg: "bench dst", Direction: blocklist.ListedAsDst},
		{GID: 1, SID: 2, Rev: 1, Msg: "bench src", Direction: blocklist.ListedAsSrc},
	}}
	add := func(rule int, p netip.Prefix) { l.Entries = append(l.Entries, blocklist.Entry{Prefix: p, Rule: rule}) }
	add(0, netip.MustParsePrefix("203.0.113.66/32"))
	add(1, netip.MustParsePrefix("203.0.113.67/32"))
	add(0, netip.MustParsePrefix("100.64.0.0/16"))
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100_000; i++ {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], 0x0b000000+r.Uint32N(1<<24))
		add(0, netip.PrefixFrom(netip.AddrFrom4(a), 32))
	}
	for i := 0; i < 10_000; i++ {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], 0x0c000000+uint32(i)<<8)
		add(0, netip.PrefixFrom(netip.AddrFrom4(a), 24))
	}
	return l
}

// prefillFlows fills a flow map with n random flows.
func prefillFlows(tb testing.TB, m *ebpf.Map, n int) {
	keys := make([]abi.BpfFlowKeyV4, n)
	vals := make([]abi.BpfFlowValue, n)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range keys {
		binary.BigEndian.PutUint32(keys[i].AddrLo[:], 0x0a000000+r.Uint32N(1<<24))
		binary.BigEndian.PutUint32(keys[i].AddrHi[:], 0x0b000000+r.Uint32N(1<<24))
		keys[i].PortLo, keys[i].PortHi, keys[i].ZoneProto = uint16(i), 80, 6
	}
	if _, err := m.BatchUpdate(keys, vals, nil); err != nil {
		tb.Fatal(err)
	}
}

type sensorBench struct {
	s      *loader.Sensor
	reader *ringbuf.Reader
}

var (
	sensorOnce sync.Once
	sensors    map[string]*sensorBench // "" and "new-flows"
	floorsObj  *FloorsObjects
)

func setup(tb testing.TB) {
	sensorOnce.Do(func() {
		if os.Geteuid() != 0 {
			tb.Fatal("benchmarks load BPF programs: run as root (make bench)")
		}
		sensors = map[string]*sensorBench{}
		for _, vary := range []bool{false, true} {
			size := uint32(2 * prefill)
			if vary {
				size = 1 << 21 // each packet a new flow: room for a benchmark's worth
			}
			s, err := loader.Load(loader.Config{FlowTableSize: size, RingSize: 64 << 20, BenchNewFlows: vary})
			if err != nil {
				tb.Fatalf("%+v", err)
			}
			bl, _ := blocklistmaps.New(s.Maps(), s.Config.PinDir)
			if _, err := bl.Replace(benchList()); err != nil {
				tb.Fatal(err)
			}
			// Every listed packet alerts (Snort 2's way): the rows named
			// "alert event" and the ring drain need an event per packet,
			// where Suricata's way alerts once per flow direction.
			if err := s.SetAlertEveryPacket(true); err != nil {
				tb.Fatal(err)
			}
			prefillFlows(tb, s.Objects.FlowsV4, prefill)
			rd, err := ringbuf.NewReader(s.Objects.Events)
			if err != nil {
				tb.Fatal(err)
			}
			name := ""
			if vary {
				name = "new-flows"
			}
			sensors[name] = &sensorBench{s: s, reader: rd}
		}
		floorsObj = &FloorsObjects{}
		spec, err := LoadFloors()
		if err != nil {
			tb.Fatal(err)
		}
		spec.Maps["floor_flows"].MaxEntries = 2 * prefill
		spec.Maps["floor_new_flows"].MaxEntries = 1 << 21 // as the sensor's new-flow table: room for every insert
		if err := spec.LoadAndAssign(floorsObj, nil); err != nil {
			tb.Fatalf("%+v", err)
		}
		prefillFlows(tb, floorsObj.FloorFlows, prefill)
	})
}

// drain empties a sensor's event ring between rounds.
func (sb *sensorBench) drain() {
	sb.reader.Drain(func([]byte) error { return nil })
}

// fill empties the sensor's event ring, then runs the program over frame
// n times, failing if an event was lost: the ring then holds n events.
func (sb *sensorBench) fill(b *testing.B, frame []byte, n int) {
	b.Helper()
	sb.drain()
	before, err := sb.s.Maps().ReadStats()
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := sb.s.Objects.Xdpsensor.Benchmark(frame, n, nil); err != nil {
		b.Fatal(err)
	}
	after, err := sb.s.Maps().ReadStats()
	if err != nil {
		b.Fatal(err)
	}
	if lost := after.LostEvents - before.LostEvents; lost != 0 {
		b.Fatalf("%d events lost while filling", lost)
	}
}

// measure runs prog over frame `repeat` times per iteration and reports
// the kernel's average time per packet.
func measure(b *testing.B, prog *ebpf.Program, frame []byte, between func()) {
	b.Helper()
	// Warm: create the flow, fill caches.
	if _, _, err := prog.Benchmark(frame, 1000, nil); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if between != nil {
			b.StopTimer()
			between()
			b.StartTimer()
		}
		_, per, err := prog.Benchmark(frame, repeat, nil)
		if err != nil {
			b.Fatal(err)
		}
		total += per
	}
	ns := float64(total.Nanoseconds()) / float64(b.N)
	b.ReportMetric(ns, "ns/pkt")
	b.ReportMetric(1000/ns, "Mpps")
}

func BenchmarkFloor(b *testing.B) {
	setup(b)
	frame := known.Build()
	for _, c := range []struct {
		name string
		prog *ebpf.Program
	}{
		{"bare", floorsObj.BarePass},
		{"bare+ktime", floorsObj.BareKtime},
		{"bare+ktime-coarse", floorsObj.BareKtimeCoarse},
		{"parse", floorsObj.ParseOnly},
		{"parse+hash-update", floorsObj.ParseHashUpdate},
		{"parse+hash-update+clock", floorsObj.ParseHashUpdateClock},
		{"parse+hash-insert", floorsObj.ParseHashInsert},
	} {
		b.Run(c.name, func(b *testing.B) { measure(b, c.prog, frame, nil) })
	}
}

func BenchmarkSensor(b *testing.B) {
	setup(b)
	main, fresh := sensors[""], sensors["new-flows"]
	for _, c := range []struct {
		name  string
		sb    *sensorBench
		frame Frame
	}{
		{"known-flow", main, known},
		{"new-flow", fresh, known},
		{"listed-dst", main, toCC},
		{"listed-src", main, fromCC},
		{"cidr-hit", main, toCIDR},
		{"ipv6-known-flow", main, knownV6},
		{"vlan-known-flow", main, vlan},
	} {
		b.Run(c.name, func(b *testing.B) {
			sb := c.sb
			measure(b, sb.s.Objects.Xdpsensor, c.frame.Build(), sb.drain)
		})
	}
	b.Run("listed-ring-full", func(b *testing.B) {
		sb := main
		frame := toCC.Build()
		// Fill the ring and keep it full: every alert fails its reserve.
		if _, _, err := sb.s.Objects.Xdpsensor.Benchmark(frame, 200_000, nil); err != nil {
			b.Fatal(err)
		}
		before, _ := sb.s.Maps().ReadStats()
		measure(b, sb.s.Objects.Xdpsensor, frame, nil)
		after, _ := sb.s.Maps().ReadStats()
		if after.LostEvents == before.LostEvents {
			b.Fatal("the ring was not full")
		}
		sb.drain()
	})
}

// BenchmarkMemory reports kernel memory per flow from the flow maps' own
// accounting (memlock over max entries): each family's table, and both
// together as a sensor sizes them (IPv6 a quarter of IPv4).
func BenchmarkMemory(b *testing.B) {
	setup(b)
	var total, entries uint64
	for _, m := range []struct {
		name string
		m    *ebpf.Map
	}{{"v4", sensors[""].s.Objects.FlowsV4}, {"v6", sensors[""].s.Objects.FlowsV6}} {
		info, err := m.m.Info()
		if err != nil {
			b.Fatal(err)
		}
		ml, ok := info.Memlock()
		if !ok {
			b.Fatalf("%s: the kernel reports no memlock for the flow table", m.name)
		}
		b.ReportMetric(float64(ml)/float64(info.MaxEntries), "bytes/flow-"+m.name)
		total += ml
		entries += uint64(info.MaxEntries)
	}
	b.ReportMetric(float64(total)/float64(entries), "bytes/flow")
}

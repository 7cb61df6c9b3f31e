package pipeline

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/xdpsensor/xdpsensor/loader"
)

// A replay preallocates its flow tables when the captures hold at least
// preallocFramesPerEntry frames for each entry: 10 flows get the smallest
// tables (4,096 entries each family, 8,192 in all), so 40,960 frames are
// preallocated for and one frame fewer is not.
func TestReplayPreallocatesFlowsForManyFramesAnEntry(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		frames   int
		onDemand bool
	}{{preallocFramesPerEntry * 2 * loader.MinFlows, false}, {preallocFramesPerEntry*2*loader.MinFlows - 1, true}} {
		segs := make([]segment, c.frames)
		for i := range segs {
			segs[i] = segment{src: fmt.Sprintf("198.51.100.%d", 1+i%10), sport: 40000, dst: "203.0.113.5", dport: 80, ack: true, payload: "x"}
		}
		path := filepath.Join(dir, fmt.Sprintf("%d.pcap", c.frames))
		writeTCPCapture(t, path, segs)
		v4, v6, onDemand := replayTables([]string{path})
		if v4 != loader.MinFlows || v6 != loader.MinFlows || onDemand != c.onDemand {
			t.Errorf("%d frames of 10 flows: tables %d+%d, on demand %v; want %d+%d, %v", c.frames, v4, v6, onDemand,
				loader.MinFlows, loader.MinFlows, c.onDemand)
		}
	}
}

// Preallocated tables get a quarter more than their flows (in steps of
// 1,024), tables taking entries on demand twice their flows in a power of
// two; both at least loader.MinFlows and at most the file sizes' bound.
func TestTableSizes(t *testing.T) {
	for _, c := range []struct {
		n4, n6, frames uint64
		max4, max6     uint32
		v4, v6         uint32
		onDemand       bool
	}{
		{65536, 0, 1_000_000, 1 << 22, 1 << 22, 81920, 4096, false},        // the bench capture: 65,536 * 1.25
		{65536, 0, 430_079, 1 << 22, 1 << 22, 131072, 4096, true},          // one frame short of five an entry (86,016 entries)
		{65536, 0, 430_080, 1 << 22, 1 << 22, 81920, 4096, false},          // five an entry
		{100, 5000, 1_000_000, 1 << 22, 1 << 22, 4096, 7168, false},        // at least MinFlows; 6,250 rounds up to 7,168
		{1_800_000, 0, 100_000_000, 1 << 22, 1 << 22, 4194304, 4096, true}, // 2,250,752 entries: past preallocMaxEntries
		{65536, 0, 1_000_000, 70000, 1 << 22, 70000, 4096, false},          // the file sizes' bound
	} {
		v4, v6, onDemand := tableSizes(c.n4, c.n6, c.frames, c.max4, c.max6)
		if v4 != c.v4 || v6 != c.v6 || onDemand != c.onDemand {
			t.Errorf("%d+%d flows, %d frames, bounds %d+%d: %d+%d, on demand %v; want %d+%d, %v",
				c.n4, c.n6, c.frames, c.max4, c.max6, v4, v6, onDemand, c.v4, c.v6, c.onDemand)
		}
	}
}

// The loader takes the flow tables' entries on demand apart from the
// threshold and zone tables'.
func TestAllocOnDemandFlagsPerTable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test loads the BPF program: run it as root (make test does)")
	}
	for _, c := range []struct{ flows, others bool }{{true, false}, {false, true}, {false, false}} {
		s, err := loader.Load(loader.Config{FlowTableSize: 1024, RingSize: 1 << 16, ReplayClock: true,
			AllocFlowsOnDemand: c.flows, AllocOnDemand: c.others})
		if err != nil {
			t.Fatalf("%+v", err)
		}
		for _, m := range []struct {
			name string
			m    *ebpf.Map
			want bool
		}{{"flows_v4", s.Objects.FlowsV4, c.flows}, {"flows_v6", s.Objects.FlowsV6, c.flows},
			{"thresholds", s.Objects.Thresholds, c.others}, {"zones", s.Objects.Zones, c.others}} {
			info, err := m.m.Info()
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Flags&unix.BPF_F_NO_PREALLOC != 0; got != m.want {
				t.Errorf("flows on demand %v, others %v: %s has BPF_F_NO_PREALLOC %v", c.flows, c.others, m.name, got)
			}
		}
		s.Close()
	}
}

// The prescan's fast path counts what capture.Reader's path counts, on a
// capture of 14 MB (records cut by the fast path's 4 MB blocks carried
// across them); a file cut inside a record is left to the slow path with
// nothing counted.
func TestPrescanFastPathCountsAsTheReader(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big.pcap")
	w := createEthernetPcap(t, path)
	r := rand.New(rand.NewPCG(3, 4))
	base := time.Unix(1_700_000_000, 0)
	const frames = 18_000
	for i := range frames {
		var f []byte
		switch i % 5 {
		case 0: // UDP: a flow of its own each
			f = tcpFrame(t, false, uint16(r.IntN(4000)), r.IntN(1400))
			f[23] = 17
		case 1:
			f = tcpFrame(t, true, uint16(r.IntN(4000)), r.IntN(1400))
		default:
			f = tcpFrame(t, false, uint16(r.IntN(4000)), r.IntN(1400))
		}
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: base.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}, f); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := os.Stat(path); err != nil || st.Size() < 3*scanBlock {
		t.Fatalf("capture of %v bytes (%v): want more than three blocks", st.Size(), err)
	}
	fast, slow := newFlowBound(), newFlowBound()
	if ok, err := scanPcapEthernet(path, fast); !ok || err != nil {
		t.Fatalf("fast path: %v, %v", ok, err)
	}
	if err := scanWithReader(path, slow); err != nil {
		t.Fatal(err)
	}
	if fast.v4 != slow.v4 || fast.v6 != slow.v6 || fast.frames != slow.frames || fast.seen.n != slow.seen.n || fast.frames != frames {
		t.Errorf("fast path %d v4, %d v6, %d frames, %d tuples; the reader's %d, %d, %d, %d; want %d frames",
			fast.v4, fast.v6, fast.frames, fast.seen.n, slow.v4, slow.v6, slow.frames, slow.seen.n, frames)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.pcap")
	if err := os.WriteFile(cut, data[:len(data)-7], 0o644); err != nil {
		t.Fatal(err)
	}
	b := newFlowBound()
	if ok, err := scanPcapEthernet(cut, b); ok || err != nil || b.v4 != 0 || b.v6 != 0 || b.frames != 0 || b.seen.n != 0 {
		t.Errorf("file cut inside a record: fast path %v, %v, counted %d v4, %d v6, %d frames, %d tuples; want false and nothing", ok, err, b.v4, b.v6, b.frames, b.seen.n)
	}
}

// tcpFrame is an Ethernet frame of a TCP segment from 198.51.100.1:port
// (IPv6: 2001:db8::1) to port 80 of 203.0.113.5 (2001:db8::5).
func tcpFrame(t *testing.T, v6 bool, port uint16, payload int) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(port), DstPort: 80, ACK: true}
	var ip gopacket.NetworkLayer
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::5")}
	} else {
		ip = &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IPv4(198, 51, 100, 1), DstIP: net.IPv4(203, 0, 113, 5)}
	}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, eth, ip.(gopacket.SerializableLayer), tcp, gopacket.Payload(make([]byte, payload))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

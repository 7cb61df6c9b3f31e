package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
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

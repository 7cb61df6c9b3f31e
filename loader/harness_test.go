package loader

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	ciliumringbuf "github.com/cilium/ebpf/ringbuf"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
)

const (
	xdpDrop = 1
	xdpPass = 2
)

// harness runs frames through a private (unpinned) instance of the program.
type harness struct {
	t  *testing.T
	s  *Sensor
	rd *ciliumringbuf.Reader
	ts uint64 // packet clock in ns, advanced 1 ms per frame
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := openHarness(t, cfg)
	t.Cleanup(h.close)
	return h
}

// openHarness loads without tying the instance's life to t: the fuzz
// target shares one instance across inputs, each its own t.
func openHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("datapath tests load BPF programs: run them as root (make test does)")
	}
	if cfg.FlowTableSize == 0 {
		cfg.FlowTableSize = 1024
	}
	if cfg.RingSize == 0 {
		cfg.RingSize = 1 << 20
	}
	cfg.ReplayClock = true
	s, err := Load(cfg)
	if err != nil {
		t.Fatalf("load: %+v", err)
	}
	rd, err := ciliumringbuf.NewReader(s.Objects.Events)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	return &harness{t: t, s: s, rd: rd, ts: uint64(time.Date(2007, 2, 21, 10, 17, 54, 0, time.UTC).UnixNano())}
}

func (h *harness) close() {
	h.rd.Close()
	h.s.Close()
}

// run feeds one frame with the harness clock as XDP metadata.
func (h *harness) run(frame []byte) uint32 {
	h.t.Helper()
	h.ts += uint64(time.Millisecond)
	return h.runAt(frame, h.ts)
}

func (h *harness) runAt(frame []byte, ts uint64) uint32 {
	h.t.Helper()
	data := make([]byte, 8+len(frame))
	binary.NativeEndian.PutUint64(data, ts)
	copy(data[8:], frame)
	ret, err := h.s.Objects.Xdpsensor.Run(&ebpf.RunOptions{
		Data:    data,
		Context: XDPContext{Data: 8, DataEnd: uint32(len(data))},
	})
	if err != nil {
		h.t.Fatalf("prog.Run: %v", err)
	}
	return ret
}

func (h *harness) stats() abi.BpfSensorStats {
	h.t.Helper()
	var per []abi.BpfSensorStats
	if err := h.s.Objects.Stats.Lookup(uint32(0), &per); err != nil {
		h.t.Fatal(err)
	}
	var sum abi.BpfSensorStats
	for i := range per {
		addStats(&sum, &per[i])
	}
	return sum
}

// addStats adds every counter of b to a.
func addStats(a, b *abi.BpfSensorStats) {
	n := int(unsafe.Sizeof(*a)) / 8
	pa := unsafe.Slice((*uint64)(unsafe.Pointer(a)), n)
	pb := unsafe.Slice((*uint64)(unsafe.Pointer(b)), n)
	for i := range pa {
		pa[i] += pb[i]
	}
}

func (h *harness) flows() map[abi.BpfFlowKey]abi.BpfFlowValue {
	h.t.Helper()
	out := map[abi.BpfFlowKey]abi.BpfFlowValue{}
	var k abi.BpfFlowKey
	var v abi.BpfFlowValue
	it := h.s.Objects.Flows.Iterate()
	for it.Next(&k, &v) {
		out[k] = v
	}
	if err := it.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// onlyFlow returns the single flow in the table.
func (h *harness) onlyFlow() (abi.BpfFlowKey, abi.BpfFlowValue) {
	h.t.Helper()
	fl := h.flows()
	if len(fl) != 1 {
		h.t.Fatalf("flow table holds %d flows, want 1: %+v", len(fl), fl)
	}
	for k, v := range fl {
		return k, v
	}
	panic("unreachable")
}

func (h *harness) clearFlows() {
	h.t.Helper()
	for k := range h.flows() {
		if err := h.s.Objects.Flows.Delete(k); err != nil {
			h.t.Fatal(err)
		}
	}
}

// events drains the ring.
func (h *harness) events() (alerts []abi.BpfAlertEvent, closed []abi.BpfFlowEvent) {
	h.t.Helper()
	h.rd.SetDeadline(time.Now().Add(10 * time.Millisecond))
	for {
		rec, err := h.rd.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		if err != nil {
			h.t.Fatal(err)
		}
		switch rec.RawSample[0] {
		case uint8(abi.BpfEventTypeEVENT_ALERT):
			alerts = append(alerts, *(*abi.BpfAlertEvent)(unsafe.Pointer(&rec.RawSample[0])))
		case uint8(abi.BpfEventTypeEVENT_FLOW_CLOSED):
			closed = append(closed, *(*abi.BpfFlowEvent)(unsafe.Pointer(&rec.RawSample[0])))
		default:
			h.t.Fatalf("unknown event type %d", rec.RawSample[0])
		}
	}
}

// block installs a blocklist of one rule per direction spec.
func (h *harness) block(list *blocklist.List) blocklistmaps.InstallStats {
	h.t.Helper()
	bl, err := blocklistmaps.New(h.s.Maps(), h.s.Config.PinDir)
	if err != nil {
		h.t.Fatal(err)
	}
	st, err := bl.Replace(list)
	if err != nil {
		h.t.Fatalf("installing blocklist: %+v", err)
	}
	return st
}

// simpleList lists prefixes under one rule with the given direction.
func simpleList(dir blocklist.Direction, other blocklist.NetVar, prefixes ...string) *blocklist.List {
	l := &blocklist.List{Rules: []blocklist.Rule{{
		GID: 1, SID: 2405000, Rev: 602, Msg: "test rule", Classtype: "trojan-activity",
		Direction: dir, OtherNet: other, Source: "test:1",
	}}}
	for _, p := range prefixes {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			a := netip.MustParseAddr(p)
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		l.Entries = append(l.Entries, blocklist.Entry{Prefix: pfx, Rule: 0, Source: "test:2"})
	}
	return l
}

func addr16(s string) [16]uint8 {
	a := netip.MustParseAddr(s)
	var out [16]uint8
	copy(out[:], a.AsSlice())
	return out
}

func statsWords(s *abi.BpfSensorStats) []uint64 {
	return unsafe.Slice((*uint64)(unsafe.Pointer(s)), int(unsafe.Sizeof(*s))/8)
}

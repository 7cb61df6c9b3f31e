package loader

import (
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
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/flowtable"
)

const (
	xdpDrop = 1
	xdpPass = 2
	tcActOK = 0
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
	return h.runWire(frame, ts, 0)
}

// runEgress feeds one frame to the TC egress program (host mode), which
// shares the maps; its clock is the kernel's.
func (h *harness) runEgress(frame []byte) uint32 {
	h.t.Helper()
	egress, err := h.s.LoadEgress()
	if err != nil {
		h.t.Fatalf("loading the egress program: %+v", err)
	}
	ret, err := egress.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		h.t.Fatalf("egress prog.Run: %v", err)
	}
	return ret
}

// runWire feeds a frame that a capture's snap length cut: wire is its
// length on the wire (0: the frame is whole).
func (h *harness) runWire(frame []byte, ts uint64, wire uint32) uint32 {
	h.t.Helper()
	data := make([]byte, ReplayMetaLen+len(frame))
	PutReplayMeta(data, ts, wire, 0)
	copy(data[ReplayMetaLen:], frame)
	ret, err := h.s.Objects.Xdpsensor.Run(&ebpf.RunOptions{
		Data:    data,
		Context: XDPContext{Data: ReplayMetaLen, DataEnd: uint32(len(data))},
	})
	if err != nil {
		h.t.Fatalf("prog.Run: %v", err)
	}
	return ret
}

func (h *harness) stats() abi.BpfSensorStats {
	h.t.Helper()
	sum, err := h.s.Maps().ReadStats()
	if err != nil {
		h.t.Fatal(err)
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

// flowEntry is a flow of the tables: the entry as the kernel keeps it,
// its extension, and both directions (LO, HI) read in full.
type flowEntry struct {
	abi.BpfFlowValue
	x   *abi.BpfFlowExtra
	dir [2]event.DirectionStats
}

// initiator is the side that sent the first packet.
func (e *flowEntry) initiator() uint8 {
	if e.State&uint8(abi.BpfFlowStateBitsSTATE_INITIATOR_HI) != 0 {
		return 1
	}
	return 0
}

// history is Zeek's history with the LO side's letters in upper case.
func (e *flowEntry) history() string { return flowtable.History(&e.BpfFlowValue, e.x, 0) }

func (h *harness) flows() map[abi.BpfFlowKey]*flowEntry {
	h.t.Helper()
	out := map[abi.BpfFlowKey]*flowEntry{}
	add := func(k abi.BpfFlowKey, v abi.BpfFlowValue) {
		e := &flowEntry{BpfFlowValue: v}
		if v.State&uint8(abi.BpfFlowStateBitsSTATE_EXTRA) != 0 {
			var x abi.BpfFlowExtra
			ek := abi.BpfFlowExtraKey{Key: k, FirstSeenNs: v.FirstSeenNs}
			// The flow says it has an extension: it must be there.
			if err := h.s.Objects.FlowExtras.Lookup(&ek, &x); err != nil {
				h.t.Fatalf("flow %+v is marked as having an extension: %v", k, err)
			}
			e.x = &x
		}
		e.dir = flowtable.Directions(k.Proto, &v, e.x)
		out[k] = e
	}
	var k4 abi.BpfFlowKeyV4
	var k6 abi.BpfFlowKeyV6
	var v abi.BpfFlowValue
	it := h.s.Objects.FlowsV4.Iterate()
	for it.Next(&k4, &v) {
		add(abi.KeyFromV4(&k4), v)
	}
	if err := it.Err(); err != nil {
		h.t.Fatal(err)
	}
	it = h.s.Objects.FlowsV6.Iterate()
	for it.Next(&k6, &v) {
		add(abi.KeyFromV6(&k6), v)
	}
	if err := it.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// onlyFlow returns the single flow in the tables.
func (h *harness) onlyFlow() (abi.BpfFlowKey, *flowEntry) {
	h.t.Helper()
	fl := h.flows()
	if len(fl) != 1 {
		h.t.Fatalf("flow tables hold %d flows, want 1: %+v", len(fl), fl)
	}
	for k, v := range fl {
		return k, v
	}
	panic("unreachable")
}

func (h *harness) clearFlows() {
	h.t.Helper()
	for k := range h.flows() {
		var err error
		if k.Family == uint8(abi.BpfAddrFamilyFAMILY_IPV4) {
			ck := abi.FlowKeyV4(&k)
			err = h.s.Objects.FlowsV4.Delete(&ck)
		} else {
			ck := abi.FlowKeyV6(&k)
			err = h.s.Objects.FlowsV6.Delete(&ck)
		}
		if err != nil {
			h.t.Fatal(err)
		}
	}
	var ek abi.BpfFlowExtraKey
	var x abi.BpfFlowExtra
	var keys []abi.BpfFlowExtraKey
	it := h.s.Objects.FlowExtras.Iterate()
	for it.Next(&ek, &x) {
		keys = append(keys, ek)
	}
	if err := it.Err(); err != nil {
		h.t.Fatalf("iterating the flow extensions: %v", err)
	}
	for _, ek := range keys {
		if err := h.s.Objects.FlowExtras.Delete(&ek); err != nil {
			h.t.Fatal(err)
		}
	}
}

// events drains the ring.
func (h *harness) events() (alerts []abi.BpfAlertEvent, closed []abi.BpfFlowEvent) {
	alerts, closed, _ = h.allEvents()
	return alerts, closed
}

// allEvents drains the ring: alerts, close hints and the records the
// kernel sent (reused tuples, a full table).
func (h *harness) allEvents() (alerts []abi.BpfAlertEvent, closed, records []abi.BpfFlowEvent) {
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
		case uint8(abi.BpfEventTypeEVENT_FLOW_RECORD):
			records = append(records, *(*abi.BpfFlowEvent)(unsafe.Pointer(&rec.RawSample[0])))
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

package loader

import (
	"fmt"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// With an idle split time set (replay sets its flow timeout), a packet of
// a flow idle at least that long ends the flow as a record of its own
// (FLOW_END_TIMEOUT; its close reason when it had closed) and starts the
// tuple anew; a shorter pause, or no split time, keeps one flow. Without
// ring room for the record the two stay one flow, counted as merged.
func TestIdleFlowSplitsOnItsNextPacket(t *testing.T) {
	const sec = uint64(time.Second)
	h := newHarness(t, Config{RingSize: 4096})
	if err := SetIdleSplit(h.s.Maps(), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	t0 := h.ts
	conv := newTCPConv("192.0.2.10", "198.51.100.20", 40000, 80)
	h.runAt(conv.seg(0, event.TCPSyn, 0), t0)
	h.runAt(conv.seg(1, event.TCPSyn|event.TCPAck, 0), t0+sec)
	h.runAt(conv.seg(0, event.TCPAck, 10), t0+sec+59*sec)        // idle 59 s: the same flow
	h.runAt(conv.seg(0, event.TCPAck, 10), t0+sec+59*sec+60*sec) // idle 60 s: a new one
	_, closed, records := h.allEvents()
	if len(closed) != 0 || len(records) != 1 {
		t.Fatalf("%d close hints, %d records; want 0, 1", len(closed), len(records))
	}
	r := records[0]
	want(t, "record reason", uint64(r.Reason), uint64(abi.BpfFlowEndReasonFLOW_END_TIMEOUT))
	want(t, "record packets", uint64(r.Value.Dir[0].Packets+r.Value.Dir[1].Packets), 3)
	want(t, "record first seen", r.Value.FirstSeenNs, t0)
	_, v := h.onlyFlow()
	want(t, "new flow packets", uint64(v.dir[0].Packets+v.dir[1].Packets), 1)
	want(t, "new flow first seen", v.FirstSeenNs, t0+120*sec)
	st := h.stats()
	want(t, "flows_new", st.FlowsNew, 2)
	want(t, "flow_records", st.FlowRecords, 1)

	// A closed flow idle past the split time goes out with its close
	// reason.
	h.clearFlows()
	fin := newTCPConv("192.0.2.11", "198.51.100.20", 40001, 80)
	h.runAt(fin.seg(0, event.TCPSyn, 0), t0)
	h.runAt(fin.seg(0, event.TCPFin|event.TCPAck, 0), t0+sec)
	h.runAt(fin.seg(1, event.TCPFin|event.TCPAck, 0), t0+2*sec)
	h.runAt(fin.seg(0, event.TCPAck, 0), t0+2*sec+61*sec)
	_, closed, records = h.allEvents()
	if len(closed) != 1 || len(records) != 1 {
		t.Fatalf("closed flow: %d close hints, %d records; want 1, 1", len(closed), len(records))
	}
	want(t, "closed flow's record reason", uint64(records[0].Reason), uint64(abi.BpfFlowEndReasonFLOW_END_FIN))

	// No room in the ring: one flow, merged.
	h.clearFlows()
	full := newTCPConv("192.0.2.12", "198.51.100.20", 40002, 80)
	h.runAt(full.seg(0, event.TCPSyn, 0), t0)
	for i := 0; i < 40; i++ { // close hints of other flows fill the ring
		c := newTCPConv(fmt.Sprintf("192.0.2.%d", 100+i), "198.51.100.20", 40000, 23)
		h.runAt(c.seg(0, event.TCPSyn, 0), t0+sec)
		h.runAt(c.seg(1, event.TCPRst|event.TCPAck, 0), t0+sec)
	}
	before := h.stats()
	h.runAt(full.seg(0, event.TCPAck, 0), t0+100*sec)
	st = h.stats()
	want(t, "flows_merged", st.FlowsMerged-before.FlowsMerged, 1)
	want(t, "flows_new", st.FlowsNew-before.FlowsNew, 0)
	h.allEvents() // empty the ring

	// No split time: one flow however long the pause.
	if err := SetIdleSplit(h.s.Maps(), 0); err != nil {
		t.Fatal(err)
	}
	h.clearFlows()
	off := newTCPConv("192.0.2.13", "198.51.100.20", 40003, 80)
	h.runAt(off.seg(0, event.TCPSyn, 0), t0)
	h.runAt(off.seg(0, event.TCPAck, 0), t0+3600*sec)
	_, _, records = h.allEvents()
	if len(records) != 0 {
		t.Errorf("split time 0: %d records, want none", len(records))
	}
	_, v = h.onlyFlow()
	want(t, "unsplit flow packets", uint64(v.dir[0].Packets+v.dir[1].Packets), 2)
}

package loader

import (
	"fmt"
	"testing"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// Address lists are inspected once per flow direction (Suricata's
// IP-only rules); every packet in Snort 2's mode. Thresholds on top.
func TestAlertOncePerFlowDirection(t *testing.T) {
	for _, every := range []bool{false, true} {
		t.Run(fmt.Sprintf("every packet %v", every), func(t *testing.T) {
			h := newHarness(t, Config{})
			l := simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.66")
			// A second rule: the same address as a source.
			l.Rules = append(l.Rules, blocklist.Rule{GID: 1, SID: 2405001, Rev: 1, Msg: "from the list",
				Direction: blocklist.ListedAsSrc, Source: "test:3"})
			l.Entries = append(l.Entries, blocklist.Entry{Prefix: l.Entries[0].Prefix, Rule: 1, Source: "test:4"})
			h.block(l)
			if err := h.s.SetAlertEveryPacket(every); err != nil {
				t.Fatal(err)
			}
			conv := newTCPConv("192.0.2.10", "203.0.113.66", 40000, 6667)
			h.run(conv.seg(0, event.TCPSyn, 0))
			h.run(conv.seg(1, event.TCPSyn|event.TCPAck, 0))
			for i := 0; i < 4; i++ {
				h.run(conv.seg(0, event.TCPAck|event.TCPPsh, 10))
				h.run(conv.seg(1, event.TCPAck, 0))
			}
			alerts, _ := h.events()
			wantAlerts := 2 // one per direction: to the listed host, from it
			if every {
				wantAlerts = 10
			}
			if len(alerts) != wantAlerts {
				t.Fatalf("%d alerts, want %d", len(alerts), wantAlerts)
			}
			// Each alert carries its flow as it stood: the SYN-ACK's
			// alert (from the listed server, HI) after one packet each way.
			a := alerts[1]
			if a.Initiator != 0 || a.Direction != 1 || a.FlowPackets != [2]uint32{1, 1} || a.FlowBytes[1] != uint32(len(conv.seg(1, event.TCPAck, 0))) {
				t.Errorf("second alert: initiator %d direction %d packets %v bytes %v", a.Initiator, a.Direction, a.FlowPackets, a.FlowBytes)
			}
			_, v := h.onlyFlow()
			want(t, "flow alerted", uint64(v.Marks&uint8(abi.BpfListedBitsMARK_ALERTED)), uint64(abi.BpfListedBitsMARK_ALERTED))
			if v.x != nil {
				t.Error("a listed flow made an extension")
			}
		})
	}
}

// A SYN on a tuple whose connection was reset or closed starts a new flow:
// the old one goes out as a record of its own, as Zeek logs a connection
// per attempt and Suricata starts a new flow (tcp_reuse).
func TestSYNOnClosedTupleStartsNewFlow(t *testing.T) {
	h := newHarness(t, Config{})
	for i := 0; i < 3; i++ {
		conv := newTCPConv("192.0.2.10", "198.51.100.20", 40000, 23)
		conv.seq[0] += uint32(i) * 7777 // a new ISN each attempt
		h.run(conv.seg(0, event.TCPSyn, 0))
		h.run(conv.seg(1, event.TCPRst|event.TCPAck, 0))
	}
	_, closed, records := h.allEvents()
	if len(closed) != 3 {
		t.Errorf("%d close hints, want one per rejected attempt", len(closed))
	}
	if len(records) != 2 {
		t.Fatalf("%d records from the ring, want the first two attempts", len(records))
	}
	for i, r := range records {
		want(t, fmt.Sprintf("record %d reason", i), uint64(r.Reason), uint64(abi.BpfFlowEndReasonFLOW_END_RST))
		want(t, fmt.Sprintf("record %d syn", i), uint64(r.Value.Dir[0].Syn), 1)
		want(t, fmt.Sprintf("record %d rst", i), uint64(r.Value.Dir[1].Rst), 1)
		want(t, fmt.Sprintf("record %d packets", i), uint64(r.Value.Dir[0].Packets+r.Value.Dir[1].Packets), 2)
	}
	if records[0].Value.FirstSeenNs == records[1].Value.FirstSeenNs {
		t.Error("the two records are one flow")
	}
	_, v := h.onlyFlow()
	want(t, "third attempt packets", v.dir[0].Packets+v.dir[1].Packets, 2)
	if got := v.history(); got != "Sr" {
		t.Errorf("third attempt history %q, want Sr", got)
	}
	st := h.stats()
	want(t, "flows_new", st.FlowsNew, 3)
	want(t, "flows_reused", st.FlowsReused, 2)
	want(t, "flow_records", st.FlowRecords, 2)

	// Retransmitted SYNs of one attempt stay one flow.
	h.clearFlows()
	syn := newTCPConv("192.0.2.11", "198.51.100.20", 40001, 23).seg(0, event.TCPSyn, 0)
	for i := 0; i < 3; i++ {
		h.run(syn) // the same ISN each time: a retransmission
	}
	if _, v := h.onlyFlow(); v.dir[0].FlagCounts.SYN != 3 || v.history() != "S" {
		t.Errorf("SYN retransmissions: %d SYNs, history %q; want 3 in one flow, S", v.dir[0].FlagCounts.SYN, v.history())
	}
}

// Without ring room for the old flow's record, a new connection on its
// tuple stays in the old flow, counted: merged, never lost.
func TestSYNOnClosedTupleWithFullRingMerges(t *testing.T) {
	h := newHarness(t, Config{RingSize: 4096})
	conv := newTCPConv("192.0.2.10", "198.51.100.20", 40000, 23)
	h.run(conv.seg(0, event.TCPSyn, 0))
	h.run(conv.seg(1, event.TCPRst|event.TCPAck, 0))
	// Fill the ring with close hints of other flows.
	for i := 0; i < 40; i++ {
		c := newTCPConv(fmt.Sprintf("192.0.2.%d", 100+i), "198.51.100.20", 40000, 23)
		h.run(c.seg(0, event.TCPSyn, 0))
		h.run(c.seg(1, event.TCPRst|event.TCPAck, 0))
	}
	before := h.stats()
	conv.seq[0] += 9999
	h.run(conv.seg(0, event.TCPSyn, 0))
	st := h.stats()
	want(t, "flows_merged", st.FlowsMerged-before.FlowsMerged, 1)
	want(t, "flows_new", st.FlowsNew-before.FlowsNew, 0)
	// The client 192.0.2.10:40000 is the flow's LO end (below
	// 198.51.100.20): its SYNs, both attempts', are counted on dir[0].
	found := 0
	for k, v := range h.flows() {
		if k.PortLo == 40000 && k.PortHi == 23 && abi.Addr(k.AddrLo, k.Family).String() == "192.0.2.10" &&
			abi.Addr(k.AddrHi, k.Family).String() == "198.51.100.20" {
			found++
			want(t, "merged flow SYNs", v.dir[0].FlagCounts.SYN, 2)
		}
	}
	if found != 1 {
		t.Errorf("%d flows 192.0.2.10:40000 -> 198.51.100.20:23 in the table, want the merged one", found)
	}
}

// A full table never drops a packet silently: the packet becomes a flow
// record of its own through the ring, and alerts still fire.
func TestFullTableSendsRecords(t *testing.T) {
	const size = 4096
	h := newHarness(t, Config{FlowTableSize: size, RingSize: 4 << 20})
	h.block(simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.66"))
	const extra = 100
	for i := 0; i < size+extra; i++ {
		h.run(frameSpec{v4: &ip4{src: fmt.Sprintf("10.1.%d.%d", i/250, i%250+1), dst: "203.0.113.66", proto: 6},
			l4: tcpSeg{sport: 40000, dport: 6667, flags: event.TCPSyn, win: 1024}}.build())
	}
	alerts, _, records := h.allEvents()
	st := h.stats()
	want(t, "flows_new", st.FlowsNew, size)
	want(t, "flow_table_full", st.FlowTableFull, extra)
	want(t, "records", uint64(len(records)), extra)
	want(t, "flow_records_lost", st.FlowRecordsLost, 0)
	want(t, "alerts (one per flow)", uint64(len(alerts)), size+extra)
	for _, r := range records {
		if r.Reason != uint8(abi.BpfFlowEndReasonFLOW_END_TABLE_FULL) || r.Value.Dir[1].Packets+r.Value.Dir[0].Packets != 1 {
			t.Fatalf("record %+v", r)
		}
	}
	// The alerts of the overflow packets name the records' flows.
	fromRecords := map[uint64]bool{}
	for _, r := range records {
		fromRecords[abi.FlowID(&r.Key, r.Value.FirstSeenNs)] = true
	}
	named := 0
	for _, a := range alerts {
		if fromRecords[abi.FlowID(&a.Key, a.FlowStartNs)] {
			named++
		}
	}
	want(t, "alerts naming a record's flow", uint64(named), extra)

	// A ring too small for the records: each one lost is counted.
	h2 := newHarness(t, Config{FlowTableSize: size, RingSize: 4096})
	for i := 0; i < size+extra; i++ {
		h2.run(frameSpec{v4: &ip4{src: fmt.Sprintf("10.2.%d.%d", i/250, i%250+1), dst: "198.51.100.1", proto: 6},
			l4: tcpSeg{sport: 40000, dport: 80, flags: event.TCPSyn, win: 1024}}.build())
	}
	_, _, records = h2.allEvents()
	st = h2.stats()
	want(t, "records + lost", uint64(len(records))+st.FlowRecordsLost, extra)
	if st.FlowRecordsLost == 0 {
		t.Error("no record lost with a one-page ring")
	}
}

// Narrow counters carry into the flow's extension: any count is exact.
func TestCounterCarries(t *testing.T) {
	h := newHarness(t, Config{})
	conv := newTCPConv("192.0.2.10", "198.51.100.20", 40000, 80)
	const syns, acks = 300, 70000
	for i := 0; i < syns; i++ {
		h.run(conv.seg(0, event.TCPSyn, 0))
	}
	conv.seg(1, event.TCPSyn|event.TCPAck, 0) // not seen: acks follow
	for i := 0; i < acks; i++ {
		h.run(conv.seg(1, event.TCPAck, 0))
	}
	_, v := h.onlyFlow()
	if v.x == nil {
		t.Fatal("no extension after carries")
	}
	lo, hi := v.dir[0], v.dir[1] // 192.0.2.10 is LO
	want(t, "syn", lo.FlagCounts.SYN, syns)
	want(t, "packets", lo.Packets, syns)
	want(t, "acks", hi.FlagCounts.ACK, acks)
	want(t, "ack packets", hi.Packets, acks)
	want(t, "ip bytes", hi.Bytes, acks*40)
	want(t, "extra full", h.stats().FlowExtraFull, 0)
}

// Zeek's history from sequence numbers: T for retransmitted payload, G and
// missed bytes for a hole the peer acknowledged, W for zero windows;
// orig_bytes from the sequence space.
func TestSequenceHistory(t *testing.T) {
	h := newHarness(t, Config{})
	conv := newTCPConv("192.0.2.10", "198.51.100.20", 40000, 80)
	h.run(conv.seg(0, event.TCPSyn, 0))
	h.run(conv.seg(1, event.TCPSyn|event.TCPAck, 0))
	h.run(conv.seg(0, event.TCPAck, 0))
	h.run(conv.seg(0, event.TCPAck|event.TCPPsh, 100))
	// The same 100 bytes again: a retransmission.
	conv.seq[0] -= 100
	h.run(conv.seg(0, event.TCPAck|event.TCPPsh, 100))
	// 50 bytes the sensor never sees, then 30 it does, and the server
	// acknowledges all of it: a content gap of 50.
	conv.seq[0] += 50
	h.run(conv.seg(0, event.TCPAck|event.TCPPsh, 30))
	h.run(conv.seg(1, event.TCPAck, 0))
	// The server advertises a zero window.
	zw := conv.seg(1, event.TCPAck, 0)
	zw[14+20+14], zw[14+20+15] = 0, 0 // the window field
	h.run(zw)
	h.run(conv.seg(0, event.TCPAck|event.TCPFin, 0))
	h.run(conv.seg(1, event.TCPAck|event.TCPFin, 0))

	_, v := h.onlyFlow()
	// The server's pure ACK (a) confirms the gap (G), as in Zeek, where
	// the reassembler reports it while that ACK is processed.
	if got, wantH := v.history(), "ShADTaGwFf"; got != wantH {
		t.Errorf("history %q, want %q", got, wantH)
	}
	lo := v.dir[0]
	want(t, "client payload (sequence space: 100 + 50 missed + 30)", lo.PayloadBytes, 180)
	want(t, "client missed bytes", lo.MissedBytes, 50)
	want(t, "server payload", v.dir[1].PayloadBytes, 0)
}

// ICMP: a request and its reply are one flow keyed by type and
// counterpart; an error is counted in the flow it quotes.
func TestICMPFlows(t *testing.T) {
	h := newHarness(t, Config{})
	h.run(frameSpec{v4: &ip4{src: "192.0.2.10", dst: "198.51.100.20", proto: 1}, l4: icmpMsg{typ: 8, rest: [4]byte{0, 7, 0, 1}}}.build())
	h.run(frameSpec{v4: &ip4{src: "198.51.100.20", dst: "192.0.2.10", proto: 1}, l4: icmpMsg{typ: 0, rest: [4]byte{0, 7, 0, 1}}}.build())
	k, v := h.onlyFlow()
	want(t, "port lo: the request's type", uint64(k.PortLo), 8)
	want(t, "port hi: its counterpart, the reply's", uint64(k.PortHi), 0)
	want(t, "request packets", v.dir[0].Packets, 1)
	want(t, "reply packets", v.dir[1].Packets, 1)

	// A UDP datagram and the port unreachable that answers it.
	h.clearFlows()
	udp := frameSpec{v4: &ip4{src: "192.0.2.10", dst: "198.51.100.20", proto: 17, id: 77}, l4: udpDgram{sport: 5353, dport: 9, payload: []byte("hi")}}.build()
	h.run(udp)
	quote := udp[14 : 14+28] // the IP header and 8 bytes of UDP
	h.run(frameSpec{v4: &ip4{src: "198.51.100.20", dst: "192.0.2.10", proto: 1}, l4: icmpMsg{typ: 3, code: 3, payload: quote}}.build())
	k, v = h.onlyFlow()
	want(t, "the UDP flow", uint64(k.Proto), 17)
	want(t, "datagram", v.dir[0].Packets, 1)
	want(t, "the error, back toward the sender", v.dir[1].Packets, 1)
	want(t, "icmp_errors_quoted", h.stats().IcmpErrorsQuoted, 1)

	// An error quoting nothing the table holds is an ICMP flow of its own,
	// keyed by type and code (Zeek's one-way ICMP).
	h.clearFlows()
	h.run(frameSpec{v4: &ip4{src: "198.51.100.20", dst: "192.0.2.10", proto: 1}, l4: icmpMsg{typ: 3, code: 1, payload: quote}}.build())
	k, _ = h.onlyFlow()
	if k.Proto != 1 || !(k.PortLo == 3 && k.PortHi == 1 || k.PortLo == 1 && k.PortHi == 3) {
		t.Errorf("unanswered error's flow key %+v", k)
	}
}

// A capture cut by its snap length is counted by what was on the wire
// (the replay passes the original length), as Zeek counts it; frame
// bytes are what was captured, as Suricata counts them.
func TestSnapLengthCutFrame(t *testing.T) {
	h := newHarness(t, Config{})
	full := frameSpec{v4: &ip4{src: "192.0.2.10", dst: "198.51.100.20", proto: 6},
		l4: tcpSeg{sport: 40000, dport: 80, flags: event.TCPAck | event.TCPPsh, seq: 1, payload: make([]byte, 1400), win: 100}}.build()
	h.runWire(full[:64], h.ts+1, uint32(len(full)))
	st := h.stats()
	want(t, "malformed", st.MalformedIpLen+st.MalformedL4, 0)
	_, v := h.onlyFlow()
	want(t, "ip bytes", v.dir[0].Bytes, 1440)
	want(t, "frame bytes (captured)", v.dir[0].FrameBytes, 64)
	want(t, "payload", v.dir[0].PayloadBytes, 1400)

	// Without the original length the frame is malformed, as before.
	h.clearFlows()
	h.runWire(full[:64], h.ts+2, 0)
	want(t, "malformed without wire length", h.stats().MalformedIpLen, 1)
}

// Total length 0 (captured before segmentation offload): the frame says.
func TestIPv4TotalLengthZero(t *testing.T) {
	h := newHarness(t, Config{})
	f := frameSpec{v4: &ip4{src: "192.0.2.10", dst: "198.51.100.20", proto: 6},
		l4: tcpSeg{sport: 40000, dport: 80, flags: event.TCPAck, seq: 1, payload: make([]byte, 3000), win: 100}}.build()
	f[14+2], f[14+3] = 0, 0
	h.run(f)
	_, v := h.onlyFlow()
	want(t, "ip bytes from the frame", v.dir[0].Bytes, uint64(len(f)-14))
	want(t, "payload", v.dir[0].PayloadBytes, 3000)
}

// A flow older than the entry's 32-bit microsecond clock keeps its last
// packet's time in its extension.
func TestLongFlow(t *testing.T) {
	h := newHarness(t, Config{})
	conv := newTCPConv("192.0.2.10", "198.51.100.20", 40000, 22)
	start := h.ts
	h.runAt(conv.seg(0, event.TCPSyn, 0), start)
	later := start + 3*3600*1_000_000_000 // three hours
	h.runAt(conv.seg(0, event.TCPSyn, 0), later)
	_, v := h.onlyFlow()
	if v.Marks&uint8(abi.BpfListedBitsMARK_LONG) == 0 || v.x == nil {
		t.Fatalf("no long-flow mark or extension: marks %#x", v.Marks)
	}
	want(t, "last seen", v.x.LastSeenNs, later)
}

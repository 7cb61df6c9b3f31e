package loader

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	ciliumringbuf "github.com/cilium/ebpf/ringbuf"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

func thresholdList(typ, track string, count, seconds uint32) *blocklist.List {
	l := simpleList(blocklist.ListedAsAny, blocklist.NetAny, "203.0.113.66")
	l.Rules[0].Threshold = &blocklist.Threshold{Type: typ, Track: track, Count: count, Seconds: seconds}
	return l
}

func TestThresholds(t *testing.T) {
	h := newHarness(t, Config{})
	syn := func(src string, sport uint16) []byte {
		return frameSpec{v4: &ip4{src: src, dst: "203.0.113.66", proto: 6}, l4: tcpSeg{sport: sport, dport: 6667, flags: event.TCPSyn}}.build()
	}
	synack := func(dst string, dport uint16) []byte {
		return frameSpec{v4: &ip4{src: "203.0.113.66", dst: dst, proto: 6}, l4: tcpSeg{sport: 6667, dport: dport, flags: event.TCPSyn | event.TCPAck}}.build()
	}
	type step struct {
		frame []byte
		after time.Duration // packet time after the first
	}
	cases := []struct {
		name       string
		list       *blocklist.List
		steps      []step
		wantAlerts int
	}{
		{"limit 2 by_src", thresholdList("limit", "by_src", 2, 60), []step{
			{syn("192.0.2.1", 1), 0}, {syn("192.0.2.1", 2), time.Second}, {syn("192.0.2.1", 3), 2 * time.Second},
			{syn("192.0.2.1", 4), 3 * time.Second}, {syn("192.0.2.2", 1), 4 * time.Second}, // another source: its own window
			{syn("192.0.2.1", 5), 61 * time.Second}, // next window
		}, 4},
		{"threshold every 3rd", thresholdList("threshold", "by_src", 3, 60), []step{
			{syn("192.0.2.1", 1), 0}, {syn("192.0.2.1", 2), 1}, {syn("192.0.2.1", 3), 2}, {syn("192.0.2.1", 4), 3},
			{syn("192.0.2.1", 5), 4}, {syn("192.0.2.1", 6), 5}, {syn("192.0.2.1", 7), 6},
		}, 2},
		{"both: once at the 3rd", thresholdList("both", "by_src", 3, 60), []step{
			{syn("192.0.2.1", 1), 0}, {syn("192.0.2.1", 2), 1}, {syn("192.0.2.1", 3), 2}, {syn("192.0.2.1", 4), 3},
			{syn("192.0.2.1", 5), 4}, {syn("192.0.2.1", 6), 5},
		}, 1},
		{"limit 1 by_dst across sources", thresholdList("limit", "by_dst", 1, 60), []step{
			{syn("192.0.2.1", 1), 0}, {syn("192.0.2.2", 1), 1}, {syn("192.0.2.3", 1), 2},
		}, 1},
		{"limit 1 by_src: backscatter storm from one listed source", thresholdList("limit", "by_src", 1, 3600), []step{
			{synack("192.0.2.1", 1024), 0}, {synack("192.0.2.1", 1025), 1}, {synack("192.0.2.2", 3072), 2},
		}, 1},
	}
	base := uint64(time.Date(2007, 3, 20, 18, 0, 0, 0, time.UTC).UnixNano())
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			h.clearFlows()
			h.block(c.list)
			before := h.stats()
			start := base + uint64(i)*uint64(24*time.Hour)
			for _, s := range c.steps {
				h.runAt(s.frame, start+uint64(s.after))
			}
			alerts, _ := h.events()
			st := h.stats()
			if len(alerts) != c.wantAlerts {
				t.Fatalf("%d alerts, want %d", len(alerts), c.wantAlerts)
			}
			want(t, "matches", st.Matches-before.Matches, uint64(len(c.steps)))
			want(t, "suppressed", st.AlertsSuppressed-before.AlertsSuppressed, uint64(len(c.steps)-c.wantAlerts))
			want(t, "flows", st.FlowsNew-before.FlowsNew, uint64(len(c.steps)))
			alerted := 0
			for _, v := range h.flows() {
				if v.Marks&uint8(abi.BpfListedBitsMARK_ALERTED) != 0 {
					alerted++
				}
			}
			want(t, "flows marked alerted", uint64(alerted), uint64(c.wantAlerts))
		})
	}
}

// The thresholds table is a plain hash the kernel never evicts from: a
// match whose window finds no room alerts untracked, counted, and the
// windows it holds keep counting.
func TestThresholdTableFull(t *testing.T) {
	const size = 4
	h := newHarness(t, Config{ThresholdTableSize: size})
	syn := func(src string, sport uint16) []byte {
		return frameSpec{v4: &ip4{src: src, dst: "203.0.113.66", proto: 6}, l4: tcpSeg{sport: sport, dport: 6667, flags: event.TCPSyn}}.build()
	}
	src := func(i int) string { return fmt.Sprintf("192.0.2.%d", i) }
	windows := func() int {
		var k abi.BpfThresholdKey
		var v abi.BpfThresholdState
		n := 0
		it := h.s.Objects.Thresholds.Iterate()
		for it.Next(&k, &v) {
			n++
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Each case starts from an empty table.
	emptyThresholds := func(t *testing.T) {
		var k abi.BpfThresholdKey
		for h.s.Objects.Thresholds.NextKey(nil, &k) == nil {
			if err := h.s.Objects.Thresholds.Delete(&k); err != nil {
				t.Fatal(err)
			}
		}
	}
	base := uint64(time.Date(2007, 3, 20, 18, 0, 0, 0, time.UTC).UnixNano())
	cases := []struct {
		name string
		list *blocklist.List
		// alerts of the first match of each of size+2 sources: the last
		// two find the table full
		firstAlerts int
	}{
		{"limit 1: untracked matches alert", thresholdList("limit", "by_src", 1, 3600), size + 2},
		{"every 3rd: untracked matches alert", thresholdList("threshold", "by_src", 3, 3600), 2},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			h.clearFlows()
			h.block(c.list)
			emptyThresholds(t)
			start := base + uint64(i)*uint64(24*time.Hour)
			before := h.stats()
			for s := 1; s <= size+2; s++ {
				h.runAt(syn(src(s), 1), start+uint64(s))
			}
			alerts, _ := h.events()
			st := h.stats()
			if len(alerts) != c.firstAlerts {
				t.Fatalf("%d alerts, want %d", len(alerts), c.firstAlerts)
			}
			want(t, "thresholds_full", st.ThresholdsFull-before.ThresholdsFull, 2)
			want(t, "suppressed", st.AlertsSuppressed-before.AlertsSuppressed, uint64(size+2-c.firstAlerts))
			want(t, "windows", uint64(windows()), size)
			for _, a := range alerts[len(alerts)-2:] {
				if got := netip.AddrFrom4([4]byte(a.Pkt.Src[:4])).String(); got != src(size+1) && got != src(size+2) {
					t.Errorf("an alert from %s, want the untracked sources last", got)
				}
			}
		})
	}
	t.Run("tracked windows count on, ended ones restart in place", func(t *testing.T) {
		h.t = t
		h.clearFlows()
		h.block(thresholdList("limit", "by_src", 1, 3600))
		emptyThresholds(t)
		start := base + 10*uint64(24*time.Hour)
		for s := 1; s <= size; s++ {
			h.runAt(syn(src(s), 1), start+uint64(s))
		}
		h.events()
		before := h.stats()
		h.runAt(syn(src(1), 2), start+uint64(time.Second))      // its window holds: suppressed
		h.runAt(syn(src(size+1), 2), start+uint64(time.Second)) // no room: alerts, counted
		h.runAt(syn(src(2), 3), start+uint64(3601*time.Second)) // its window ended: restarts in place, alerts
		h.runAt(syn(src(2), 4), start+uint64(3602*time.Second)) // and holds again
		alerts, _ := h.events()
		st := h.stats()
		want(t, "alerts", uint64(len(alerts)), 2)
		want(t, "suppressed", st.AlertsSuppressed-before.AlertsSuppressed, 2)
		want(t, "thresholds_full", st.ThresholdsFull-before.ThresholdsFull, 1)
		want(t, "windows", uint64(windows()), size)
	})
}

func TestHistoryLetters(t *testing.T) {
	h := newHarness(t, Config{})
	c, s := "192.0.2.10", "198.51.100.20" // c sorts lower: LO
	seg := func(src, dst string, sp, dp uint16, flags uint8, payload int, win uint16) []byte {
		return frameSpec{v4: &ip4{src: src, dst: dst, proto: 6}, l4: tcpSeg{sport: sp, dport: dp, flags: flags, win: win, payload: make([]byte, payload)}}.build()
	}
	cases := []struct {
		name    string
		packets [][]byte
		want    string
	}{
		{"full session", [][]byte{
			seg(c, s, 1000, 80, event.TCPSyn, 0, 100), seg(s, c, 80, 1000, event.TCPSyn|event.TCPAck, 0, 100),
			seg(c, s, 1000, 80, event.TCPAck, 0, 100), seg(c, s, 1000, 80, event.TCPAck|event.TCPPsh, 10, 100),
			seg(s, c, 80, 1000, event.TCPAck, 0, 100), seg(s, c, 80, 1000, event.TCPAck|event.TCPPsh, 10, 100),
			seg(c, s, 1000, 80, event.TCPAck|event.TCPFin, 0, 100), seg(s, c, 80, 1000, event.TCPAck|event.TCPFin, 0, 100),
			seg(c, s, 1000, 80, event.TCPAck, 0, 100),
		}, "ShADadFf"},
		{"backscatter: SYN-ACK answered by RST", [][]byte{
			seg(s, c, 6667, 1024, event.TCPSyn|event.TCPAck, 0, 2048), seg(c, s, 1024, 6667, event.TCPRst, 0, 0),
		}, "hR"},
		{"unanswered SYNs", [][]byte{
			seg(c, s, 2253, 6667, event.TCPSyn, 0, 100), seg(c, s, 2253, 6667, event.TCPSyn, 0, 100), seg(c, s, 2253, 6667, event.TCPSyn, 0, 100),
		}, "S"},
		{"SYN+FIN is Q", [][]byte{seg(c, s, 1, 2, event.TCPSyn|event.TCPFin, 0, 100)}, "Q"},
		{"zero windows repeat at 1 and 10", func() [][]byte {
			p := [][]byte{seg(c, s, 5, 6, event.TCPSyn, 0, 100), seg(s, c, 6, 5, event.TCPSyn|event.TCPAck, 0, 100)}
			for i := 0; i < 12; i++ {
				p = append(p, seg(s, c, 6, 5, event.TCPAck, 0, 0))
			}
			return p
		}(), "Shaww"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			h.clearFlows()
			for _, p := range tc.packets {
				h.run(p)
			}
			_, v := h.onlyFlow()
			got := v.history()
			if got != tc.want {
				t.Fatalf("history %q (LO upper, HI lower), want %q", got, tc.want)
			}
		})
	}
}

func readCapture(t *testing.T, rd *ciliumringbuf.Reader) (hdrs []abi.BpfCaptureRecord, frames [][]byte) {
	t.Helper()
	rd.SetDeadline(time.Now().Add(10 * time.Millisecond))
	for {
		rec, err := rd.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		hdr, frame, err := abi.ParseCaptureRecord(rec.RawSample)
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, *hdr)
		frames = append(frames, append([]byte(nil), frame...))
	}
}

func TestCapture(t *testing.T) {
	h := newHarness(t, Config{CaptureRingSize: 1 << 20})
	rd, err := ciliumringbuf.NewReader(h.s.Objects.Capture)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	h.block(simpleList(blocklist.ListedAsDst, blocklist.NetAny, "193.109.122.67"))
	listedSynack := frameSpec{v4: &ip4{src: "193.109.122.67", dst: "69.143.202.28", proto: 6}, l4: tcpSeg{sport: 6667, dport: 1024, flags: event.TCPSyn | event.TCPAck, win: 2048}}.build()
	listedRst := frameSpec{v4: &ip4{src: "69.143.202.28", dst: "193.109.122.67", proto: 6}, l4: tcpSeg{sport: 1024, dport: 6667, flags: event.TCPRst}}.build()
	benign := frameSpec{v4: &ip4{src: "192.0.2.1", dst: "198.51.100.1", proto: 17}, l4: udpDgram{sport: 5, dport: 53, payload: make([]byte, 400)}}.build()

	t.Run("listed: the flow from its first packet, nothing else", func(t *testing.T) {
		h.t = t
		h.clearFlows()
		if err := h.s.SetCapture(CaptureSettings{Mode: CaptureListed}); err != nil {
			t.Fatal(err)
		}
		h.run(listedSynack) // no alert (the rule wants the listed address as destination), still captured
		h.run(benign)
		h.run(listedRst)
		hdrs, frames := readCapture(t, rd)
		if len(frames) != 2 || string(frames[0]) != string(listedSynack) || string(frames[1]) != string(listedRst) {
			t.Fatalf("captured %d frames, want the SYN-ACK and the RST byte for byte", len(frames))
		}
		if hdrs[0].FlowStartNs == 0 || hdrs[0].FlowStartNs != hdrs[1].FlowStartNs || hdrs[0].Listed == 0 || hdrs[0].FrameLen != uint32(len(listedSynack)) {
			t.Fatalf("headers %+v", hdrs)
		}
		if hdrs[0].TsNs >= hdrs[1].TsNs {
			t.Fatalf("timestamps %d, %d", hdrs[0].TsNs, hdrs[1].TsNs)
		}
	})
	t.Run("all with snaplen", func(t *testing.T) {
		h.t = t
		h.clearFlows()
		if err := h.s.SetCapture(CaptureSettings{Mode: CaptureAll, Snaplen: 64}); err != nil {
			t.Fatal(err)
		}
		before := h.stats()
		h.run(benign)
		hdrs, frames := readCapture(t, rd)
		if len(frames) != 1 || len(frames[0]) != 64 || hdrs[0].FrameLen != uint32(len(benign)) || string(frames[0]) != string(benign[:64]) {
			t.Fatalf("captured %d frames (first %d bytes)", len(frames), len(frames[0]))
		}
		st := h.stats()
		want(t, "capture_packets", st.CapturePackets-before.CapturePackets, 1)
		want(t, "capture_bytes", st.CaptureBytes-before.CaptureBytes, 64)
	})
	t.Run("per-flow budget", func(t *testing.T) {
		h.t = t
		h.clearFlows()
		if err := h.s.SetCapture(CaptureSettings{Mode: CaptureAll, FlowBytes: uint64(2 * len(benign))}); err != nil {
			t.Fatal(err)
		}
		before := h.stats()
		for i := 0; i < 5; i++ {
			h.run(benign)
		}
		_, frames := readCapture(t, rd)
		st := h.stats()
		if len(frames) != 2 {
			t.Fatalf("captured %d frames of the flow, want 2 within its budget", len(frames))
		}
		want(t, "capture_capped", st.CaptureCapped-before.CaptureCapped, 3)
		_, v := h.onlyFlow()
		want(t, "flow frame bytes", v.dir[0].FrameBytes, uint64(5*len(benign)))
		want(t, "flow packets still counted", v.dir[0].Packets, 5)
	})
	t.Run("full ring: lost counted", func(t *testing.T) {
		h.t = t
		h.clearFlows()
		if err := h.s.SetCapture(CaptureSettings{Mode: CaptureAll}); err != nil {
			t.Fatal(err)
		}
		before := h.stats()
		const n = 3000 // ~1.4 MB into a 1 MB ring
		for i := 0; i < n; i++ {
			h.run(benign)
		}
		_, frames := readCapture(t, rd)
		st := h.stats()
		lost := st.CaptureLost - before.CaptureLost
		if lost == 0 || uint64(len(frames))+lost != n {
			t.Fatalf("%d frames read + %d lost, want %d", len(frames), lost, n)
		}
		want(t, "capture_packets", st.CapturePackets-before.CapturePackets, uint64(len(frames)))
	})
	t.Run("none", func(t *testing.T) {
		h.t = t
		if err := h.s.SetCapture(CaptureSettings{Mode: CaptureNone}); err != nil {
			t.Fatal(err)
		}
		h.run(listedSynack)
		if _, frames := readCapture(t, rd); len(frames) != 0 {
			t.Fatalf("captured %d frames with capture off", len(frames))
		}
	})
}

// The capture budget counts a flow's frame bytes in full: past 4 GiB a
// direction's 32-bit counter wraps into the flow's extension, and the
// budget must not start over. 4 GiB cannot be sent here: the flow's
// counters are set through the map as the kernel leaves them.
func TestCaptureBudgetPastFourGiB(t *testing.T) {
	h := newHarness(t, Config{CaptureRingSize: 1 << 20})
	rd, err := ciliumringbuf.NewReader(h.s.Objects.Capture)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	benign := frameSpec{v4: &ip4{src: "192.0.2.1", dst: "198.51.100.1", proto: 17}, l4: udpDgram{sport: 5, dport: 53, payload: make([]byte, 400)}}.build()
	frame := uint64(len(benign))
	capped := uint8(abi.BpfFlowStateBitsSTATE_CAPTURE_CAPPED)
	// start runs the flow's first packet (captured) and returns its key,
	// its entry and the sending side.
	start := func(t *testing.T, budget uint64) (abi.BpfFlowKey, abi.BpfFlowValue, int) {
		h.t = t
		h.clearFlows()
		if err := h.s.SetCapture(CaptureSettings{Mode: CaptureAll, FlowBytes: budget}); err != nil {
			t.Fatal(err)
		}
		readCapture(t, rd)
		h.run(benign)
		if _, frames := readCapture(t, rd); len(frames) != 1 {
			t.Fatalf("captured %d frames of the first packet, want 1", len(frames))
		}
		k, e := h.onlyFlow()
		side := 0
		if e.Dir[1].Packets > 0 {
			side = 1
		}
		return k, e.BpfFlowValue, side
	}
	put := func(t *testing.T, k abi.BpfFlowKey, v abi.BpfFlowValue) {
		ck := abi.FlowKeyV4(&k)
		if err := h.s.Objects.FlowsV4.Update(&ck, &v, ebpf.UpdateExist); err != nil {
			t.Fatalf("writing the flow's counters: %v", err)
		}
	}
	// run sends n more packets and returns how many were captured and
	// how many capped.
	run := func(t *testing.T, n int) (captured, cappedN uint64) {
		before := h.stats()
		for i := 0; i < n; i++ {
			h.run(benign)
		}
		_, frames := readCapture(t, rd)
		st := h.stats()
		want(t, "capture_packets", st.CapturePackets-before.CapturePackets, uint64(len(frames)))
		return uint64(len(frames)), st.CaptureCapped - before.CaptureCapped
	}

	t.Run("the counter wraps after the budget is spent", func(t *testing.T) {
		budget := 10 * frame
		k, v, side := start(t, budget)
		// One packet short of the wrap: the next is over budget, the one
		// after wraps the counter (the kernel carries into the extension).
		v.Dir[side].FrameBytes = uint32(1<<32 - frame - 1)
		put(t, k, v)
		captured, cappedN := run(t, 6)
		want(t, "captured after the budget", captured, 0)
		want(t, "capture_capped", cappedN, 6)
		_, e := h.onlyFlow()
		want(t, "capture-capped mark", uint64(e.State&capped), uint64(capped))
		if e.x == nil {
			t.Fatal("the wrap made no extension")
		}
		want(t, "frame bytes high word", uint64(e.x.Dir[side].FrameBytesHi), 1)
		want(t, "frame bytes", e.dir[side].FrameBytes, 1<<32-frame-1+6*frame)
	})
	t.Run("a budget past 4 GiB counts the wrapped part", func(t *testing.T) {
		budget := 1<<32 + 3*frame
		k, v, side := start(t, budget)
		// 4 GiB went by: the counter wrapped once into the extension.
		var x abi.BpfFlowExtra
		x.Dir[side].FrameBytesHi = 1
		ek := abi.BpfFlowExtraKey{Key: k, FirstSeenNs: v.FirstSeenNs}
		if err := h.s.Objects.FlowExtras.Update(&ek, &x, ebpf.UpdateNoExist); err != nil {
			t.Fatalf("writing the flow's extension: %v", err)
		}
		v.State |= uint8(abi.BpfFlowStateBitsSTATE_EXTRA)
		put(t, k, v)
		// 4 GiB + 2, 3 frames are within the budget; + 4, 5 are not.
		captured, cappedN := run(t, 4)
		want(t, "captured within the budget", captured, 2)
		want(t, "capture_capped", cappedN, 2)
		_, e := h.onlyFlow()
		want(t, "capture-capped mark", uint64(e.State&capped), uint64(capped))
		want(t, "frame bytes", e.dir[side].FrameBytes, 1<<32+5*frame)
	})
}

// Host mode: what the host sends goes through the TC program, what it
// receives through XDP, and both land in one flow.
func TestEgressProgramSharesTheFlowTable(t *testing.T) {
	h := newHarness(t, Config{})
	egress, err := h.s.LoadEgress()
	if err != nil {
		t.Fatalf("%+v", err)
	}
	h.block(simpleList(blocklist.ListedAsDst, blocklist.NetAny, "193.109.122.67"))
	// The backscatter seed on a host: the SYN-ACK arrives (XDP), the RST
	// leaves (TC egress).
	synack := frameSpec{v4: &ip4{src: "193.109.122.67", dst: "69.143.202.28", proto: 6}, l4: tcpSeg{sport: 6667, dport: 1024, flags: event.TCPSyn | event.TCPAck}}.build()
	rst := frameSpec{v4: &ip4{src: "69.143.202.28", dst: "193.109.122.67", proto: 6}, l4: tcpSeg{sport: 1024, dport: 6667, flags: event.TCPRst}}.build()
	h.run(synack)
	ret, err := egress.Run(&ebpf.RunOptions{Data: rst})
	if err != nil {
		t.Fatal(err)
	}
	if ret != 0 { // TC_ACT_OK
		t.Fatalf("egress verdict %d, want TC_ACT_OK", ret)
	}
	_, v := h.onlyFlow()
	// 69.143.202.28 sorts lower: LO.
	if v.dir[0].FlagCounts.RST != 1 || v.dir[1].FlagCounts.SYNACK != 1 || v.initiator() != 1 {
		t.Fatalf("flow %+v", v)
	}
	alerts, closed := h.events()
	if len(alerts) != 1 || alerts[0].Pkt.TcpFlags != event.TCPRst {
		t.Fatalf("alerts %+v", alerts)
	}
	if len(closed) != 1 {
		t.Fatalf("%d closed events, want the RST's", len(closed))
	}
}

package loader

import (
	"testing"

	ciliumringbuf "github.com/cilium/ebpf/ringbuf"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// A replayed frame its capture cut short keeps its wire length in the
// evidence: the alert's frame length and the captured record's original
// length (the pcap's orig_len), not the bytes the program holds.
func TestSnapCutFrameKeepsItsWireLength(t *testing.T) {
	h := newHarness(t, Config{CaptureRingSize: 1 << 20})
	rd, err := ciliumringbuf.NewReader(h.s.Objects.Capture)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	h.block(simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.66"))
	if err := h.s.SetCapture(CaptureSettings{Mode: CaptureListed}); err != nil {
		t.Fatal(err)
	}
	full := frameSpec{v4: &ip4{src: "192.0.2.10", dst: "203.0.113.66", proto: 6},
		l4: tcpSeg{sport: 40000, dport: 80, flags: event.TCPAck | event.TCPPsh, seq: 1, payload: make([]byte, 1400), win: 100}}.build()
	h.runWire(full[:64], h.ts+1, uint32(len(full)))
	alerts, _ := h.events()
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1", len(alerts))
	}
	want(t, "alert frame length (wire)", uint64(alerts[0].FrameLen), uint64(len(full)))
	want(t, "alert snapshot (held)", uint64(alerts[0].CapLen), 64)
	hdrs, frames := readCapture(t, rd)
	if len(hdrs) != 1 {
		t.Fatalf("%d frames captured, want 1", len(hdrs))
	}
	want(t, "captured original length (wire)", uint64(hdrs[0].FrameLen), uint64(len(full)))
	want(t, "captured bytes", uint64(len(frames[0])), 64)
}

// A tunneled flow listed only by its tunnel's outer addresses is a listed
// flow for `--capture listed`: its outer alert names the inner flow and
// looks for this frame.
func TestOuterListedTunnelFlowIsCaptured(t *testing.T) {
	h := newHarness(t, Config{CaptureRingSize: 1 << 20})
	rd, err := ciliumringbuf.NewReader(h.s.Objects.Capture)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	h.block(simpleList(blocklist.ListedAsAny, blocklist.NetAny, vtepB))
	if err := h.s.SetCapture(CaptureSettings{Mode: CaptureListed}); err != nil {
		t.Fatal(err)
	}
	in := frameSpec{v4: &ip4{src: "10.0.0.1", dst: "10.0.0.2", proto: 17}, l4: udpDgram{sport: 53000, dport: 53}}.build()
	tunneled := ethFrame(0x0800, nil, outer4(vtepA, vtepB, 17, udpBytes(51000, 4789, vxlan(9, in))))
	h.run(tunneled)
	k, _ := h.onlyFlow()
	alerts, _ := h.events()
	if len(alerts) != 1 || alerts[0].Key != k {
		t.Fatalf("%d alerts, want 1 on the inner flow", len(alerts))
	}
	hdrs, frames := readCapture(t, rd)
	if len(hdrs) != 1 || string(frames[0]) != string(tunneled) {
		t.Fatalf("%d frames captured, want the tunneled frame", len(hdrs))
	}
	if hdrs[0].Key != k || hdrs[0].Listed == 0 || hdrs[0].TsNs != alerts[0].TsNs || hdrs[0].Direction != alerts[0].Direction {
		t.Fatalf("captured header %+v does not name the alert's frame (alert key %+v ts %d direction %d)", hdrs[0], alerts[0].Key, alerts[0].TsNs, alerts[0].Direction)
	}
}

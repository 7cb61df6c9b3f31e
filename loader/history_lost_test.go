package loader

import (
	"strings"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/flowtable"
)

// historyRoom is FLOW_HISTORY_HOT + FLOW_HISTORY_EXTRA: the letters the
// kernel keeps for a flow.
const historyRoom = 12 + 28

// decodeFlow is the session record the daemon writes for a flow entry.
func decodeFlow(k abi.BpfFlowKey, e *flowEntry) *event.Flow {
	d := &flowtable.Decoder{Clock: func(ns uint64) time.Time { return time.Unix(0, int64(ns)) }}
	return d.Flow(&k, &e.BpfFlowValue, e.x, event.EndRST)
}

// resetStorm sends n RSTs from side, each at a new sequence number: Zeek
// writes R again for each (and so does the kernel).
func resetStorm(h *harness, conv *tcpConv, side, n int) {
	for i := 0; i < n; i++ {
		conv.seq[side]++
		h.run(conv.seg(side, event.TCPRst, 0))
	}
}

// A history longer than the kernel's room: the letters past it are
// counted in the extension, and the decoded flow says how many.
func TestHistoryPastTheExtensionIsCounted(t *testing.T) {
	h := newHarness(t, Config{})
	conv := newTCPConv("192.0.2.10", "198.51.100.20", 40000, 80) // the client is LO
	h.run(conv.seg(0, event.TCPSyn, 0))
	h.run(conv.seg(1, event.TCPSyn|event.TCPAck, 0))
	h.run(conv.seg(0, event.TCPAck, 0))
	resetStorm(h, conv, 0, 45) // 3 + 45 = 48 letters: 8 past the room

	k, v := h.onlyFlow()
	wantH := "ShA" + strings.Repeat("R", historyRoom-3)
	if got := v.history(); got != wantH {
		t.Errorf("history %q, want %q", got, wantH)
	}
	if v.x == nil {
		t.Fatal("no extension: the letters past the entry's 12 have nowhere to be")
	}
	want(t, "extension's history_lost", uint64(v.x.HistoryLost), 8)
	f := decodeFlow(k, v)
	if f.History != wantH {
		t.Errorf("decoded history %q, want %q", f.History, wantH)
	}
	want(t, "decoded HistoryLost", f.HistoryLost, 8)
	want(t, "flow_extra_full", h.stats().FlowExtraFull, 0)
}

// The logarithmic letters past 255 events (T, W, G at 1000, 10000...) come
// from the extension's high counter words: one that finds the history
// full is counted too, one that finds room is kept. The flow's counters
// are written through the maps to 999 retransmissions (3 * 256 + 231),
// then the 1000th comes as a packet.
func TestHistoryThousandthRetransmissionPastTheRoom(t *testing.T) {
	for _, tc := range []struct {
		name   string
		resets int // the server's: "ShAD" and this many r
		wantH  string
		lost   uint64
	}{
		{"room for one more", historyRoom - 5, "ShAD" + strings.Repeat("r", historyRoom-5) + "T", 0},
		{"full", historyRoom - 4, "ShAD" + strings.Repeat("r", historyRoom-4), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			conv := newTCPConv("192.0.2.10", "198.51.100.20", 40000, 80)
			h.run(conv.seg(0, event.TCPSyn, 0))
			h.run(conv.seg(1, event.TCPSyn|event.TCPAck, 0))
			h.run(conv.seg(0, event.TCPAck, 0))
			h.run(conv.seg(0, event.TCPAck|event.TCPPsh, 100))
			resetStorm(h, conv, 1, tc.resets)

			k, v := h.onlyFlow()
			if v.x == nil {
				t.Fatal("no extension")
			}
			v.Dir[0].Rxmit = 231
			ck := abi.FlowKeyV4(&k)
			if err := h.s.Objects.FlowsV4.Put(&ck, &v.BpfFlowValue); err != nil {
				t.Fatal(err)
			}
			v.x.Dir[0].RxmitHi = 3
			ek := abi.BpfFlowExtraKey{Key: k, FirstSeenNs: v.FirstSeenNs}
			if err := h.s.Objects.FlowExtras.Put(&ek, v.x); err != nil {
				t.Fatal(err)
			}
			// The client sends its 100 bytes again: retransmission 1000.
			conv.seq[0] -= 100
			h.run(conv.seg(0, event.TCPAck|event.TCPPsh, 100))

			k, v = h.onlyFlow()
			want(t, "client retransmissions", uint64(v.x.Dir[0].RxmitHi)<<8|uint64(v.Dir[0].Rxmit), 1000)
			f := decodeFlow(k, v)
			if f.History != tc.wantH {
				t.Errorf("history %q, want %q", f.History, tc.wantH)
			}
			want(t, "extension's history_lost", uint64(v.x.HistoryLost), tc.lost)
			want(t, "decoded HistoryLost", f.HistoryLost, tc.lost)
		})
	}
}

// With the extension map full, the letters past the entry's 12 have
// nowhere to go: each is counted in its sender's direction of the entry
// (saturating at 255), and in flow_extra_full (one failed extension per
// letter), and the decoded flow says how many.
func TestHistoryWithoutAnExtensionIsCounted(t *testing.T) {
	h := newHarness(t, Config{FlowExtraSize: 1})
	// Another flow's extension takes the map's one place.
	if err := h.s.Objects.FlowExtras.Put(&abi.BpfFlowExtraKey{FirstSeenNs: 1}, &abi.BpfFlowExtra{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		port    uint16
		resets  int
		dropped uint64
	}{
		{40000, 45, 3 + 45 - 12},
		{40001, 300, 255}, // 291: the entry's count saturates
	} {
		conv := newTCPConv("192.0.2.10", "198.51.100.20", tc.port, 80)
		h.run(conv.seg(0, event.TCPSyn, 0))
		h.run(conv.seg(1, event.TCPSyn|event.TCPAck, 0))
		h.run(conv.seg(0, event.TCPAck, 0))
		resetStorm(h, conv, 0, tc.resets)
	}
	// One failed extension for each letter dropped, and for each of the
	// second flow's RSTs from the 256th on (its 8-bit RST count wraps and
	// finds no extension to carry into: it stays at 255).
	want(t, "flow_extra_full", h.stats().FlowExtraFull, (3+45-12)+(3+300-12)+(300-255))

	fl := h.flows()
	if len(fl) != 2 {
		t.Fatalf("%d flows, want 2", len(fl))
	}
	for k, v := range fl {
		wantDropped := uint64(3 + 45 - 12)
		if k.PortLo == 40001 {
			wantDropped = 255
		}
		if v.x != nil {
			t.Errorf("port %d: an extension in a full map", k.PortLo)
		}
		wantH := "ShA" + strings.Repeat("R", 12-3)
		if got := v.history(); got != wantH {
			t.Errorf("port %d: history %q, want %q", k.PortLo, got, wantH)
		}
		want(t, "client's history_dropped", uint64(v.Dir[0].HistoryDropped), wantDropped)
		want(t, "server's history_dropped", uint64(v.Dir[1].HistoryDropped), 0)
		f := decodeFlow(k, v)
		if f.History != wantH {
			t.Errorf("port %d: decoded history %q, want %q", k.PortLo, f.History, wantH)
		}
		want(t, "decoded HistoryLost", f.HistoryLost, wantDropped)
	}
}

// T, W and G are written at a side's 1st, 10th, 100th, 1000th... event,
// as Zeek scales them, also past the 255 the entry's narrow counters
// hold: 300 retransmissions are three T (not five: the narrow count is 1
// and 10 again at the 257th and the 266th), 1000 zero windows four w.
func TestHistoryScaledLettersPastTheNarrowCount(t *testing.T) {
	h := newHarness(t, Config{})
	conv := newTCPConv("192.0.2.10", "198.51.100.20", 40000, 80)
	h.run(conv.seg(0, event.TCPSyn, 0))
	h.run(conv.seg(1, event.TCPSyn|event.TCPAck, 0))
	h.run(conv.seg(0, event.TCPAck, 0))
	h.run(conv.seg(0, event.TCPAck|event.TCPPsh, 100))
	for i := 0; i < 300; i++ {
		conv.seq[0] -= 100
		h.run(conv.seg(0, event.TCPAck|event.TCPPsh, 100))
	}
	for i := 0; i < 1000; i++ {
		zw := conv.seg(1, event.TCPAck, 0)
		zw[14+20+14], zw[14+20+15] = 0, 0 // the window field
		h.run(zw)
	}
	k, v := h.onlyFlow()
	if v.x == nil {
		t.Fatal("no extension after counters wrapped")
	}
	want(t, "client retransmissions", uint64(v.x.Dir[0].RxmitHi)<<8|uint64(v.Dir[0].Rxmit), 300)
	want(t, "server zero windows", uint64(v.x.Dir[1].ZeroWinHi)<<8|uint64(v.Dir[1].ZeroWin), 1000)
	f := decodeFlow(k, v)
	if wantH := "ShADTTTawwww"; f.History != wantH {
		t.Errorf("history %q, want %q", f.History, wantH)
	}
	want(t, "history lost", f.HistoryLost, 0)
}

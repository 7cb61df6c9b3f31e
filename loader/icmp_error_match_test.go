package loader

import (
	"net/netip"
	"testing"

	ciliumringbuf "github.com/cilium/ebpf/ringbuf"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
)

// An ICMP error is counted in the flow it quotes, but its alert follows
// its own addresses: from the quoted packet's destination it is that end
// answering (the flow's listing applies); from a router on the path it is
// matched on the router's address and ours, as Suricata's IP-only rules
// see the packet. A listed flow must not make an unlisted router's error
// an alert naming it as listed.
func TestICMPErrorMatchedOnItsOwnAddresses(t *testing.T) {
	const host, cc, router = "198.51.100.10", "203.0.113.66", "203.0.113.1"
	addr := func(b [16]byte) string { return netip.AddrFrom4([4]byte(b[:4])).String() }
	type alert struct {
		src, dst string
		proto    uint8
		listed   uint8
		hasFlow  bool
	}
	src, dst := uint8(abi.BpfRuleDirectionRULE_LISTED_SRC), uint8(abi.BpfRuleDirectionRULE_LISTED_DST)
	for _, c := range []struct {
		name       string
		listed     string // the one address listed
		from       string // the error's source
		udp        bool   // the quoted packet: a UDP datagram, else a SYN
		thirdParty uint64
		want       []alert
		captured   int // frames in the capture ring (--capture listed), each once
	}{
		// The C&C case: our SYN to a listed server, a host unreachable
		// from the last router. One alert, our SYN's.
		{name: "router answers a listed flow", listed: cc, from: router, thirdParty: 1,
			want: []alert{{host, cc, 6, dst, true}}, captured: 2},
		// The router itself is listed: its error alerts, on its own
		// addresses, outside any flow's inspection.
		{name: "listed router answers an unlisted flow", listed: router, from: router, thirdParty: 1,
			want: []alert{{router, host, 1, src, false}}, captured: 1},
		// The listed server answers our datagram with port unreachable:
		// the flow's first packet toward us, from the listed end.
		{name: "listed end answers", listed: cc, from: cc, udp: true,
			want: []alert{{host, cc, 17, dst, true}, {cc, host, 1, src, true}}, captured: 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Config{CaptureRingSize: 1 << 20})
			rd, err := ciliumringbuf.NewReader(h.s.Objects.Capture)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			h.block(simpleList(blocklist.ListedAsAny, blocklist.NetAny, c.listed))
			if err := h.s.SetCapture(CaptureSettings{Mode: CaptureListed}); err != nil {
				t.Fatal(err)
			}
			quotedDst := cc
			if c.listed == router {
				quotedDst = "203.0.113.99"
			}
			var seg l4 = tcpSeg{sport: 40000, dport: 443, flags: 0x02}
			proto := uint8(6)
			if c.udp {
				seg, proto = udpDgram{sport: 40000, dport: 53, payload: []byte("q")}, 17
			}
			sent := frameSpec{v4: &ip4{src: host, dst: quotedDst, proto: proto, id: 5}, l4: seg}.build()
			h.run(sent)
			quote := sent[14 : 14+28]
			h.run(frameSpec{v4: &ip4{src: c.from, dst: host, proto: 1}, l4: icmpMsg{typ: 3, code: 1, payload: quote}}.build())

			alerts, _ := h.events()
			var got []alert
			for _, a := range alerts {
				got = append(got, alert{addr(a.Pkt.Src), addr(a.Pkt.Dst), a.Pkt.Proto, a.Listed, a.HasFlow != 0})
			}
			if len(got) != len(c.want) {
				t.Fatalf("alerts %+v, want %+v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("alert %d: %+v, want %+v", i, got[i], c.want[i])
				}
			}
			// Every alert's frame is in the capture under the key and
			// direction the alert names (where the daemon looks for it).
			hdrs, _ := readCapture(t, rd)
			if len(hdrs) != c.captured {
				t.Errorf("%d frames captured, want %d", len(hdrs), c.captured)
			}
			for i, a := range alerts {
				n := 0
				for _, hd := range hdrs {
					if hd.TsNs == a.TsNs && hd.Key == a.Key && hd.Direction == a.Direction {
						n++
					}
				}
				if n != 1 {
					t.Errorf("alert %d: its frame captured %d times under its key and direction, want once", i, n)
				}
			}
			_, v := h.onlyFlow()
			want(t, "the error, counted in the quoted flow", v.dir[1].Packets, 1)
			want(t, "icmp_errors_quoted", h.stats().IcmpErrorsQuoted, 1)
			want(t, "icmp_errors_third_party", h.stats().IcmpErrorsThirdParty, c.thirdParty)
		})
	}
}

package loader

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/flowtable"
)

// The seed's first SYN: 192.168.0.31:2253 -> 161.53.178.240:6667 with
// MSS, NOP, NOP, SackOK options.
func seedSYN() frameSpec {
	return frameSpec{
		v4: &ip4{src: "192.168.0.31", dst: "161.53.178.240", proto: 6, ttl: 128, id: 13198, df: true},
		l4: tcpSeg{sport: 2253, dport: 6667, flags: event.TCPSyn, seq: 0xCA53141F, win: 0xFC00,
			options: []byte{2, 4, 5, 180, 1, 1, 4, 2}},
	}
}

// The table runs through both hooks of the one datapath template: XDP
// (ingress) and TC (egress, host mode).
func TestParseAndFlowKeys(t *testing.T) {
	for _, hook := range []string{"xdp", "tc"} {
		t.Run(hook, func(t *testing.T) { testParseAndFlowKeys(t, hook) })
	}
}

func testParseAndFlowKeys(t *testing.T, hook string) {
	h := newHarness(t, Config{})
	tagged := func(f frameSpec, tags ...vlanTag) frameSpec { f.vlans = tags; return f }
	tcp4 := func(src, dst string, sport, dport uint16) frameSpec {
		return frameSpec{v4: &ip4{src: src, dst: dst, proto: 6}, l4: tcpSeg{sport: sport, dport: dport, flags: event.TCPSyn}}
	}

	cases := []struct {
		name       string
		frame      frameSpec
		loAddr     string
		hiAddr     string
		portLo     uint16
		portHi     uint16
		proto      uint8
		family     uint8
		zone       uint32   // one VLAN is its id; stacks are interned from 4096 in order
		vlans      []uint16 // what the zone names
		senderSide uint8
		payload    uint64
		l3bytes    uint64
		check      func(t *testing.T, st abi.BpfSensorStats)
	}{
		{name: "tcp4 seed SYN", frame: seedSYN(), loAddr: "161.53.178.240", hiAddr: "192.168.0.31",
			portLo: 6667, portHi: 2253, proto: 6, family: 4, senderSide: 1, l3bytes: 48,
			check: func(t *testing.T, st abi.BpfSensorStats) {
				want(t, "tcp_packets", st.TcpPackets, 1)
				want(t, "ipv4", st.Ipv4Packets, 1)
			}},
		{name: "tcp4 lower side sends", frame: tcp4("10.0.0.1", "10.0.0.2", 40000, 80), loAddr: "10.0.0.1", hiAddr: "10.0.0.2",
			portLo: 40000, portHi: 80, proto: 6, family: 4, senderSide: 0, l3bytes: 40},
		{name: "same address, ports order", frame: tcp4("10.0.0.1", "10.0.0.1", 9000, 80), loAddr: "10.0.0.1", hiAddr: "10.0.0.1",
			portLo: 80, portHi: 9000, proto: 6, family: 4, senderSide: 1, l3bytes: 40},
		{name: "ipv4 options", frame: frameSpec{v4: &ip4{src: "10.0.0.1", dst: "10.0.0.2", proto: 6, options: []byte{1, 1, 1, 0, 0x94, 4, 0, 0}},
			l4: tcpSeg{sport: 1, dport: 2, flags: event.TCPSyn, payload: []byte("abc")}},
			loAddr: "10.0.0.1", hiAddr: "10.0.0.2", portLo: 1, portHi: 2, proto: 6, family: 4, payload: 3, l3bytes: 28 + 20 + 3},
		{name: "ethernet padding excluded", frame: frameSpec{v4: &ip4{src: "10.0.0.1", dst: "10.0.0.2", proto: 17}, l4: udpDgram{sport: 53, dport: 5353, payload: []byte{1, 2}}, trailer: 16},
			loAddr: "10.0.0.1", hiAddr: "10.0.0.2", portLo: 53, portHi: 5353, proto: 17, family: 4, payload: 2, l3bytes: 30,
			check: func(t *testing.T, st abi.BpfSensorStats) {
				want(t, "udp_packets", st.UdpPackets, 1)
				want(t, "udp_bytes", st.UdpBytes, 30)
			}},
		{name: "802.1Q", frame: tagged(tcp4("10.0.0.1", "10.0.0.2", 1, 2), vlanTag{0x8100, 0x2064}),
			loAddr: "10.0.0.1", hiAddr: "10.0.0.2", portLo: 1, portHi: 2, proto: 6, family: 4, zone: 100, vlans: []uint16{100}, l3bytes: 40,
			check: func(t *testing.T, st abi.BpfSensorStats) { want(t, "vlan_packets", st.VlanPackets, 1) }},
		{name: "802.1ad QinQ", frame: tagged(tcp4("10.0.0.1", "10.0.0.2", 1, 2), vlanTag{0x88a8, 300}, vlanTag{0x8100, 100}),
			loAddr: "10.0.0.1", hiAddr: "10.0.0.2", portLo: 1, portHi: 2, proto: 6, family: 4, zone: 4096, vlans: []uint16{300, 100}, l3bytes: 40},
		{name: "three tags", frame: tagged(tcp4("10.0.0.1", "10.0.0.2", 1, 2), vlanTag{0x9100, 7}, vlanTag{0x88a8, 8}, vlanTag{0x8100, 9}),
			loAddr: "10.0.0.1", hiAddr: "10.0.0.2", portLo: 1, portHi: 2, proto: 6, family: 4, zone: 4097, vlans: []uint16{7, 8, 9}, l3bytes: 40},
		{name: "udp", frame: frameSpec{v4: &ip4{src: "192.0.2.1", dst: "198.51.100.1", proto: 17}, l4: udpDgram{sport: 5000, dport: 53, payload: make([]byte, 30)}},
			loAddr: "192.0.2.1", hiAddr: "198.51.100.1", portLo: 5000, portHi: 53, proto: 17, family: 4, payload: 30, l3bytes: 58},
		{name: "icmp echo", frame: frameSpec{v4: &ip4{src: "192.0.2.1", dst: "198.51.100.1", proto: 1}, l4: icmpMsg{typ: 8, payload: make([]byte, 56)}},
			loAddr: "192.0.2.1", hiAddr: "198.51.100.1", portLo: 8, portHi: 0, proto: 1, family: 4, payload: 56, l3bytes: 84,
			check: func(t *testing.T, st abi.BpfSensorStats) { want(t, "icmp_packets", st.IcmpPackets, 1) }},
		{name: "gre other protocol", frame: frameSpec{v4: &ip4{src: "192.0.2.1", dst: "198.51.100.1", proto: 47}, l4: rawL4(make([]byte, 12))},
			loAddr: "192.0.2.1", hiAddr: "198.51.100.1", proto: 47, family: 4, payload: 12, l3bytes: 32,
			check: func(t *testing.T, st abi.BpfSensorStats) { want(t, "other_ip_packets", st.OtherIpPackets, 1) }},
		{name: "first ipv4 fragment has ports", frame: frameSpec{v4: &ip4{src: "192.0.2.1", dst: "198.51.100.1", proto: 17, mf: true}, l4: udpDgram{sport: 7, dport: 9, payload: make([]byte, 24)}},
			loAddr: "192.0.2.1", hiAddr: "198.51.100.1", portLo: 7, portHi: 9, proto: 17, family: 4, payload: 24, l3bytes: 52},
		{name: "tcp6", frame: frameSpec{v6: &ip6{src: "2001:db8::2", dst: "2001:db8::1", proto: 6}, l4: tcpSeg{sport: 443, dport: 50000, flags: event.TCPSyn | event.TCPAck}},
			loAddr: "2001:db8::1", hiAddr: "2001:db8::2", portLo: 50000, portHi: 443, proto: 6, family: 6, senderSide: 1, l3bytes: 60,
			check: func(t *testing.T, st abi.BpfSensorStats) { want(t, "ipv6", st.Ipv6Packets, 1) }},
		{name: "ipv6 hop-by-hop, routing, dest-opts", frame: frameSpec{v6: &ip6{src: "2001:db8::1", dst: "2001:db8::2", next: 0,
			ext: cat(ext6(43, 1), ext6(60, 2), ext6(6, 1)), proto: 6}, l4: tcpSeg{sport: 1, dport: 2, flags: event.TCPSyn}},
			loAddr: "2001:db8::1", hiAddr: "2001:db8::2", portLo: 1, portHi: 2, proto: 6, family: 6, l3bytes: 40 + 32 + 20},
		{name: "ipv6 first fragment", frame: frameSpec{v6: &ip6{src: "2001:db8::1", dst: "2001:db8::2", next: 44,
			ext: frag6(17, 0, true), proto: 17}, l4: udpDgram{sport: 10, dport: 20, payload: make([]byte, 8)}},
			loAddr: "2001:db8::1", hiAddr: "2001:db8::2", portLo: 10, portHi: 20, proto: 17, family: 6, payload: 8, l3bytes: 40 + 8 + 16},
		{name: "icmpv6", frame: frameSpec{v6: &ip6{src: "2001:db8::1", dst: "2001:db8::2", proto: 58}, l4: icmpMsg{typ: 128, payload: make([]byte, 4)}},
			loAddr: "2001:db8::1", hiAddr: "2001:db8::2", portLo: 128, portHi: 129, proto: 58, family: 6, payload: 4, l3bytes: 52,
			check: func(t *testing.T, st abi.BpfSensorStats) { want(t, "icmpv6_packets", st.Icmpv6Packets, 1) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			h.clearFlows()
			before := h.stats()
			if hook == "tc" {
				if ret := h.runEgress(c.frame.build()); ret != tcActOK {
					t.Fatalf("verdict %d, want TC_ACT_OK", ret)
				}
			} else if ret := h.run(c.frame.build()); ret != xdpPass {
				t.Fatalf("verdict %d, want XDP_PASS", ret)
			}
			k, v := h.onlyFlow()
			lo, hi := addr16(c.loAddr), addr16(c.hiAddr)
			if c.family == 4 {
				lo, hi = v4key(c.loAddr), v4key(c.hiAddr)
			}
			wantKey := abi.BpfFlowKey{AddrLo: lo, AddrHi: hi, PortLo: c.portLo, PortHi: c.portHi, Zone: c.zone, Proto: c.proto, Family: c.family}
			if k != wantKey {
				t.Fatalf("flow key\n got %+v\nwant %+v", k, wantKey)
			}
			d := v.dir[c.senderSide]
			want(t, "sender packets", d.Packets, 1)
			want(t, "sender bytes", d.Bytes, c.l3bytes)
			want(t, "sender frame bytes", d.FrameBytes, uint64(len(c.frame.build())))
			if c.proto != 6 { // TCP payload is counted from sequence numbers
				want(t, "sender payload", d.PayloadBytes, c.payload)
			}
			want(t, "other packets", v.dir[1-c.senderSide].Packets, 0)
			want(t, "initiator", uint64(v.initiator()), uint64(c.senderSide))
			zones := &flowtable.Zones{Map: h.s.Objects.Zones}
			if got := zones.VLANs(k.Zone); !slices.Equal(got, c.vlans) {
				t.Errorf("zone %d names VLANs %v, want %v", k.Zone, got, c.vlans)
			}
			st := h.stats()
			want(t, "flows_new", st.FlowsNew-before.FlowsNew, 1)
			want(t, "packets", st.Packets-before.Packets, 1)
			if c.check != nil {
				var delta abi.BpfSensorStats
				subStats(&delta, &st, &before)
				c.check(t, delta)
			}
		})
	}
}

// v4key is an IPv4 address as the kernel stores it: in the first 4 bytes.
func v4key(s string) [16]uint8 { return addr16(s) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func subStats(out, a, b *abi.BpfSensorStats) {
	*out = *a
	neg := *b
	negate(&neg)
	addStats(out, &neg)
}

func negate(s *abi.BpfSensorStats) {
	var zero abi.BpfSensorStats
	n := &zero
	// two's complement per counter via addStats on the negated copy
	for i, v := range statsWords(s) {
		statsWords(n)[i] = -v
	}
	*s = *n
}

func want(t *testing.T, what string, got, want uint64) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %d, want %d", what, got, want)
	}
}

func TestMalformedFrames(t *testing.T) {
	h := newHarness(t, Config{})
	good := func() frameSpec { return seedSYN() }
	cases := []struct {
		name  string
		frame []byte
		field func(*abi.BpfSensorStats) uint64
	}{
		{"truncated vlan tag", func() []byte { f := good(); f.vlans = []vlanTag{{0x8100, 5}}; return f.build()[:16] }(),
			func(s *abi.BpfSensorStats) uint64 { return s.MalformedVlan }},
		{"four vlan tags", func() []byte {
			f := good()
			f.vlans = []vlanTag{{0x88a8, 1}, {0x8100, 2}, {0x8100, 3}, {0x8100, 4}}
			return f.build()
		}(), func(s *abi.BpfSensorStats) uint64 { return s.MalformedVlan }},
		{"truncated ipv4 header", good().build()[:14+12], func(s *abi.BpfSensorStats) uint64 { return s.MalformedL3 }},
		{"ipv4 ihl < 5", func() []byte { f := good(); f.v4.ihl = 4; return f.build() }(), func(s *abi.BpfSensorStats) uint64 { return s.MalformedIhl }},
		{"ipv4 options beyond frame", func() []byte { f := good(); f.v4.ihl = 15; return f.build()[:14+40] }(), func(s *abi.BpfSensorStats) uint64 { return s.MalformedL3 }},
		{"ipv4 total length beyond frame", func() []byte { f := good(); f.v4.totLen = 1500; return f.build() }(), func(s *abi.BpfSensorStats) uint64 { return s.MalformedIpLen }},
		{"ipv4 total length below header", func() []byte { f := good(); f.v4.totLen = 16; return f.build() }(), func(s *abi.BpfSensorStats) uint64 { return s.MalformedIpLen }},
		{"wrong ip version", func() []byte { f := good(); f.v4.version = 6; return f.build() }(), func(s *abi.BpfSensorStats) uint64 { return s.MalformedL3 }},
		{"truncated tcp header", func() []byte { f := good(); f.l4 = rawL4(make([]byte, 12)); return f.build() }(), func(s *abi.BpfSensorStats) uint64 { return s.MalformedL4 }},
		{"tcp data offset < 5", func() []byte {
			f := good()
			seg := f.l4.(tcpSeg)
			seg.doff = 4
			f.l4 = seg
			return f.build()
		}(), func(s *abi.BpfSensorStats) uint64 { return s.MalformedTcpDoff }},
		{"tcp options beyond datagram", func() []byte {
			f := good()
			seg := f.l4.(tcpSeg)
			seg.doff = 15
			f.l4 = seg
			return f.build()
		}(), func(s *abi.BpfSensorStats) uint64 { return s.MalformedL4 }},
		{"truncated udp", func() []byte {
			f := frameSpec{v4: &ip4{src: "10.0.0.1", dst: "10.0.0.2", proto: 17}, l4: rawL4{0, 53, 0}}
			return f.build()
		}(), func(s *abi.BpfSensorStats) uint64 { return s.MalformedL4 }},
		{"truncated icmp", func() []byte {
			f := frameSpec{v4: &ip4{src: "10.0.0.1", dst: "10.0.0.2", proto: 1}, l4: rawL4{8, 0, 0, 0}}
			return f.build()
		}(), func(s *abi.BpfSensorStats) uint64 { return s.MalformedL4 }},
		{"truncated ipv6 header", func() []byte {
			f := frameSpec{v6: &ip6{src: "2001:db8::1", dst: "2001:db8::2", proto: 6}, l4: tcpSeg{sport: 1, dport: 2}}
			return f.build()[:14+30]
		}(), func(s *abi.BpfSensorStats) uint64 { return s.MalformedL3 }},
		{"ipv6 payload length beyond frame", func() []byte {
			f := frameSpec{v6: &ip6{src: "2001:db8::1", dst: "2001:db8::2", proto: 6, plen: 200}, l4: tcpSeg{sport: 1, dport: 2}}
			return f.build()
		}(), func(s *abi.BpfSensorStats) uint64 { return s.MalformedIpLen }},
		{"ipv6 extension header truncated", func() []byte {
			f := frameSpec{v6: &ip6{src: "2001:db8::1", dst: "2001:db8::2", next: 0, ext: ext6(6, 1)[:4]}}
			return f.build()
		}(), func(s *abi.BpfSensorStats) uint64 { return s.MalformedIpv6Ext }},
		{"ipv6 extension header longer than datagram", func() []byte {
			e := ext6(6, 1)
			e[1] = 10 // claims 88 bytes
			f := frameSpec{v6: &ip6{src: "2001:db8::1", dst: "2001:db8::2", next: 0, ext: e, proto: 6}, l4: tcpSeg{sport: 1, dport: 2}}
			return f.build()
		}(), func(s *abi.BpfSensorStats) uint64 { return s.MalformedIpv6Ext }},
		{"ipv6 extension chain too long", func() []byte {
			var ext []byte
			for i := 0; i < 9; i++ {
				next := uint8(60)
				if i == 8 {
					next = 6
				}
				ext = append(ext, ext6(next, 1)...)
			}
			f := frameSpec{v6: &ip6{src: "2001:db8::1", dst: "2001:db8::2", next: 60, ext: ext, proto: 6}, l4: tcpSeg{sport: 1, dport: 2}}
			return f.build()
		}(), func(s *abi.BpfSensorStats) uint64 { return s.MalformedIpv6Ext }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			h.clearFlows()
			before := h.stats()
			if ret := h.run(c.frame); ret != xdpPass {
				t.Fatalf("verdict %d, want XDP_PASS", ret)
			}
			after := h.stats()
			want(t, "reason counter", c.field(&after)-c.field(&before), 1)
			want(t, "all malformed counters", malformedTotal(&after)-malformedTotal(&before), 1)
			want(t, "flows_new", after.FlowsNew-before.FlowsNew, 0)
			if n := len(h.flows()); n != 0 {
				t.Errorf("malformed frame made %d flows", n)
			}
		})
	}
}

func malformedTotal(s *abi.BpfSensorStats) uint64 {
	return s.MalformedL2 + s.MalformedVlan + s.MalformedL3 + s.MalformedIhl + s.MalformedIpLen +
		s.MalformedIpv6Ext + s.MalformedL4 + s.MalformedTcpDoff + s.MalformedEncap
}

func TestNonIPAndLaterFragments(t *testing.T) {
	h := newHarness(t, Config{})
	arp := frameSpec{ethertype: 0x0806, raw: make([]byte, 28)}
	h.run(arp.build())
	st := h.stats()
	want(t, "non_ip_packets", st.NonIpPackets, 1)
	want(t, "non_ip_bytes", st.NonIpBytes, 42)

	later4 := frameSpec{v4: &ip4{src: "192.0.2.1", dst: "198.51.100.1", proto: 17, fragOffset: 185}, l4: rawL4(make([]byte, 100))}
	later6 := frameSpec{v6: &ip6{src: "2001:db8::1", dst: "2001:db8::2", next: 44, ext: frag6(17, 100, false)}, l4: rawL4(make([]byte, 40))}
	h.run(later4.build())
	h.run(later6.build())
	st = h.stats()
	want(t, "fragments", st.Fragments, 2)
	want(t, "udp_packets (protocol still counted)", st.UdpPackets, 2)
	if n := len(h.flows()); n != 0 {
		t.Fatalf("later fragments made %d flows", n)
	}
}

func TestTCPFlagCountsAndClose(t *testing.T) {
	h := newHarness(t, Config{})
	conv := newTCPConv("192.0.2.10", "198.51.100.20", 40000, 8080)
	const cl, sv = 0, 1
	h.run(conv.seg(cl, event.TCPSyn, 0))
	h.run(conv.seg(sv, event.TCPSyn|event.TCPAck, 0))
	h.run(conv.seg(cl, event.TCPAck, 0))
	h.run(conv.seg(cl, event.TCPAck|event.TCPPsh, 10))
	h.run(conv.seg(sv, event.TCPAck, 0))
	h.run(conv.seg(sv, event.TCPAck|event.TCPPsh|event.TCPEce|event.TCPCwr, 20))
	h.run(conv.seg(cl, event.TCPAck|event.TCPFin, 0))
	if _, closed := h.events(); len(closed) != 0 {
		t.Fatalf("flow closed after one FIN")
	}
	h.run(conv.seg(sv, event.TCPAck|event.TCPFin, 0))
	_, closed := h.events()
	if len(closed) != 1 {
		t.Fatalf("%d flow-closed events after both FINs, want 1", len(closed))
	}
	ev := closed[0]
	want(t, "reason", uint64(ev.Reason), uint64(abi.BpfFlowEndReasonFLOW_END_FIN))
	h.run(conv.seg(cl, event.TCPAck, 0)) // the last ACK joins the same entry

	_, v := h.onlyFlow()
	c, s := v.dir[0], v.dir[1] // 192.0.2.10 sorts lower
	wantCounts := func(who string, got, w event.TCPFlagCounts) {
		t.Helper()
		if got != w {
			t.Errorf("%s flag counts\n got %+v\nwant %+v", who, got, w)
		}
	}
	wantCounts("client", c.FlagCounts, event.TCPFlagCounts{SYN: 1, ACK: 2, PSH: 1, FIN: 1})
	wantCounts("server", s.FlagCounts, event.TCPFlagCounts{SYNACK: 1, ACK: 1, PSH: 1, FIN: 1, ECE: 1, CWR: 1})
	want(t, "client packets", c.Packets, 5)
	want(t, "server packets", s.Packets, 4)
	want(t, "client payload (sequence space)", c.PayloadBytes, 10)
	want(t, "server payload (sequence space)", s.PayloadBytes, 20)
	want(t, "client missed", c.MissedBytes, 0)
	want(t, "client flags", uint64(c.TCPFlags), uint64(event.TCPSyn|event.TCPAck|event.TCPPsh|event.TCPFin))
	want(t, "closed", uint64(v.State&uint8(abi.BpfFlowStateBitsSTATE_CLOSED)), uint64(abi.BpfFlowStateBitsSTATE_CLOSED))
	if got := v.history(); got != "ShADadFf" {
		t.Errorf("history %q, want ShADadFf", got)
	}
	// Zeek's duration ends at the second FIN, not the final ACK.
	want(t, "active before last", uint64(v.ActiveUs), 7000)
	want(t, "last seen", uint64(v.LastSeenUs), 8000)
	want(t, "flows_closed", h.stats().FlowsClosed, 1)

	// RST closes at once.
	rst := newTCPConv("192.0.2.10", "198.51.100.20", 40001, 8080)
	h.run(rst.seg(cl, event.TCPSyn, 0))
	h.run(rst.seg(sv, event.TCPRst|event.TCPAck, 0))
	_, closed = h.events()
	if len(closed) != 1 || closed[0].Reason != uint8(abi.BpfFlowEndReasonFLOW_END_RST) {
		t.Fatalf("RST: closed events %+v", closed)
	}
	want(t, "rst count", uint64(closed[0].Value.Dir[1].Rst), 1)
	want(t, "rst flow packets", uint64(closed[0].Value.Dir[0].Packets+closed[0].Value.Dir[1].Packets), 2)
}

func TestMonitorPortDrops(t *testing.T) {
	h := newHarness(t, Config{MonitorPort: true})
	if ret := h.run(seedSYN().build()); ret != xdpDrop {
		t.Fatalf("verdict %d, want XDP_DROP", ret)
	}
	want(t, "flows_new", h.stats().FlowsNew, 1)
}

func TestPacketClockFromMetadata(t *testing.T) {
	h := newHarness(t, Config{})
	h.runAt(seedSYN().build(), 1172053074366236000)
	h.runAt(seedSYN().build(), 1172053077287574000)
	_, v := h.onlyFlow()
	want(t, "first_seen", v.FirstSeenNs, 1172053074366236000)
	want(t, "last_seen", v.FirstSeenNs+uint64(v.LastSeenUs)*1000, 1172053077287574000)
}

func TestBlocklistMatching(t *testing.T) {
	syn := func(src, dst string) []byte {
		return frameSpec{v4: &ip4{src: src, dst: dst, proto: 6}, l4: tcpSeg{sport: 2253, dport: 6667, flags: event.TCPSyn}}.build()
	}
	syn6 := func(src, dst string) []byte {
		return frameSpec{v6: &ip6{src: src, dst: dst, proto: 6}, l4: tcpSeg{sport: 2253, dport: 6667, flags: event.TCPSyn}}.build()
	}
	cases := []struct {
		name   string
		list   *blocklist.List
		frame  []byte
		alerts int
		listed uint8
	}{
		{"exact dst", simpleList(blocklist.ListedAsDst, blocklist.NetAny, "161.53.178.240"), syn("192.168.0.31", "161.53.178.240"), 1, 2},
		{"exact dst rule, listed address is source: no alert", simpleList(blocklist.ListedAsDst, blocklist.NetAny, "161.53.178.240"), syn("161.53.178.240", "192.168.0.31"), 0, 0},
		{"src rule", simpleList(blocklist.ListedAsSrc, blocklist.NetAny, "193.109.122.67"), syn("193.109.122.67", "69.143.202.28"), 1, 1},
		{"either", simpleList(blocklist.ListedAsAny, blocklist.NetAny, "193.109.122.67"), syn("193.109.122.67", "69.143.202.28"), 1, 1},
		{"cidr", simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.0/24"), syn("192.0.2.1", "203.0.113.99"), 1, 2},
		{"short cidr spans /16s", simpleList(blocklist.ListedAsDst, blocklist.NetAny, "10.0.0.0/8"), syn("192.0.2.1", "10.200.1.1"), 1, 2},
		{"cidr miss", simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.0/25"), syn("192.0.2.1", "203.0.113.200"), 0, 0},
		{"exact miss", simpleList(blocklist.ListedAsDst, blocklist.NetAny, "161.53.178.241"), syn("192.168.0.31", "161.53.178.240"), 0, 0},
		{"ipv6 exact", simpleList(blocklist.ListedAsDst, blocklist.NetAny, "2001:db8:3::66"), syn6("2001:db8:1::10", "2001:db8:3::66"), 1, 2},
		{"ipv6 prefix", simpleList(blocklist.ListedAsDst, blocklist.NetAny, "2001:db8:3::/48"), syn6("2001:db8:1::10", "2001:db8:3::99"), 1, 2},
		{"home net any accepts", simpleList(blocklist.ListedAsDst, blocklist.NetHome, "161.53.178.240"), syn("192.168.0.31", "161.53.178.240"), 1, 2},
	}
	h := newHarness(t, Config{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			h.clearFlows()
			inst := h.block(c.list)
			before := h.stats()
			f := c.frame
			h.run(f)
			alerts, _ := h.events()
			if len(alerts) != c.alerts {
				t.Fatalf("%d alerts, want %d", len(alerts), c.alerts)
			}
			st := h.stats()
			want(t, "matches", st.Matches-before.Matches, uint64(c.alerts))
			want(t, "alerts", st.Alerts-before.Alerts, uint64(c.alerts))
			if c.alerts == 0 {
				return
			}
			a := alerts[0]
			want(t, "listed", uint64(a.Listed), uint64(c.listed))
			if wantID := (inst.Generation&1)<<24 | 1; a.RuleId != wantID {
				t.Errorf("rule id %#x, want %#x (slot %d, first rule)", a.RuleId, wantID, inst.Generation&1)
			}
			want(t, "cap_len", uint64(a.CapLen), uint64(len(f)))
			want(t, "frame_len", uint64(a.FrameLen), uint64(len(f)))
			if string(a.Data[:a.CapLen]) != string(f) {
				t.Errorf("snapshot differs from the frame")
			}
			want(t, "sport", uint64(a.Pkt.Sport), 2253)
			want(t, "dport", uint64(a.Pkt.Dport), 6667)
			want(t, "tcp flags", uint64(a.Pkt.TcpFlags), event.TCPSyn)
			_, v := h.onlyFlow()
			want(t, "flow alerted", uint64(v.Marks&uint8(abi.BpfListedBitsMARK_ALERTED)), uint64(abi.BpfListedBitsMARK_ALERTED))
			if a.FlowStartNs != v.FirstSeenNs || a.HasFlow != 1 {
				t.Errorf("alert names flow start %d (has_flow %d), flow started %d", a.FlowStartNs, a.HasFlow, v.FirstSeenNs)
			}
		})
	}
}

func TestAlertPacketFields(t *testing.T) {
	h := newHarness(t, Config{})
	h.block(simpleList(blocklist.ListedAsDst, blocklist.NetAny, "161.53.178.240"))
	f := seedSYN()
	f.vlans = []vlanTag{{0x8100, 42}}
	h.run(f.build())
	alerts, _ := h.events()
	if len(alerts) != 1 {
		t.Fatalf("%d alerts", len(alerts))
	}
	p := alerts[0].Pkt
	wantFields := abi.BpfPacketFields{
		Src: v4key("192.168.0.31"), Dst: v4key("161.53.178.240"), Sport: 2253, Dport: 6667,
		Vlan: [3]uint16{42}, Family: 4, Proto: 6, Ttl: 128, Tos: 0, IpHdrLen: 20, IpFlags: 2,
		IpId: 13198, IpLen: 48, TcpFlags: event.TCPSyn, Seq: 0xCA53141F, Window: 0xFC00, TcpHdrLen: 28,
		L3Offset: 18, L4Offset: 38,
	}
	if p != wantFields {
		t.Fatalf("packet fields\n got %+v\nwant %+v", p, wantFields)
	}
}

func TestMatchDecidedOncePerFlowAndOnReload(t *testing.T) {
	h := newHarness(t, Config{})
	h.block(simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.66"))
	pkt := frameSpec{v4: &ip4{src: "192.0.2.10", dst: "198.51.100.20", proto: 6}, l4: tcpSeg{sport: 1, dport: 2, flags: event.TCPAck}}.build()
	for i := 0; i < 5; i++ {
		h.run(pkt)
	}
	want(t, "lookups for 5 packets of one flow", h.stats().BlocklistLookups, 1)

	// Reload with the flow's server listed: the next packet alerts.
	h.block(simpleList(blocklist.ListedAsDst, blocklist.NetAny, "198.51.100.20"))
	h.run(pkt)
	alerts, _ := h.events()
	if len(alerts) != 1 {
		t.Fatalf("%d alerts after reload, want 1", len(alerts))
	}
	if alerts[0].RuleId>>24 != 0 {
		t.Errorf("second load should use slot 0, got rule id %#x", alerts[0].RuleId)
	}
	want(t, "lookups", h.stats().BlocklistLookups, 2)
	// And an empty list stops it.
	h.block(&blocklist.List{})
	h.run(pkt)
	if alerts, _ := h.events(); len(alerts) != 0 {
		t.Fatalf("%d alerts with an empty blocklist", len(alerts))
	}
}

func TestLaterFragmentMatchesOnAddress(t *testing.T) {
	h := newHarness(t, Config{})
	h.block(simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.66"))
	later := frameSpec{v4: &ip4{src: "192.0.2.10", dst: "203.0.113.66", proto: 17, fragOffset: 185}, l4: rawL4(make([]byte, 100))}
	h.run(later.build())
	alerts, _ := h.events()
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1", len(alerts))
	}
	want(t, "has_flow", uint64(alerts[0].HasFlow), 0)
	want(t, "fragment", uint64(alerts[0].Pkt.Fragment), 1)
	want(t, "frag offset", uint64(alerts[0].Pkt.FragOffset), 185)
	if len(h.flows()) != 0 {
		t.Fatal("a later fragment made a flow")
	}
}

func TestLostEventsCounted(t *testing.T) {
	h := newHarness(t, Config{RingSize: 4096})
	h.block(simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.66"))
	if err := h.s.SetAlertEveryPacket(true); err != nil {
		t.Fatal(err)
	}
	pkt := frameSpec{v4: &ip4{src: "192.0.2.10", dst: "203.0.113.66", proto: 6}, l4: tcpSeg{sport: 1, dport: 2, flags: event.TCPSyn}}.build()
	const sent = 20
	for i := 0; i < sent; i++ {
		h.run(pkt)
	}
	alerts, _ := h.events()
	st := h.stats()
	if st.LostEvents == 0 {
		t.Fatalf("no lost events with a one-page ring and %d alerts", sent)
	}
	want(t, "alerts delivered + lost", uint64(len(alerts))+st.LostEvents, sent)
	want(t, "alerts lost", st.AlertsLost, st.LostEvents) // only alerts went to the ring
	want(t, "alerts counter", st.Alerts, uint64(len(alerts)))
	want(t, "matches", st.Matches, sent)
}

// An alert the full ring could not take is not the flow's last word: the
// direction stays uninspected, and its next packet alerts. The flow is
// marked alerted only then.
func TestAlertLostToAFullRingIsRetried(t *testing.T) {
	h := newHarness(t, Config{RingSize: 4096})
	h.block(simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.66"))
	syn := func(sport uint16) []byte {
		return frameSpec{v4: &ip4{src: "192.0.2.10", dst: "203.0.113.66", proto: 6}, l4: tcpSeg{sport: sport, dport: 2, flags: event.TCPSyn}}.build()
	}
	// Other flows fill the one-page ring until an alert is lost.
	for sport := uint16(1000); h.stats().AlertsLost == 0; sport++ {
		if sport == 1100 {
			t.Fatal("100 alerts did not fill a one-page ring")
		}
		h.run(syn(sport))
	}
	lostBefore := h.stats().AlertsLost
	h.run(syn(7)) // the ring is full: this flow's alert is lost
	st := h.stats()
	want(t, "alerts lost", st.AlertsLost, lostBefore+1)
	found := false
	for k, f := range h.flows() {
		if k.PortLo == 7 || k.PortHi == 7 {
			found = true
			if f.Marks&uint8(abi.BpfListedBitsMARK_ALERTED) != 0 {
				t.Fatal("the flow is marked alerted, its alert lost")
			}
		}
	}
	if !found {
		t.Fatal("no flow from port 7")
	}
	alerts, _ := h.events() // the daemon drains the ring
	want(t, "alerts read while full", uint64(len(alerts)), st.Alerts)
	h.run(syn(7)) // the same direction again
	alerts, _ = h.events()
	if len(alerts) != 1 || alerts[0].Pkt.Sport != 7 {
		t.Fatalf("after the drain: %d alerts %+v, want the retried one from port 7", len(alerts), alerts)
	}
	h.run(syn(7))
	if alerts, _ = h.events(); len(alerts) != 0 {
		t.Fatalf("%d alerts on the third packet, want 0 (one alert a direction)", len(alerts))
	}
}

// A limit-1 rule's alert that the full ring could not take is retried on
// the direction's next packet and goes out then: the threshold took back
// the count of the lost one, so the retry is judged as the first try was.
// Both layers: a flow's own addresses, and a tunnel's outer ones.
func TestLimitedAlertLostToAFullRingIsRetried(t *testing.T) {
	h := newHarness(t, Config{RingSize: 4096})
	l := simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.66", vtepB)
	l.Rules[0].Threshold = &blocklist.Threshold{Type: "limit", Track: "by_src", Count: 1, Seconds: 3600}
	h.block(l)
	syn := func(src string, sport uint16) []byte {
		return frameSpec{v4: &ip4{src: src, dst: "203.0.113.66", proto: 6}, l4: tcpSeg{sport: sport, dport: 2, flags: event.TCPSyn}}.build()
	}
	// window is the count of the window of src (the tracked address).
	window := func(t *testing.T, src string) (uint32, bool) {
		var k abi.BpfThresholdKey
		var v abi.BpfThresholdState
		it := h.s.Objects.Thresholds.Iterate()
		for it.Next(&k, &v) {
			if netip.AddrFrom4([4]byte(k.Addr[:4])).String() == src {
				return v.Count, true
			}
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		return 0, false
	}
	cases := []struct {
		name    string
		tracked string              // the source the rule's window tracks
		frame   func(uint16) []byte // a flow's packet (the port tells flows apart)
		layer   abi.BpfAlertLayer
	}{
		{"inner", "198.51.100.7", func(sport uint16) []byte { return syn("198.51.100.7", sport) }, abi.BpfAlertLayerLAYER_INNER},
		{"outer", vtepA, func(sport uint16) []byte {
			in := frameSpec{v4: &ip4{src: "10.0.0.1", dst: "10.0.0.2", proto: 17}, l4: udpDgram{sport: sport, dport: 53}}.build()
			return ethFrame(0x0800, nil, outer4(vtepA, vtepB, 17, udpBytes(51000, 4789, vxlan(9, in))))
		}, abi.BpfAlertLayerLAYER_OUTER},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			h.clearFlows()
			h.events()
			// Other sources (each its own window) fill the one-page ring
			// until an alert is lost.
			lost := h.stats().AlertsLost
			for i := 1; h.stats().AlertsLost == lost; i++ {
				if i == 100 {
					t.Fatal("100 alerts did not fill a one-page ring")
				}
				h.run(syn(fmt.Sprintf("192.0.2.%d", 100*ci+i), 1000))
			}
			before := h.stats()
			h.run(c.frame(7)) // the ring is full: this flow's alert is lost
			st := h.stats()
			want(t, "alerts lost", st.AlertsLost-before.AlertsLost, 1)
			want(t, "suppressed", st.AlertsSuppressed-before.AlertsSuppressed, 0)
			if n, ok := window(t, c.tracked); !ok || n != 0 {
				t.Fatalf("window of %s: count %d (present %v), want 0 after the lost alert", c.tracked, n, ok)
			}
			h.events()        // the daemon drains the ring
			h.run(c.frame(7)) // the same direction again
			alerts, _ := h.events()
			if len(alerts) != 1 || alerts[0].Layer != uint8(c.layer) {
				t.Fatalf("after the drain: %d alerts %+v, want the retried one (layer %d)", len(alerts), alerts, c.layer)
			}
			if n, _ := window(t, c.tracked); n != 1 {
				t.Fatalf("window of %s: count %d, want 1", c.tracked, n)
			}
			// The limit holds from there: another flow of the source is
			// held back.
			before = h.stats()
			h.run(c.frame(8))
			if alerts, _ = h.events(); len(alerts) != 0 {
				t.Fatalf("%d alerts from a second flow of a limit-1 source, want 0", len(alerts))
			}
			want(t, "suppressed", h.stats().AlertsSuppressed-before.AlertsSuppressed, 1)
		})
	}
}

// An address listed exactly by a rule whose $HOME_NET/$EXTERNAL_NET
// constraint refuses the packet's other address, and by a covering CIDR
// whose rule accepts it, raises the CIDR's rule: each candidate is checked
// before it is taken, per end of the packet.
func TestExactEntryRefusedYieldsToCoveringPrefix(t *testing.T) {
	h := newHarness(t, Config{})
	l := &blocklist.List{Rules: []blocklist.Rule{
		// alert ip $HOME_NET any -> [203.0.113.66] any
		{GID: 1, SID: 20, Direction: blocklist.ListedAsDst, OtherNet: blocklist.NetHome},
		// alert ip any any -> [203.0.113.0/24] any
		{GID: 1, SID: 21, Direction: blocklist.ListedAsDst, OtherNet: blocklist.NetAny},
		// alert ip [203.0.113.66] any -> $HOME_NET any
		{GID: 1, SID: 22, Direction: blocklist.ListedAsSrc, OtherNet: blocklist.NetHome},
		// alert ip [203.0.113.0/24] any -> $EXTERNAL_NET any
		{GID: 1, SID: 23, Direction: blocklist.ListedAsSrc, OtherNet: blocklist.NetExternal},
	}, Entries: []blocklist.Entry{
		{Prefix: netip.MustParsePrefix("203.0.113.66/32"), Rule: 0},
		{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Rule: 1},
		{Prefix: netip.MustParsePrefix("203.0.113.66/32"), Rule: 2},
		{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Rule: 3},
	}}
	h.block(l)
	if err := blocklistmaps.SetNetVars(h.s.Maps(), blocklistmaps.NetVars{
		Home: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, ExternalNotHome: true}); err != nil {
		t.Fatal(err)
	}
	syn := func(src, dst string) []byte {
		return frameSpec{v4: &ip4{src: src, dst: dst, proto: 6}, l4: tcpSeg{sport: 1000, dport: 6667, flags: event.TCPSyn}}.build()
	}
	cases := []struct {
		name     string
		src, dst string
		sid      uint32
		listed   uint8
	}{
		{"to it from outside HOME_NET: the prefix's rule", "198.51.100.5", "203.0.113.66", 21, uint8(abi.BpfRuleDirectionRULE_LISTED_DST)},
		{"to it from HOME_NET: the exact entry's rule", "192.0.2.10", "203.0.113.66", 20, uint8(abi.BpfRuleDirectionRULE_LISTED_DST)},
		{"from it to outside HOME_NET: the prefix's rule", "203.0.113.66", "198.51.100.5", 23, uint8(abi.BpfRuleDirectionRULE_LISTED_SRC)},
		{"from it to HOME_NET: the exact entry's rule", "203.0.113.66", "192.0.2.10", 22, uint8(abi.BpfRuleDirectionRULE_LISTED_SRC)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			h.clearFlows()
			before := h.stats()
			h.run(syn(c.src, c.dst))
			alerts, _ := h.events()
			if len(alerts) != 1 {
				t.Fatalf("%d alerts, want 1 (sid %d)", len(alerts), c.sid)
			}
			var r abi.BpfRule
			if err := h.s.Objects.Rules.Lookup(alerts[0].RuleId, &r); err != nil || r.Sid != c.sid {
				t.Fatalf("alert rule %#x sid %d (%v), want sid %d", alerts[0].RuleId, r.Sid, err, c.sid)
			}
			want(t, "listed", uint64(alerts[0].Listed), uint64(c.listed))
			want(t, "matches", h.stats().Matches-before.Matches, 1)
		})
	}
}

func TestHomeAndExternalNet(t *testing.T) {
	h := newHarness(t, Config{})
	home := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:1::/64")}
	l := &blocklist.List{Rules: []blocklist.Rule{
		// alert ip $HOME_NET any -> [203.0.113.66] any
		{GID: 1, SID: 10, Direction: blocklist.ListedAsDst, OtherNet: blocklist.NetHome},
		// alert ip [203.0.113.67] any -> $EXTERNAL_NET any
		{GID: 1, SID: 11, Direction: blocklist.ListedAsSrc, OtherNet: blocklist.NetExternal},
	}, Entries: []blocklist.Entry{
		{Prefix: netip.MustParsePrefix("203.0.113.66/32"), Rule: 0},
		{Prefix: netip.MustParsePrefix("203.0.113.67/32"), Rule: 1},
	}}
	h.block(l)
	syn := func(src, dst string) []byte {
		return frameSpec{v4: &ip4{src: src, dst: dst, proto: 6}, l4: tcpSeg{sport: 1000, dport: 6667, flags: event.TCPSyn}}.build()
	}
	cases := []struct {
		name     string
		nv       blocklistmaps.NetVars
		src, dst string
		sid      uint32 // 0: no alert
	}{
		{"home inside", blocklistmaps.NetVars{Home: home, ExternalAny: true}, "192.0.2.10", "203.0.113.66", 10},
		{"home outside", blocklistmaps.NetVars{Home: home, ExternalAny: true}, "198.51.100.5", "203.0.113.66", 0},
		{"home any", blocklistmaps.NetVars{HomeAny: true, ExternalAny: true}, "198.51.100.5", "203.0.113.66", 10},
		{"external any", blocklistmaps.NetVars{Home: home, ExternalAny: true}, "203.0.113.67", "192.0.2.10", 11},
		{"external !home, to home", blocklistmaps.NetVars{Home: home, ExternalNotHome: true}, "203.0.113.67", "192.0.2.10", 0},
		{"external !home, to outside", blocklistmaps.NetVars{Home: home, ExternalNotHome: true}, "203.0.113.67", "198.51.100.5", 11},
		{"external list, listed", blocklistmaps.NetVars{Home: home, External: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}, "203.0.113.67", "198.51.100.5", 11},
		{"external list, unlisted", blocklistmaps.NetVars{Home: home, External: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}, "203.0.113.67", "192.0.2.99", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			h.clearFlows()
			if err := blocklistmaps.SetNetVars(h.s.Maps(), c.nv); err != nil {
				t.Fatal(err)
			}
			h.run(syn(c.src, c.dst))
			alerts, _ := h.events()
			if c.sid == 0 {
				if len(alerts) != 0 {
					t.Fatalf("%d alerts, want none", len(alerts))
				}
				return
			}
			if len(alerts) != 1 {
				t.Fatalf("%d alerts, want 1", len(alerts))
			}
			var r abi.BpfRule
			if err := h.s.Objects.Rules.Lookup(alerts[0].RuleId, &r); err != nil || r.Sid != c.sid {
				t.Fatalf("alert rule %#x sid %d (%v), want sid %d", alerts[0].RuleId, r.Sid, err, c.sid)
			}
		})
	}
}

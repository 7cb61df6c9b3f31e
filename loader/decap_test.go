package loader

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

type encapCase struct {
	name  string
	frame []byte
	// The flow: the inner conversation unless set.
	src, dst     string
	sport, dport uint16
	proto        uint8
	vlans        []uint16
	// The tunnel the zone names (0: none), in packet order.
	kind       abi.BpfTunnelKind
	id         uint32
	outer      [2]string
	oports     [2]uint16
	oproto     uint8
	depth      uint8
	counters   []func(*abi.BpfSensorStats) uint64
	noAlert    bool // the flow is not the listed inner one
	noGopacket bool // gopacket has no decoder for it
}

func mplsCtr(s *abi.BpfSensorStats) uint64   { return s.MplsPackets }
func pppoeCtr(s *abi.BpfSensorStats) uint64  { return s.PppoePackets }
func pbbCtr(s *abi.BpfSensorStats) uint64    { return s.PbbPackets }
func vntagCtr(s *abi.BpfSensorStats) uint64  { return s.VntagPackets }
func etagCtr(s *abi.BpfSensorStats) uint64   { return s.EtagPackets }
func nshCtr(s *abi.BpfSensorStats) uint64    { return s.NshPackets }
func greCtr(s *abi.BpfSensorStats) uint64    { return s.GrePackets }
func erspanCtr(s *abi.BpfSensorStats) uint64 { return s.ErspanPackets }
func vxlanCtr(s *abi.BpfSensorStats) uint64  { return s.VxlanPackets }
func geneveCtr(s *abi.BpfSensorStats) uint64 { return s.GenevePackets }
func ipipCtr(s *abi.BpfSensorStats) uint64   { return s.IpipPackets }
func teredoCtr(s *abi.BpfSensorStats) uint64 { return s.TeredoPackets }
func deepCtr(s *abi.BpfSensorStats) uint64   { return s.TunnelTooDeep }
func vlanCtr(s *abi.BpfSensorStats) uint64   { return s.VlanPackets }

// The counters every case must leave alone unless it names them.
var encapCounters = []func(*abi.BpfSensorStats) uint64{mplsCtr, pppoeCtr, pbbCtr, vntagCtr, etagCtr, nshCtr,
	greCtr, erspanCtr, vxlanCtr, geneveCtr, ipipCtr, teredoCtr, deepCtr}

func encapCases() []encapCase {
	key42 := uint32(42)
	tun := func(c encapCase) encapCase { c.frame = ethFrame(0x0800, nil, c.frame); return c }
	return []encapCase{
		// Layer 2.
		{name: "mpls two labels", frame: ethFrame(0x8847, nil, ser(innerIP4(), mplsLabel(100, false), mplsLabel(200, true))),
			counters: []func(*abi.BpfSensorStats) uint64{mplsCtr}},
		{name: "mpls explicit null, ipv6", frame: ethFrame(0x8847, nil, ser(innerIP6(), mplsLabel(2, true))),
			src: innerSrc6, dst: innerDst6, proto: 17, counters: []func(*abi.BpfSensorStats) uint64{mplsCtr}},
		{name: "mpls pseudowire with control word", frame: ethFrame(0x8847, []vlanTag{{0x8100, 30}},
			ser(append(make([]byte, 4), innerEth()...), mplsLabel(300, true))),
			vlans: []uint16{30}, counters: []func(*abi.BpfSensorStats) uint64{mplsCtr, vlanCtr}, noGopacket: true},
		{name: "pppoe", frame: ethFrame(0x8864, nil, pppoe(layers.PPPTypeIPv4, innerIP4())),
			counters: []func(*abi.BpfSensorStats) uint64{pppoeCtr}},
		{name: "pppoe over qinq", frame: ethFrame(0x8864, []vlanTag{{0x88a8, 100}, {0x8100, 200}}, pppoe(layers.PPPTypeIPv4, innerIP4())),
			vlans: []uint16{100, 200}, counters: []func(*abi.BpfSensorStats) uint64{pppoeCtr, vlanCtr}},
		{name: "pppoe ipv6", frame: ethFrame(0x8864, nil, pppoe(layers.PPPTypeIPv6, innerIP6())),
			src: innerSrc6, dst: innerDst6, proto: 17, counters: []func(*abi.BpfSensorStats) uint64{pppoeCtr}},
		{name: "pbb", frame: ethFrame(0x88e7, []vlanTag{{0x88a8, 10}}, pbb(0x10203, 0x8100, append([]byte{0, 20, 0x08, 0}, innerIP4()...))),
			vlans: []uint16{10, 20}, counters: []func(*abi.BpfSensorStats) uint64{pbbCtr, vlanCtr}, noGopacket: true},
		{name: "vn-tag", frame: ethFrame(0x8926, nil, vntag(0x0800, innerIP4())),
			counters: []func(*abi.BpfSensorStats) uint64{vntagCtr}, noGopacket: true},
		{name: "e-tag", frame: ethFrame(0x893f, nil, etag(0x0800, innerIP4())),
			counters: []func(*abi.BpfSensorStats) uint64{etagCtr}, noGopacket: true},
		{name: "nsh", frame: ethFrame(0x894f, nil, nsh(1, innerIP4())),
			counters: []func(*abi.BpfSensorStats) uint64{nshCtr}, noGopacket: true},
		// Tunnels.
		tun(encapCase{name: "gre with key", frame: outer4(vtepA, vtepB, 47, gre(layers.EthernetTypeIPv4, &key42, false, innerIP4())),
			kind: abi.BpfTunnelKindTUNNEL_GRE, id: 42, outer: [2]string{vtepA, vtepB}, oproto: 47, depth: 1,
			counters: []func(*abi.BpfSensorStats) uint64{greCtr}}),
		tun(encapCase{name: "gre with sequence, ethernet", frame: outer4(vtepB, vtepA, 47, gre(layers.EthernetTypeTransparentEthernetBridging, nil, true, innerEth(vlanTag{0x8100, 7}))),
			vlans: []uint16{7}, kind: abi.BpfTunnelKindTUNNEL_GRE, outer: [2]string{vtepB, vtepA}, oproto: 47, depth: 1,
			counters: []func(*abi.BpfSensorStats) uint64{greCtr, vlanCtr}}),
		tun(encapCase{name: "erspan type I", frame: outer4(vtepA, vtepB, 47, gre(layers.EthernetTypeERSPAN, nil, false, innerEth())),
			kind: abi.BpfTunnelKindTUNNEL_ERSPAN_I, outer: [2]string{vtepA, vtepB}, oproto: 47, depth: 1,
			counters: []func(*abi.BpfSensorStats) uint64{erspanCtr}, noGopacket: true}),
		tun(encapCase{name: "erspan type II", frame: outer4(vtepA, vtepB, 47, gre(layers.EthernetTypeERSPAN, nil, true, erspan2(5, innerEth()))),
			kind: abi.BpfTunnelKindTUNNEL_ERSPAN_II, id: 5, outer: [2]string{vtepA, vtepB}, oproto: 47, depth: 1,
			counters: []func(*abi.BpfSensorStats) uint64{erspanCtr}}),
		tun(encapCase{name: "erspan type III with subheader", frame: outer4(vtepA, vtepB, 47, gre(0x22eb, nil, true, erspan3(9, true, innerEth()))),
			kind: abi.BpfTunnelKindTUNNEL_ERSPAN_III, id: 9, outer: [2]string{vtepA, vtepB}, oproto: 47, depth: 1,
			counters: []func(*abi.BpfSensorStats) uint64{erspanCtr}, noGopacket: true}),
		tun(encapCase{name: "vxlan", frame: outer4(vtepA, vtepB, 17, udpBytes(51000, 4789, vxlan(1001, innerEth()))),
			kind: abi.BpfTunnelKindTUNNEL_VXLAN, id: 1001, outer: [2]string{vtepA, vtepB}, oports: [2]uint16{51000, 4789}, oproto: 17, depth: 1,
			counters: []func(*abi.BpfSensorStats) uint64{vxlanCtr}}),
		tun(encapCase{name: "geneve with options", frame: outer4(vtepA, vtepB, 17, udpBytes(52000, 6081, geneve(77, layers.EthernetTypeTransparentEthernetBridging, 2, innerEth()))),
			kind: abi.BpfTunnelKindTUNNEL_GENEVE, id: 77, outer: [2]string{vtepA, vtepB}, oports: [2]uint16{52000, 6081}, oproto: 17, depth: 1,
			counters: []func(*abi.BpfSensorStats) uint64{geneveCtr}}),
		tun(encapCase{name: "geneve carrying ip", frame: outer4(vtepA, vtepB, 17, udpBytes(52001, 6081, geneve(78, layers.EthernetTypeIPv4, 0, innerIP4()))),
			kind: abi.BpfTunnelKindTUNNEL_GENEVE, id: 78, outer: [2]string{vtepA, vtepB}, oports: [2]uint16{52001, 6081}, oproto: 17, depth: 1,
			counters: []func(*abi.BpfSensorStats) uint64{geneveCtr}}),
		tun(encapCase{name: "4in4", frame: outer4(vtepA, vtepB, 4, innerIP4()),
			kind: abi.BpfTunnelKindTUNNEL_IPIP, outer: [2]string{vtepA, vtepB}, oproto: 4, depth: 1,
			counters: []func(*abi.BpfSensorStats) uint64{ipipCtr}}),
		tun(encapCase{name: "6in4", frame: outer4(vtepA, vtepB, 41, innerIP6()), src: innerSrc6, dst: innerDst6, proto: 17,
			kind: abi.BpfTunnelKindTUNNEL_IPIP, outer: [2]string{vtepA, vtepB}, oproto: 41, depth: 1,
			counters: []func(*abi.BpfSensorStats) uint64{ipipCtr}}),
		{name: "4in6", frame: ethFrame(0x86dd, nil, outer6(vtepA6, vtepB6, 4, innerIP4())),
			kind: abi.BpfTunnelKindTUNNEL_IPIP, outer: [2]string{vtepA6, vtepB6}, oproto: 4, depth: 1,
			counters: []func(*abi.BpfSensorStats) uint64{ipipCtr}},
		tun(encapCase{name: "teredo", frame: outer4(vtepA, vtepB, 17, udpBytes(3544, 40001, teredoOrigin(innerIP6()))), src: innerSrc6, dst: innerDst6, proto: 17,
			kind: abi.BpfTunnelKindTUNNEL_TEREDO, outer: [2]string{vtepA, vtepB}, oports: [2]uint16{3544, 40001}, oproto: 17, depth: 1,
			counters: []func(*abi.BpfSensorStats) uint64{teredoCtr}, noGopacket: true}),
		tun(encapCase{name: "vxlan inside erspan", frame: outer4("198.51.100.10", "198.51.100.20", 47, gre(layers.EthernetTypeERSPAN, nil, true, erspan2(5,
			ethFrame(0x0800, nil, outer4(vtepA, vtepB, 17, udpBytes(51000, 4789, vxlan(1001, innerEth()))))))),
			kind: abi.BpfTunnelKindTUNNEL_VXLAN, id: 1001, outer: [2]string{vtepA, vtepB}, oports: [2]uint16{51000, 4789}, oproto: 17, depth: 2,
			counters: []func(*abi.BpfSensorStats) uint64{erspanCtr, vxlanCtr}}),
		tun(encapCase{name: "third tunnel is too deep", frame: outer4("198.51.100.10", "198.51.100.20", 4, outer4(vtepA, vtepB, 4, outer4("198.51.100.30", "198.51.100.40", 4, innerIP4()))),
			src: "198.51.100.30", dst: "198.51.100.40", sport: 0, dport: 0, proto: 4, noAlert: true,
			kind: abi.BpfTunnelKindTUNNEL_IPIP, outer: [2]string{vtepA, vtepB}, oproto: 4, depth: 2,
			counters: []func(*abi.BpfSensorStats) uint64{ipipCtr, deepCtr}, noGopacket: true}),
	}
}

// TestEncapsulations runs every encapsulation and tunnel through the
// program: the flow is the inner conversation, its zone names the VLANs
// and the innermost tunnel, each header is counted, and the listed inner
// address raises an alert that names the inner flow and the tunnel.
func TestEncapsulations(t *testing.T) {
	h := newHarness(t, Config{})
	h.block(simpleList(blocklist.ListedAsDst, blocklist.NetAny, innerDst, innerDst6))
	for _, c := range encapCases() {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			h.clearFlows()
			h.events()
			if c.src == "" {
				c.src, c.dst = innerSrc, innerDst
			}
			if c.proto == 0 {
				c.proto = 6
			}
			if c.sport == 0 && c.dport == 0 && c.proto != 4 {
				c.sport, c.dport = innerSport, innerDport
			}
			if !c.noGopacket {
				sp, dp, ok := gopacketDecodes(c.frame)
				if !ok || sp != c.sport || dp != c.dport {
					t.Fatalf("gopacket reads ports %d %d (%v) of the frame, want %d %d", sp, dp, ok, c.sport, c.dport)
				}
			}
			before := h.stats()
			h.run(c.frame)
			after := h.stats()
			var d abi.BpfSensorStats
			subStats(&d, &after, &before)
			if n := malformedTotal(&d) + d.NonIpPackets; n != 0 {
				t.Fatalf("malformed or non-IP: %+v", d)
			}
			for _, ctr := range encapCounters {
				w := uint64(0)
				for _, named := range c.counters {
					if funcEq(named, ctr) {
						w = 1
					}
				}
				if got := ctr(&d); got != w {
					t.Errorf("counter %s = %d, want %d", counterName(ctr), got, w)
				}
			}
			want(t, "flows_new", d.FlowsNew, 1)

			k, v := h.onlyFlow()
			wantKey := canonicalKey(c.src, c.dst, c.sport, c.dport, c.proto)
			wantKey.Zone = k.Zone
			if k != wantKey {
				t.Fatalf("flow key\n got %+v\nwant %+v", k, wantKey)
			}
			want(t, "packets", v.dir[0].Packets+v.dir[1].Packets, 1)
			want(t, "frame bytes", v.dir[0].FrameBytes+v.dir[1].FrameBytes, uint64(len(c.frame)))
			h.checkZone(k.Zone, c)

			alerts, _ := h.events()
			if c.noAlert {
				if len(alerts) != 0 {
					t.Fatalf("%d alerts, want none", len(alerts))
				}
				return
			}
			if len(alerts) != 1 {
				t.Fatalf("%d alerts, want 1", len(alerts))
			}
			a := alerts[0]
			if a.Key != k || a.HasFlow != 1 || a.Layer != uint8(abi.BpfAlertLayerLAYER_INNER) ||
				a.Listed != uint8(abi.BpfRuleDirectionRULE_LISTED_DST) {
				t.Fatalf("alert key %+v has_flow %d layer %d listed %d; want the flow %+v, inner, dst", a.Key, a.HasFlow, a.Layer, a.Listed, k)
			}
			if got := abi.Addr(a.Pkt.Dst, a.Pkt.Family); got != netip.MustParseAddr(c.dst) {
				t.Errorf("alert packet dst %v, want %s", got, c.dst)
			}
			checkAlertTunnel(t, &a.Tunnel, c)
		})
	}
}

func funcEq(a, b func(*abi.BpfSensorStats) uint64) bool {
	// Distinct counters read distinct fields: tell them apart by effect.
	var s abi.BpfSensorStats
	w := statsWords(&s)
	for i := range w {
		w[i] = uint64(i + 1)
	}
	return a(&s) == b(&s)
}

func counterName(f func(*abi.BpfSensorStats) uint64) string {
	var probe abi.BpfSensorStats
	w := statsWords(&probe)
	for i := range w {
		w[i] = uint64(i + 1)
	}
	names, _ := abi.Counters(&probe)
	v := f(&probe)
	for _, n := range names {
		if n.Value == v {
			return n.Name
		}
	}
	return "?"
}

// canonicalKey is the flow key of a packet src:sport -> dst:dport.
func canonicalKey(src, dst string, sport, dport uint16, proto uint8) abi.BpfFlowKey {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	fam := uint8(4)
	if s.Is6() {
		fam = 6
	}
	var sb, db [16]byte
	copy(sb[:], s.AsSlice())
	copy(db[:], d.AsSlice())
	c := bytes.Compare(sb[:], db[:])
	if c > 0 || c == 0 && sport > dport {
		sb, db, sport, dport = db, sb, dport, sport
	}
	return abi.BpfFlowKey{AddrLo: sb, AddrHi: db, PortLo: sport, PortHi: dport, Proto: proto, Family: fam}
}

// zoneKey reads an interned zone.
func (h *harness) zoneKey(zone uint32) (abi.BpfZoneKey, bool) {
	var k abi.BpfZoneKey
	var id uint32
	it := h.s.Objects.Zones.Iterate()
	for it.Next(&k, &id) {
		if id == zone {
			return k, true
		}
	}
	return abi.BpfZoneKey{}, false
}

func (h *harness) checkZone(zone uint32, c encapCase) {
	t := h.t
	t.Helper()
	if c.kind == 0 && len(c.vlans) <= 1 {
		w := uint32(0)
		if len(c.vlans) == 1 {
			w = uint32(c.vlans[0])
		}
		if zone != w {
			t.Fatalf("zone %d, want %d", zone, w)
		}
		return
	}
	if zone <= abi.ZoneMaxVLAN {
		t.Fatalf("zone %d is not interned", zone)
	}
	zk, ok := h.zoneKey(zone)
	if !ok {
		t.Fatalf("zone %d is not in the zones map", zone)
	}
	if got := abi.VLANs(zk.Vlan); !slices.Equal(got, c.vlans) {
		t.Errorf("zone VLANs %v, want %v", got, c.vlans)
	}
	if zk.Tunnel != uint8(c.kind) || zk.TunnelId != c.id || zk.Depth != c.depth || zk.Proto != c.oproto {
		t.Errorf("zone tunnel kind %d id %d depth %d proto %d, want %d %d %d %d", zk.Tunnel, zk.TunnelId, zk.Depth, zk.Proto, c.kind, c.id, c.depth, c.oproto)
	}
	if c.kind == 0 {
		return
	}
	ok4 := canonicalKey(c.outer[0], c.outer[1], 0, 0, 0)
	if zk.OuterLo != ok4.AddrLo || zk.OuterHi != ok4.AddrHi || zk.Family != ok4.Family {
		t.Errorf("zone outer %v %v family %d, want %s %s in canonical order", zk.OuterLo, zk.OuterHi, zk.Family, c.outer[0], c.outer[1])
	}
}

func checkAlertTunnel(t *testing.T, tun *abi.BpfPacketTunnel, c encapCase) {
	t.Helper()
	if c.kind == 0 {
		if tun.Kind != 0 {
			t.Errorf("alert of an untunneled packet carries tunnel %+v", tun)
		}
		return
	}
	src, dst := netip.MustParseAddr(c.outer[0]), netip.MustParseAddr(c.outer[1])
	if tun.Kind != uint8(c.kind) || tun.Id != c.id || tun.Depth != c.depth || tun.Proto != c.oproto ||
		abi.Addr(tun.Src, tun.Family) != src || abi.Addr(tun.Dst, tun.Family) != dst ||
		tun.Sport != c.oports[0] || tun.Dport != c.oports[1] {
		t.Errorf("alert tunnel %+v, want kind %d id %d depth %d proto %d %s:%d -> %s:%d", tun, c.kind, c.id, c.depth, c.oproto,
			src, c.oports[0], dst, c.oports[1])
	}
}

// TestTunnelTenantsApart: the same inner conversation in two VXLAN
// segments is two flows; the reply, through the same tunnel the other
// way, joins its flow.
func TestTunnelTenantsApart(t *testing.T) {
	h := newHarness(t, Config{})
	inner := func(from, to string, sport, dport uint16) []byte {
		return frameSpec{v4: &ip4{src: from, dst: to, proto: 6}, l4: tcpSeg{sport: sport, dport: dport, flags: event.TCPSyn}}.build()
	}
	frame := func(a, b string, vni uint32, in []byte) []byte {
		return ethFrame(0x0800, nil, outer4(a, b, 17, udpBytes(50000+uint16(vni), 4789, vxlan(vni, in))))
	}
	h.run(frame(vtepA, vtepB, 1001, inner("10.0.0.1", "10.0.0.2", 1234, 80)))
	h.run(frame(vtepA, vtepB, 1002, inner("10.0.0.1", "10.0.0.2", 1234, 80)))
	h.run(frame(vtepB, vtepA, 1001, inner("10.0.0.2", "10.0.0.1", 80, 1234)))
	fl := h.flows()
	if len(fl) != 2 {
		t.Fatalf("%d flows, want 2: %+v", len(fl), fl)
	}
	zones := map[uint32]uint64{}
	for k, v := range fl {
		zk, ok := h.zoneKey(k.Zone)
		if !ok {
			t.Fatalf("zone %d not interned", k.Zone)
		}
		zones[zk.TunnelId] = v.dir[0].Packets + v.dir[1].Packets
	}
	if zones[1001] != 2 || zones[1002] != 1 {
		t.Fatalf("packets by VNI %v, want 1001: 2, 1002: 1", zones)
	}
}

// TestTunnelOuterMatch: a listed tunnel endpoint raises an alert on the
// inner flow's first packet each way, saying the outer layer matched.
func TestTunnelOuterMatch(t *testing.T) {
	h := newHarness(t, Config{})
	h.block(simpleList(blocklist.ListedAsAny, blocklist.NetAny, vtepB))
	in := frameSpec{v4: &ip4{src: "10.0.0.1", dst: "10.0.0.2", proto: 17}, l4: udpDgram{sport: 53000, dport: 53}}.build()
	back := frameSpec{v4: &ip4{src: "10.0.0.2", dst: "10.0.0.1", proto: 17}, l4: udpDgram{sport: 53, dport: 53000}}.build()
	h.run(ethFrame(0x0800, nil, outer4(vtepA, vtepB, 17, udpBytes(51000, 4789, vxlan(9, in)))))
	h.run(ethFrame(0x0800, nil, outer4(vtepA, vtepB, 17, udpBytes(51000, 4789, vxlan(9, in)))))
	h.run(ethFrame(0x0800, nil, outer4(vtepB, vtepA, 17, udpBytes(51001, 4789, vxlan(9, back)))))
	k, _ := h.onlyFlow()
	alerts, _ := h.events()
	if len(alerts) != 2 {
		t.Fatalf("%d alerts, want one each way", len(alerts))
	}
	for i, wantListed := range []abi.BpfRuleDirection{abi.BpfRuleDirectionRULE_LISTED_DST, abi.BpfRuleDirectionRULE_LISTED_SRC} {
		a := alerts[i]
		if a.Key != k || a.Layer != uint8(abi.BpfAlertLayerLAYER_OUTER) || a.Listed != uint8(wantListed) || a.Tunnel.Kind != uint8(abi.BpfTunnelKindTUNNEL_VXLAN) {
			t.Errorf("alert %d: key %+v layer %d listed %d tunnel %d; want the inner flow, outer, %d, vxlan", i, a.Key, a.Layer, a.Listed, a.Tunnel.Kind, wantListed)
		}
	}
	st := h.stats()
	want(t, "outer_matches", st.OuterMatches, 2)
	want(t, "alerts", st.Alerts, 2)
}

// TestTunnelPortsConfigured: VXLAN and Geneve are decoded on the ports
// the configuration names, and only there.
func TestTunnelPortsConfigured(t *testing.T) {
	h := newHarness(t, Config{})
	if err := SetTunnelPorts(h.s.Maps(), 8472, 6082); err != nil {
		t.Fatal(err)
	}
	h.run(ethFrame(0x0800, nil, outer4(vtepA, vtepB, 17, udpBytes(51000, 8472, vxlan(5, innerEth())))))
	h.run(ethFrame(0x0800, nil, outer4(vtepA, vtepB, 17, udpBytes(51000, 6082, geneve(6, layers.EthernetTypeTransparentEthernetBridging, 0, innerEth())))))
	h.run(ethFrame(0x0800, nil, outer4(vtepA, vtepB, 17, udpBytes(51000, 4789, vxlan(7, innerEth())))))
	st := h.stats()
	want(t, "vxlan_packets", st.VxlanPackets, 1)
	want(t, "geneve_packets", st.GenevePackets, 1)
	fl := h.flows()
	if len(fl) != 3 {
		t.Fatalf("%d flows, want 3", len(fl))
	}
	plain := canonicalKey(vtepA, vtepB, 51000, 4789, 17)
	if _, ok := fl[plain]; !ok {
		t.Errorf("UDP to 4789 is not a plain flow once VXLAN moved to 8472: %+v", fl)
	}
}

// TestFragmentsJoinTheirFlow: later fragments are counted in their first
// fragment's flow; one whose first piece never came is counted apart; a
// first fragment too short for its TCP header still makes a flow.
func TestFragmentsJoinTheirFlow(t *testing.T) {
	h := newHarness(t, Config{})
	h.block(simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.66"))
	first := frameSpec{v4: &ip4{src: "192.0.2.1", dst: "203.0.113.66", proto: 17, id: 777, mf: true},
		l4: udpDgram{sport: 5000, dport: 53, payload: make([]byte, 32)}}.build()
	later := frameSpec{v4: &ip4{src: "192.0.2.1", dst: "203.0.113.66", proto: 17, id: 777, fragOffset: 5},
		l4: rawL4(make([]byte, 24))}.build()
	orphan := frameSpec{v4: &ip4{src: "192.0.2.1", dst: "203.0.113.66", proto: 17, id: 778, fragOffset: 5},
		l4: rawL4(make([]byte, 24))}.build()
	h.run(first)
	h.run(later)
	h.run(orphan)
	k, v := h.onlyFlow()
	if k.PortLo != 5000 && k.PortHi != 5000 {
		t.Fatalf("flow key %+v lacks the first fragment's ports", k)
	}
	d := v.dir[v.initiator()]
	want(t, "packets", d.Packets, 2)
	want(t, "ip bytes", d.Bytes, uint64(len(first)-14+len(later)-14))
	want(t, "payload", d.PayloadBytes, 32+24)
	st := h.stats()
	want(t, "fragments", st.Fragments, 2)
	want(t, "fragments_joined", st.FragmentsJoined, 1)
	want(t, "fragments_orphaned", st.FragmentsOrphaned, 1)
	alerts, _ := h.events()
	if len(alerts) != 2 || alerts[0].HasFlow != 1 || alerts[1].HasFlow != 0 {
		t.Fatalf("alerts %d, want the first fragment's (in its flow) and the orphan's (no flow)", len(alerts))
	}

	// Alerting on every packet, a later fragment's alert names its flow.
	if err := h.s.SetAlertEveryPacket(true); err != nil {
		t.Fatal(err)
	}
	h.run(later)
	alerts, _ = h.events()
	if len(alerts) != 1 || alerts[0].HasFlow != 1 || alerts[0].Key != k || alerts[0].Pkt.Fragment != 1 {
		t.Fatalf("later fragment's alerts %+v, want one in the flow %+v", alerts, k)
	}
	if err := h.s.SetAlertEveryPacket(false); err != nil {
		t.Fatal(err)
	}

	h.clearFlows()
	short := frameSpec{v4: &ip4{src: "192.0.2.9", dst: "198.51.100.9", proto: 6, id: 900, mf: true}, l4: rawL4(make([]byte, 8))}.build()
	rest := frameSpec{v4: &ip4{src: "192.0.2.9", dst: "198.51.100.9", proto: 6, id: 900, fragOffset: 1}, l4: rawL4(make([]byte, 40))}.build()
	h.run(short)
	h.run(rest)
	k, v = h.onlyFlow()
	if k.PortLo != 0 || k.PortHi != 0 || k.Proto != 6 {
		t.Fatalf("short first fragment: flow key %+v, want TCP without ports", k)
	}
	want(t, "packets", v.dir[v.initiator()].Packets, 2)
	st2 := h.stats()
	want(t, "malformed_l4", st2.MalformedL4, 0)
	want(t, "fragments_joined", st2.FragmentsJoined, 3)
}

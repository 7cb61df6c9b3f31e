package bench

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xdpsensor/xdpsensor/loader/abi"
)

// The known-flow case inside each encapsulation the kernel decodes: what
// a packet of a known flow costs when a monitoring port delivers it
// tunneled. Compare with BenchmarkSensor/known-flow of the same run.

func serializeLayers(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

var (
	benchMACs  = [2]net.HardwareAddr{{2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2}}
	vtep       = [2]net.IP{net.ParseIP("198.51.100.1"), net.ParseIP("198.51.100.2")}
	tunneledIn = Frame{Src: "192.0.2.10", Dst: "198.51.100.20", SrcPort: 40010, DstPort: 443, Flags: "A", Payload: 6}
)

func etherOf(et layers.EthernetType, payload []byte) []byte {
	return serializeLayers(&layers.Ethernet{SrcMAC: benchMACs[0], DstMAC: benchMACs[1], EthernetType: et}, gopacket.Payload(payload))
}

func overIPv4(proto layers.IPProtocol, ls ...gopacket.SerializableLayer) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: vtep[0], DstIP: vtep[1]}
	return etherOf(layers.EthernetTypeIPv4, serializeLayers(append([]gopacket.SerializableLayer{ip}, ls...)...))
}

// tunnelFrames are the rows: the inner frame (Ethernet) and its IP packet,
// wrapped as each encapsulation carries them.
func tunnelFrames() []struct {
	name  string
	frame []byte
} {
	inner := tunneledIn.Build()
	ip := inner[14:]
	ip6 := Frame{Src: "2001:db8:1::10", Dst: "2001:db8:2::20", SrcPort: 40011, DstPort: 443, Flags: "A", Payload: 6}.Build()[14:]
	geneve := make([]byte, 8)
	binary.BigEndian.PutUint16(geneve[2:], uint16(layers.EthernetTypeTransparentEthernetBridging))
	geneve[6] = 77
	return []struct {
		name  string
		frame []byte
	}{
		{"mpls-known-flow", etherOf(layers.EthernetTypeMPLSUnicast, serializeLayers(&layers.MPLS{Label: 16, StackBottom: true, TTL: 64}, gopacket.Payload(ip)))},
		{"pppoe-known-flow", etherOf(layers.EthernetTypePPPoESession, serializeLayers(
			&layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 7}, &layers.PPP{PPPType: layers.PPPTypeIPv4}, gopacket.Payload(ip)))},
		{"gre-known-flow", overIPv4(layers.IPProtocolGRE, &layers.GRE{Protocol: layers.EthernetTypeIPv4, KeyPresent: true, Key: 42}, gopacket.Payload(ip))},
		{"erspan-known-flow", overIPv4(layers.IPProtocolGRE, &layers.GRE{Protocol: layers.EthernetTypeERSPAN, SeqPresent: true},
			&layers.ERSPANII{Version: 1, SessionID: 5}, gopacket.Payload(inner))},
		{"vxlan-known-flow", overIPv4(layers.IPProtocolUDP, &layers.UDP{SrcPort: 50001, DstPort: 4789},
			&layers.VXLAN{ValidIDFlag: true, VNI: 1001}, gopacket.Payload(inner))},
		{"geneve-known-flow", overIPv4(layers.IPProtocolUDP, &layers.UDP{SrcPort: 50001, DstPort: 6081}, gopacket.Payload(append(geneve, inner...)))},
		{"ipip-known-flow", overIPv4(layers.IPProtocolIPv4, gopacket.Payload(ip))},
		{"teredo-known-flow", overIPv4(layers.IPProtocolUDP, &layers.UDP{SrcPort: 3544, DstPort: 50001}, gopacket.Payload(ip6))},
	}
}

func BenchmarkSensorTunnel(b *testing.B) {
	setup(b)
	sb := sensors[""]
	for _, c := range tunnelFrames() {
		b.Run(c.name, func(b *testing.B) {
			before, _ := sb.s.Maps().ReadStats()
			measure(b, sb.s.Objects.Xdpsensor, c.frame, sb.drain)
			after, _ := sb.s.Maps().ReadStats()
			decoded := func(s *abi.BpfSensorStats) uint64 {
				return s.MplsPackets + s.PppoePackets + s.GrePackets + s.ErspanPackets + s.VxlanPackets +
					s.GenevePackets + s.IpipPackets + s.TeredoPackets
			}
			if decoded(&after) == decoded(&before) || after.NonIpPackets != before.NonIpPackets || after.MalformedEncap != before.MalformedEncap {
				b.Fatalf("%s: the frame was not decoded (%d non-IP, %d malformed)", c.name,
					after.NonIpPackets-before.NonIpPackets, after.MalformedEncap-before.MalformedEncap)
			}
		})
	}
}

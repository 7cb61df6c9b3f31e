package bench

import (
	"net"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Frame describes a benchmark packet.
type Frame struct {
	Src, Dst string
	SrcPort  uint16
	DstPort  uint16
	VLAN     uint16 // 0: untagged
	Payload  int    // bytes of TCP payload
	Flags    string // "S", "A", "PA"...
}

// Build serializes the frame (Ethernet, optional 802.1Q, IPv4/IPv6, TCP).
func (f Frame) Build() []byte {
	src, dst := net.ParseIP(f.Src), net.ParseIP(f.Dst)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth)
	var netLayer gopacket.NetworkLayer
	ipType := layers.EthernetTypeIPv4
	if src.To4() == nil {
		ipType = layers.EthernetTypeIPv6
	}
	if f.VLAN != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: f.VLAN, Type: ipType})
	} else {
		eth.EthernetType = ipType
	}
	if ipType == layers.EthernetTypeIPv4 {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		ls = append(ls, ip)
		netLayer = ip
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		ls = append(ls, ip)
		netLayer = ip
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(f.SrcPort), DstPort: layers.TCPPort(f.DstPort), Window: 64240, Seq: 1}
	for _, c := range f.Flags {
		switch c {
		case 'S':
			tcp.SYN = true
		case 'A':
			tcp.ACK = true
		case 'P':
			tcp.PSH = true
		case 'F':
			tcp.FIN = true
		case 'R':
			tcp.RST = true
		}
	}
	tcp.SetNetworkLayerForChecksum(netLayer)
	ls = append(ls, tcp, gopacket.Payload(make([]byte, f.Payload)))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

package snortalert

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/xdpsensor/xdpsensor/userspace/classification"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// snapLen is the kernel's alert snapshot: the first 256 bytes of the frame.
const snapLen = 256

// readPcap returns the frames and capture times of a file in the
// repository's testdata.
func readPcap(t testing.TB, name string) ([][]byte, []time.Time) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	var times []time.Time
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, data)
		times = append(times, ci.Timestamp)
	}
	return frames, times
}

// packetFromFrame decodes an Ethernet frame with gopacket and fills the
// header fields as the kernel does (bpf/xdpsensor.c fill_packet_fields).
func packetFromFrame(t testing.TB, frame []byte, ts time.Time) event.Packet {
	t.Helper()
	// Errors past the headers the kernel reads (a truncated ICMP message,
	// a "DNS" payload that is not) leave those layers out, as the kernel
	// leaves their fields 0.
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	p := event.Packet{
		Time:     ts,
		FrameLen: uint32(len(frame)),
		Data:     append([]byte(nil), frame[:min(len(frame), snapLen)]...),
	}
	for _, l := range pkt.Layers() {
		switch l := l.(type) {
		case *layers.Dot1Q:
			p.VLAN = append(p.VLAN, l.VLANIdentifier)
		case *layers.IPv4:
			p.Src.IP = netip.AddrFrom4([4]byte(l.SrcIP.To4()))
			p.Dst.IP = netip.AddrFrom4([4]byte(l.DstIP.To4()))
			p.Proto = uint8(l.Protocol)
			p.TTL = l.TTL
			p.TOS = l.TOS
			p.IPHeaderLen = l.IHL * 4
			p.IPLen = l.Length
			p.IPID = l.Id
			p.IPFlags = uint8(l.Flags) // evil (reserved) 4, DF 2, MF 1: ip_off >> 13
			p.FragOffset = l.FragOffset
			p.Fragment = l.FragOffset != 0
		case *layers.IPv6:
			p.Src.IP = netip.AddrFrom16([16]byte(l.SrcIP.To16()))
			p.Dst.IP = netip.AddrFrom16([16]byte(l.DstIP.To16()))
			p.Proto = uint8(l.NextHeader)
			p.TTL = l.HopLimit
			p.TOS = l.TrafficClass
			p.IPHeaderLen = 40
			p.IPLen = l.Length + 40
			if l.HopByHop != nil {
				p.Proto = uint8(l.HopByHop.NextHeader)
			}
		case *layers.IPv6Destination:
			p.Proto = uint8(l.NextHeader)
		case *layers.IPv6Routing:
			p.Proto = uint8(l.NextHeader)
		case *layers.IPv6Fragment:
			p.Proto = uint8(l.NextHeader)
			p.Fragment = l.FragmentOffset != 0
		case *layers.TCP:
			if p.Fragment {
				continue
			}
			p.Src.Port, p.Dst.Port = uint16(l.SrcPort), uint16(l.DstPort)
			p.TCPFlags = tcpFlags(l)
			p.Seq, p.Ack = l.Seq, l.Ack
			p.Window, p.UrgPtr = l.Window, l.Urgent
			p.TCPHeaderLen = l.DataOffset * 4
		case *layers.UDP:
			if p.Fragment {
				continue
			}
			p.Src.Port, p.Dst.Port = uint16(l.SrcPort), uint16(l.DstPort)
		case *layers.ICMPv4:
			p.ICMPType, p.ICMPCode = l.TypeCode.Type(), l.TypeCode.Code()
		case *layers.ICMPv6:
			p.ICMPType, p.ICMPCode = l.TypeCode.Type(), l.TypeCode.Code()
		}
	}
	return p
}

func tcpFlags(l *layers.TCP) uint8 {
	var f uint8
	for _, b := range []struct {
		on  bool
		bit uint8
	}{
		{l.FIN, event.TCPFin}, {l.SYN, event.TCPSyn}, {l.RST, event.TCPRst}, {l.PSH, event.TCPPsh},
		{l.ACK, event.TCPAck}, {l.URG, event.TCPUrg}, {l.ECE, event.TCPEce}, {l.CWR, event.TCPCwr},
	} {
		if b.on {
			f |= b.bit
		}
	}
	return f
}

// seedRule is the bleeding-edge rule of the seed alert, its category and
// priority from Snort's classification table as the rule resolver gives
// them.
func seedRule() *event.Rule {
	c, _ := classification.Standard().Lookup("trojan-activity")
	return &event.Rule{
		ID: 1, GID: 1, SID: 2404000, Rev: 602,
		Msg:       "BLEEDING-EDGE DROP Known Bot C&C Server Traffic (group 1)",
		Classtype: "trojan-activity",
		Category:  c.Description,
		Priority:  c.Priority,
	}
}

// seedAlert is the alert for the first SYN of testdata/bot-cc-syn.pcap.
func seedAlert(t testing.TB) *event.Alert {
	t.Helper()
	frames, times := readPcap(t, "bot-cc-syn.pcap")
	return &event.Alert{
		FlowID: 7,
		Rule:   seedRule(),
		Listed: event.ListedDst,
		Packet: packetFromFrame(t, frames[0], times[0]),
	}
}

var (
	macA = net.HardwareAddr{0x00, 0x0c, 0x29, 0x1a, 0x2b, 0x3c}
	macB = net.HardwareAddr{0x00, 0x50, 0x56, 0xc0, 0x00, 0x08}
	t0   = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
)

// build serializes layers into a frame, lengths and checksums computed.
func build(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	for _, l := range ls {
		switch l := l.(type) {
		case *layers.TCP:
			for _, n := range ls {
				if nl, ok := n.(gopacket.NetworkLayer); ok {
					if err := l.SetNetworkLayerForChecksum(nl); err != nil {
						t.Fatal(err)
					}
				}
			}
		case *layers.ICMPv6:
			for _, n := range ls {
				if nl, ok := n.(gopacket.NetworkLayer); ok {
					if err := l.SetNetworkLayerForChecksum(nl); err != nil {
						t.Fatal(err)
					}
				}
			}
		case *layers.UDP:
			for _, n := range ls {
				if nl, ok := n.(gopacket.NetworkLayer); ok {
					if err := l.SetNetworkLayerForChecksum(nl); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ethernet(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
}

func ipv4(proto layers.IPProtocol, src, dst string) *layers.IPv4 {
	return &layers.IPv4{
		Version: 4, IHL: 5, TTL: 64, Id: 4660, Flags: layers.IPv4DontFragment,
		Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4(),
	}
}

func ipv6(next layers.IPProtocol, src, dst string) *layers.IPv6 {
	return &layers.IPv6{
		Version: 6, HopLimit: 64, NextHeader: next,
		SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst),
	}
}

// alertFor wraps a frame into an alert of the seed rule.
func alertFor(t testing.TB, frame []byte) *event.Alert {
	t.Helper()
	return &event.Alert{Rule: seedRule(), Packet: packetFromFrame(t, frame, t0)}
}

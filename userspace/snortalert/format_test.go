package snortalert

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xdpsensor/xdpsensor/userspace/classification"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

const seedHead = "[**] [1:2404000:602] BLEEDING-EDGE DROP Known Bot C&C Server Traffic (group 1) [**]\n" +
	"[Classification: A Network Trojan was detected] [Priority: 1] \n"

const seedFastHead = " [**] [1:2404000:602] BLEEDING-EDGE DROP Known Bot C&C Server Traffic (group 1) [**] " +
	"[Classification: A Network Trojan was detected] [Priority: 1] "

const ts0 = "05/06-07:08:09.123456 "

func checkFull(t *testing.T, a *event.Alert, opts Options, want string) {
	t.Helper()
	if got := string(AppendFull(nil, a, opts)); got != want {
		t.Errorf("alert_full:\n got %q\nwant %q", got, want)
	}
}

func checkFast(t *testing.T, a *event.Alert, opts Options, want string) {
	t.Helper()
	if got := string(AppendFast(nil, a, opts)); got != want {
		t.Errorf("alert_fast:\n got %q\nwant %q", got, want)
	}
}

func TestUDP(t *testing.T) {
	frame := build(t, ethernet(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolUDP, "10.0.0.1", "10.0.0.2"),
		&layers.UDP{SrcPort: 5353, DstPort: 53}, gopacket.Payload("hello"))
	a := alertFor(t, frame)
	// log_text.c:940 "Len: %d\n", the UDP length less its header.
	checkFull(t, a, Options{}, seedHead+ts0+"10.0.0.1:5353 -> 10.0.0.2:53\n"+
		"UDP TTL:64 TOS:0x0 ID:4660 IpLen:20 DgmLen:33 DF\n"+
		"Len: 5\n\n")
	checkFast(t, a, Options{}, "05/06-07:08:09.123456 "+seedFastHead+"{UDP} 10.0.0.1:5353 -> 10.0.0.2:53\n")

	// Without the frame the length comes from the IP header.
	a.Packet.Data = nil
	checkFull(t, a, Options{}, seedHead+ts0+"10.0.0.1:5353 -> 10.0.0.2:53\n"+
		"UDP TTL:64 TOS:0x0 ID:4660 IpLen:20 DgmLen:33 DF\n"+
		"Len: 5\n\n")
}

// TestUDPBadLength: Snort's DecodeUDP drops a header whose length is not
// the IP payload's (decode.c DecodeUDP), leaving the ports 0 and the
// logger saying "UDP header truncated" (log_text.c:936).
func TestUDPBadLength(t *testing.T) {
	frame := build(t, ethernet(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolUDP, "10.0.0.1", "10.0.0.2"),
		&layers.UDP{SrcPort: 5353, DstPort: 53}, gopacket.Payload("hello"))
	a := alertFor(t, frame)
	a.Packet.Data[14+20+5] = 99 // UDP length
	checkFull(t, a, Options{}, seedHead+ts0+"10.0.0.1:0 -> 10.0.0.2:0\n"+
		"UDP TTL:64 TOS:0x0 ID:4660 IpLen:20 DgmLen:33 DF\n"+
		"UDP header truncated\n\n")
}

func icmpFrame(t *testing.T, typ, code uint8, id, seq uint16, payload []byte) []byte {
	return build(t, ethernet(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolICMPv4, "10.0.0.1", "10.0.0.2"),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: id, Seq: seq}, gopacket.Payload(payload))
}

func TestICMPEcho(t *testing.T) {
	a := alertFor(t, icmpFrame(t, 8, 0, 4660, 1, []byte("abcdefgh")))
	// log_text.c:1113 "Type:%d  Code:%d  ", :1248 "ID:%d   Seq:%d  " (three
	// spaces after the ID), :1250 "ECHO", :1342 newline; no ports
	// (LogIpAddrs, log_text.c:563-580).
	checkFull(t, a, Options{}, seedHead+ts0+"10.0.0.1 -> 10.0.0.2\n"+
		"ICMP TTL:64 TOS:0x0 ID:4660 IpLen:20 DgmLen:36 DF\n"+
		"Type:8  Code:0  ID:4660   Seq:1  ECHO\n\n")
	checkFast(t, a, Options{}, "05/06-07:08:09.123456 "+seedFastHead+"{ICMP} 10.0.0.1 -> 10.0.0.2\n")

	r := alertFor(t, icmpFrame(t, 0, 0, 4660, 2, nil))
	checkFull(t, r, Options{}, seedHead+ts0+"10.0.0.1 -> 10.0.0.2\n"+
		"ICMP TTL:64 TOS:0x0 ID:4660 IpLen:20 DgmLen:28 DF\n"+
		"Type:0  Code:0  ID:4660  Seq:2  ECHO REPLY\n\n")

	// Without the frame: the identifiers are not known and left out.
	a.Packet.Data = nil
	checkFull(t, a, Options{}, seedHead+ts0+"10.0.0.1 -> 10.0.0.2\n"+
		"ICMP TTL:64 TOS:0x0 ID:4660 IpLen:20 DgmLen:36 DF\n"+
		"Type:8  Code:0  ECHO\n\n")
}

func TestICMPTruncated(t *testing.T) {
	// An echo request of 6 bytes: DecodeICMP wants 8.
	frame := build(t, ethernet(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolICMPv4, "10.0.0.1", "10.0.0.2"),
		gopacket.Payload([]byte{8, 0, 0xf7, 0xff, 0, 0}))
	a := alertFor(t, frame)
	a.Packet.ICMPType = 8
	checkFull(t, a, Options{}, seedHead+ts0+"10.0.0.1 -> 10.0.0.2\n"+
		"ICMP TTL:64 TOS:0x0 ID:4660 IpLen:20 DgmLen:26 DF\n"+
		"ICMP header truncated\n\n")
}

// quoted returns the IP header and the first bytes of a datagram, as an
// ICMP error quotes it.
func quoted(t *testing.T, n int, ls ...gopacket.SerializableLayer) []byte {
	f := build(t, append([]gopacket.SerializableLayer{ethernet(layers.EthernetTypeIPv4)}, ls...)...)
	return f[14 : 14+n]
}

func TestICMPUnreachable(t *testing.T) {
	orig := quoted(t, 40, ipv4(layers.IPProtocolUDP, "10.0.0.2", "10.0.0.1"),
		&layers.UDP{SrcPort: 40000, DstPort: 53}, gopacket.Payload("0123456789abcdef"))
	a := alertFor(t, icmpFrame(t, 3, 3, 0, 0, orig))
	// log_text.c:1124 "DESTINATION UNREACHABLE: ", :1140 "PORT
	// UNREACHABLE", then LogICMPEmbeddedIP: :1047 "\n** ORIGINAL DATAGRAM
	// DUMP:\n", LogIPHeader of the quoted header (with its ports), :1061
	// "Len: %d  Csum: %d\n", :1080 "(%d more bytes of original packet)\n",
	// :1084 "** END OF DUMP", and LogICMPHeader's newline.
	checkFull(t, a, Options{}, seedHead+ts0+"10.0.0.1 -> 10.0.0.2\n"+
		"ICMP TTL:64 TOS:0x0 ID:4660 IpLen:20 DgmLen:68 DF\n"+
		"Type:3  Code:3  DESTINATION UNREACHABLE: PORT UNREACHABLE\n"+
		"** ORIGINAL DATAGRAM DUMP:\n"+
		"10.0.0.2:40000 -> 10.0.0.1:53\n"+
		"UDP TTL:64 TOS:0x0 ID:4660 IpLen:20 DgmLen:44 DF\n"+
		"Len: 16  Csum: "+itoa(int(be16(orig, 26)))+"\n"+
		"(12 more bytes of original packet)\n"+
		"** END OF DUMP\n\n")

	// Fragmentation needed, quoting TCP: "Seq: 0x%lX\n" (log_text.c:1055).
	orig = quoted(t, 28, ipv4(layers.IPProtocolTCP, "10.0.0.2", "10.0.0.1"),
		&layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 0xDEADBEEF, ACK: true, Window: 512})
	m := icmpFrame(t, 3, 4, 0, 1400, orig) // Seq is the next-hop MTU's place
	checkFull(t, alertFor(t, m), Options{}, seedHead+ts0+"10.0.0.1 -> 10.0.0.2\n"+
		"ICMP TTL:64 TOS:0x0 ID:4660 IpLen:20 DgmLen:56 DF\n"+
		"Type:3  Code:4  DESTINATION UNREACHABLE: FRAGMENTATION NEEDED, DF SET\n"+
		"NEXT LINK MTU: 1400\n"+
		"** ORIGINAL DATAGRAM DUMP:\n"+
		"10.0.0.2:40000 -> 10.0.0.1:443\n"+
		"TCP TTL:64 TOS:0x0 ID:4660 IpLen:20 DgmLen:40 DF\n"+
		"Seq: 0xDEADBEEF\n"+
		"** END OF DUMP\n\n")

	// A quote shorter than an IP header: log_text.c:1088.
	short := icmpFrame(t, 11, 0, 0, 0, orig[:12])
	checkFull(t, alertFor(t, short), Options{}, seedHead+ts0+"10.0.0.1 -> 10.0.0.2\n"+
		"ICMP TTL:64 TOS:0x0 ID:4660 IpLen:20 DgmLen:40 DF\n"+
		"Type:11  Code:0  TTL EXCEEDED IN TRANSIT\n"+
		"ORIGINAL DATAGRAM TRUNCATED\n\n")

	// A quoted ICMP echo: LogEmbeddedICMPHeader (log_text.c:964, :991).
	orig = quoted(t, 28, ipv4(layers.IPProtocolICMPv4, "10.0.0.2", "10.0.0.1"),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: 9})
	got := string(AppendFull(nil, alertFor(t, icmpFrame(t, 11, 1, 0, 0, orig)), Options{}))
	want := "Type:11  Code:1  TTL EXCEEDED TIME EXCEEDED IN FRAG REASSEMBLY\n" +
		"** ORIGINAL DATAGRAM DUMP:\n" +
		"10.0.0.2 -> 10.0.0.1\n" +
		"ICMP TTL:64 TOS:0x0 ID:4660 IpLen:20 DgmLen:28 DF\n" +
		"Type: 8  Code: 0  Csum: " + itoa(int(be16(orig, 22))) + "  Id: 7  SeqNo: 9\n" +
		"** END OF DUMP\n\n"
	if !strings.HasSuffix(got, want) {
		t.Errorf("quoted echo:\n got %q\nwant suffix %q", got, want)
	}
}

func TestICMPOtherTypes(t *testing.T) {
	for _, c := range []struct {
		typ, code uint8
		id, seq   uint16
		payload   []byte
		want      string
	}{
		{13, 0, 1, 2, make([]byte, 12), "Type:13  Code:0  ID: 1  Seq: 2  TIMESTAMP REQUEST\n"},
		// The three times are printed without ntohl (log_text.c:1309-1313).
		{14, 0, 1, 2, []byte{1, 0, 0, 0, 0, 0, 0, 2, 0, 0, 1, 0}, "Type:14  Code:0  ID: 1  Seq: 2  TIMESTAMP REPLY:\nOrig: 1 Rtime: 33554432  Ttime: 65536\n"},
		{15, 0, 3, 4, nil, "Type:15  Code:0  ID: 3  Seq: 4  INFO REQUEST\n"},
		{16, 0, 3, 4, nil, "Type:16  Code:0  ID: 3  Seq: 4  INFO REPLY\n"},
		{17, 0, 5, 6, make([]byte, 4), "Type:17  Code:0  ID: 5  Seq: 6  ADDRESS REQUEST\n"},
		{18, 0, 5, 6, []byte{255, 255, 255, 0}, "Type:18  Code:0  ID: 5  Seq: 6  ADDRESS REPLY: 0xFFFFFF00\n"},
		{10, 0, 0, 0, nil, "Type:10  Code:0  ROUTER SOLICITATION\n"},
		{9, 0, 0x0102, 1800, make([]byte, 8), "Type:9  Code:0  ROUTER ADVERTISMENT: Num addrs: 1 Addr entry size: 2 Lifetime: 1800\n"},
		{42, 7, 0, 0, nil, "Type:42  Code:7  UNKNOWN\n"},
		{13, 0, 1, 2, nil, "ICMP header truncated\n"}, // a timestamp needs 20 bytes
	} {
		a := alertFor(t, icmpFrame(t, c.typ, c.code, c.id, c.seq, c.payload))
		got := string(AppendFull(nil, a, Options{}))
		if !strings.HasSuffix(got, " DF\n"+c.want+"\n") {
			t.Errorf("type %d: got %q, want it to end %q", c.typ, got, c.want)
		}
	}
	// Redirect: " NEW GW: %s" (log_text.c:1238) and the quoted datagram.
	orig := quoted(t, 28, ipv4(layers.IPProtocolUDP, "10.0.0.2", "8.8.8.8"), &layers.UDP{SrcPort: 1, DstPort: 53})
	pl := append([]byte(nil), orig...)
	m := build(t, ethernet(layers.EthernetTypeIPv4), ipv4(layers.IPProtocolICMPv4, "10.0.0.1", "10.0.0.2"),
		gopacket.Payload(append([]byte{5, 1, 0, 0, 192, 168, 1, 254}, pl...)))
	got := string(AppendFull(nil, alertFor(t, m), Options{}))
	if !strings.Contains(got, "Type:5  Code:1  REDIRECT HOST NEW GW: 192.168.1.254\n** ORIGINAL DATAGRAM DUMP:\n10.0.0.2:1 -> 8.8.8.8:53\n") {
		t.Errorf("redirect: %q", got)
	}
}

func TestIPv6TCP(t *testing.T) {
	tcp := &layers.TCP{SrcPort: 51000, DstPort: 443, Seq: 1, SYN: true, ECE: true, CWR: true, Window: 65535,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xa0}},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 0x30, 0x39, 0, 0, 0, 0}},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		}}
	ip := ipv6(layers.IPProtocolTCP, "2001:db8::1", "2001:db8:0:1::2")
	ip.TrafficClass = 0xb8
	frame := build(t, ethernet(layers.EthernetTypeIPv6), ip, tcp)
	a := alertFor(t, frame)
	// IPv6: IpLen is always 40 (sf_iph.c ip6_ret_hlen), DgmLen the payload
	// length plus 40, ID 0 without extension headers (ip6_ret_id), TOS the
	// traffic class; addresses as inet_ntop writes them, the port after a
	// colon all the same (log_text.c:594). CWR and ECE print as 1 and 2
	// (log.c:1179-1180, decode.h TH_RES1/TH_RES2).
	checkFull(t, a, Options{}, seedHead+ts0+"2001:db8::1:51000 -> 2001:db8:0:1::2:443\n"+
		"TCP TTL:64 TOS:0xB8 ID:0 IpLen:40 DgmLen:80\n"+
		"12****S* Seq: 0x1  Ack: 0x0  Win: 0xFFFF  TcpLen: 40\n"+
		"TCP Options (5) => MSS: 1440 SackOK TS: 12345 0 NOP WS: 7 \n\n")
	checkFast(t, a, Options{}, "05/06-07:08:09.123456 "+seedFastHead+"{TCP} 2001:db8::1:51000 -> 2001:db8:0:1::2:443\n")
}

func TestIPv6ICMP(t *testing.T) {
	frame := build(t, ethernet(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolICMPv6, "fe80::1", "ff02::1"),
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}, gopacket.Payload([]byte{0, 1, 0, 2}))
	a := alertFor(t, frame)
	// alert_full logs nothing past the IP header for ICMPv6
	// (spo_alert_full.c:188-203 knows TCP, UDP and ICMP only).
	checkFull(t, a, Options{}, seedHead+ts0+"fe80::1 -> ff02::1\n"+
		"IPV6-ICMP TTL:64 TOS:0x0 ID:0 IpLen:40 DgmLen:48\n\n")
	checkFast(t, a, Options{}, "05/06-07:08:09.123456 "+seedFastHead+"{IPV6-ICMP} fe80::1 -> ff02::1\n")
}

// TestIPv6Fragment shows Snort's IPv6 fragment quirks: decoding stops at
// the fragment header, so the protocol is IPV6-FRAG (decode.c
// DecodeIPV6Options returns before DecodeIPV6Extensions sets the next
// header); the ID is the fragment header's identification; RB/DF/MF are
// read from the top bits of its offset field (sf_iph.c ip6_ret_off,
// log_text.c:638-647), so an offset of 2048 units prints " DF".
func TestIPv6Fragment(t *testing.T) {
	frame := build(t, ethernet(layers.EthernetTypeIPv6), ipv6(layers.IPProtocolIPv6Fragment, "2001:db8::1", "2001:db8::2"),
		&layers.IPv6Fragment{NextHeader: layers.IPProtocolTCP, FragmentOffset: 0x800, MoreFragments: true, Identification: 0xdeadbeef},
		gopacket.Payload(make([]byte, 16)))
	a := alertFor(t, frame)
	if !a.Packet.Fragment || a.Packet.Proto != event.ProtoTCP {
		t.Fatalf("kernel fields: fragment %v proto %d", a.Packet.Fragment, a.Packet.Proto)
	}
	checkFull(t, a, Options{}, seedHead+ts0+"2001:db8::1 -> 2001:db8::2\n"+
		"IPV6-FRAG TTL:64 TOS:0x0 ID:3735928559 IpLen:40 DgmLen:64 DF\n"+
		"Frag Offset: 0x0800   Frag Size: 0x0018\n\n")
	checkFast(t, a, Options{}, "05/06-07:08:09.123456 "+seedFastHead+"{IPV6-FRAG} 2001:db8::1 -> 2001:db8::2\n")

	// Without the frame: the kernel's view, the upper protocol and no ID.
	a.Packet.Data = nil
	checkFull(t, a, Options{}, seedHead+ts0+"2001:db8::1 -> 2001:db8::2\n"+
		"TCP TTL:64 TOS:0x0 ID:0 IpLen:40 DgmLen:64\n"+
		"Frag Offset: 0x0000   Frag Size: 0x0018\n\n")
}

// TestIPv6HopByHopID: with an extension header but no fragment header,
// Snort reads the ID and flags from the first extension header anyway
// (ip6_frag_index is 0): here a router-alert hop-by-hop header.
func TestIPv6HopByHopID(t *testing.T) {
	ip := ipv6(layers.IPProtocolIPv6HopByHop, "fe80::1", "ff02::16")
	frame := build(t, ethernet(layers.EthernetTypeIPv6), ip, gopacket.Payload([]byte{
		58, 0, 5, 2, 0, 0, 1, 0, // hop-by-hop: router alert, PadN
		143, 0, 0, 0, 0, 0, 0, 0, // MLDv2 report
	}))
	a := alertFor(t, frame)
	a.Packet.Proto = event.ProtoICMPv6
	checkFull(t, a, Options{}, seedHead+ts0+"fe80::1 -> ff02::16\n"+
		"IPV6-ICMP TTL:64 TOS:0x0 ID:256 IpLen:40 DgmLen:56\n\n")
}

func TestIPv4Fragments(t *testing.T) {
	// The first fragment of a TCP segment: Snort sets frag_flag for MF, so
	// no ports (log_text.c:563) and no TCP line (spo_alert_full.c:187),
	// and prints the fragment line (log_text.c:660) with the offset in
	// 8-byte units.
	ip := ipv4(layers.IPProtocolTCP, "10.0.0.1", "10.0.0.2")
	ip.Flags = layers.IPv4MoreFragments
	frame := build(t, ethernet(layers.EthernetTypeIPv4), ip, &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true}, gopacket.Payload(make([]byte, 12)))
	a := alertFor(t, frame)
	checkFull(t, a, Options{}, seedHead+ts0+"10.0.0.1 -> 10.0.0.2\n"+
		"TCP TTL:64 TOS:0x0 ID:4660 IpLen:20 DgmLen:52 MF\n"+
		"Frag Offset: 0x0000   Frag Size: 0x0020\n\n")
	checkFast(t, a, Options{}, "05/06-07:08:09.123456 "+seedFastHead+"{TCP} 10.0.0.1 -> 10.0.0.2\n")

	ip = ipv4(layers.IPProtocolTCP, "10.0.0.1", "10.0.0.2")
	ip.Flags = layers.IPv4EvilBit
	ip.FragOffset = 185
	a = alertFor(t, build(t, ethernet(layers.EthernetTypeIPv4), ip, gopacket.Payload(make([]byte, 100))))
	checkFull(t, a, Options{}, seedHead+ts0+"10.0.0.1 -> 10.0.0.2\n"+
		"TCP TTL:64 TOS:0x0 ID:4660 IpLen:20 DgmLen:120 RB\n"+
		"Frag Offset: 0x00B9   Frag Size: 0x0064\n\n")
	a.Packet.Data = nil
	checkFull(t, a, Options{}, seedHead+ts0+"10.0.0.1 -> 10.0.0.2\n"+
		"TCP TTL:64 TOS:0x0 ID:4660 IpLen:20 DgmLen:120 RB\n"+
		"Frag Offset: 0x00B9   Frag Size: 0x0064\n\n")
}

func TestVLANFrame(t *testing.T) {
	tcp := &layers.TCP{SrcPort: 2253, DstPort: 6667, Seq: 0xCA53141F, SYN: true, Window: 0xFC00,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		}}
	ip := ipv4(layers.IPProtocolTCP, "192.168.0.31", "161.53.178.240")
	ip.TTL, ip.Id = 128, 13198
	frame := build(t, ethernet(layers.EthernetTypeQinQ),
		&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 200, Type: layers.EthernetTypeIPv4}, ip, tcp)
	a := alertFor(t, frame)
	if len(a.Packet.VLAN) != 2 {
		t.Fatalf("VLANs %v", a.Packet.VLAN)
	}
	checkFull(t, a, Options{}, seedHead+ts0+"192.168.0.31:2253 -> 161.53.178.240:6667\n"+
		"TCP TTL:128 TOS:0x0 ID:13198 IpLen:20 DgmLen:48 DF\n"+
		"******S* Seq: 0xCA53141F  Ack: 0x0  Win: 0xFC00  TcpLen: 28\n"+
		"TCP Options (4) => MSS: 1460 NOP NOP SackOK \n\n")
	// With -e, LogEthHeader (log_text.c:199-210) prints the outer
	// EtherType and the frame length, and the addresses share a line with
	// the IP header (log_text.c:625-628).
	checkFull(t, a, Options{DataLink: true}, seedHead+ts0+"00:0C:29:1A:2B:3C -> 00:50:56:C0:00:08 type:0x88A8 len:0x46\n"+
		"192.168.0.31:2253 -> 161.53.178.240:6667 TCP TTL:128 TOS:0x0 ID:13198 IpLen:20 DgmLen:48 DF\n"+
		"******S* Seq: 0xCA53141F  Ack: 0x0  Win: 0xFC00  TcpLen: 28\n"+
		"TCP Options (4) => MSS: 1460 NOP NOP SackOK \n\n")
}

// TestNoData: an alert with the kernel's header fields only (no
// captured bytes) has no options line; everything else is there.
func TestNoData(t *testing.T) {
	a := seedAlert(t)
	a.Packet.Data = nil
	want := strings.Replace(seedFull, "TCP Options (4) => MSS: 1460 NOP NOP SackOK \n", "", 1)
	checkFull(t, a, Options{}, want)
	checkFast(t, a, Options{}, seedFast)
	// -e needs the frame: no Ethernet line, the IP line follows the
	// addresses.
	got := string(AppendFull(nil, a, Options{DataLink: true}))
	if !strings.Contains(got, "\n02/21-10:17:54.366236 192.168.0.31:2253 -> 161.53.178.240:6667 TCP TTL:128") {
		t.Errorf("-e without data: %q", got)
	}
}

func TestPriority(t *testing.T) {
	a := seedAlert(t)
	// No classtype: no Classification part, and the priority Snort's
	// parser leaves, 0 (parser.c ParseOtnClassType is what sets it).
	a.Rule.Classtype, a.Rule.Category, a.Rule.Priority = "", "", 0
	got := string(AppendFull(nil, a, Options{}))
	if !strings.HasPrefix(got, "[**] [1:2404000:602] BLEEDING-EDGE DROP Known Bot C&C Server Traffic (group 1) [**]\n[Priority: 0] \n02/21-") {
		t.Errorf("no classtype: %q", got)
	}
	got = string(AppendFast(nil, a, Options{}))
	if !strings.Contains(got, "(group 1) [**] [Priority: 0] {TCP} ") {
		t.Errorf("no classtype, fast: %q", got)
	}
	// A priority the rule gives is printed as is.
	a.Rule.Priority = 3
	if got := string(AppendFull(nil, a, Options{})); !strings.Contains(got, "[**]\n[Priority: 3] \n") {
		t.Errorf("priority 3: %q", got)
	}
	// A classtype without a resolved category is looked up (Standard by
	// default, or Options.Classes); the rule's own priority wins.
	a.Rule.Classtype = "attempted-recon"
	if got := string(AppendFull(nil, a, Options{})); !strings.Contains(got, "[**]\n[Classification: Attempted Information Leak] [Priority: 3] \n") {
		t.Errorf("lookup: %q", got)
	}
	a.Rule.Priority = 0
	if got := string(AppendFull(nil, a, Options{})); !strings.Contains(got, "[**]\n[Classification: Attempted Information Leak] [Priority: 2] \n") {
		t.Errorf("lookup priority: %q", got)
	}
	tab, err := classification.Parse("local", strings.NewReader("config classification: attempted-recon,Local Recon,4\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(AppendFull(nil, a, Options{Classes: tab})); !strings.Contains(got, "[**]\n[Classification: Local Recon] [Priority: 4] \n") {
		t.Errorf("own table: %q", got)
	}
	// No message: "[**]" follows the signature (spo_alert_full.c:159,
	// spo_alert_fast.c:199).
	a.Rule.Msg = ""
	if got := string(AppendFull(nil, a, Options{})); !strings.HasPrefix(got, "[**] [1:2404000:602] [**]\n") {
		t.Errorf("no msg: %q", got)
	}
	if got := string(AppendFast(nil, a, Options{})); !strings.HasPrefix(got, "02/21-10:17:54.366236  [**] [1:2404000:602] [**] [Classification") {
		t.Errorf("no msg fast: %q", got)
	}
}

func TestReferences(t *testing.T) {
	a := seedAlert(t)
	a.Rule.References = []string{"url,www.shadowserver.org", "cve,2007-1234", "bugtraq,1", "Ticket,42", "no comma", "URL, http://x.example/"}
	// One line, no separators (log_text.c:1383-1401, :1359 "[Xref =>
	// %s%s]", :1362 "[Xref => %s %s]" for a system without a URL), in
	// reverse rule order (signature.c:70 adds each at the front); the
	// reference without a comma is dropped as Snort's parser drops it;
	// Snort puts the url prefix before a value that has its own scheme.
	want := "[Xref => http://http://x.example/][Xref => Ticket 42][Xref => http://www.securityfocus.com/bid/1]" +
		"[Xref => http://cve.mitre.org/cgi-bin/cvename.cgi?name=2007-1234][Xref => http://www.shadowserver.org]\n\n"
	got := string(AppendFull(nil, a, Options{}))
	if !strings.HasSuffix(got, "SackOK \n"+want) {
		t.Errorf("references:\n got %q\nwant suffix %q", got, want)
	}
	// alert_fast has no references.
	if got := string(AppendFast(nil, a, Options{})); got != seedFast {
		t.Errorf("fast: %q", got)
	}
	got = string(AppendFull(nil, a, Options{ReferenceSystems: map[string]string{"ticket": "https://t.example/"}}))
	if !strings.Contains(got, "\n[Xref => URL http://x.example/][Xref => https://t.example/42][Xref => bugtraq 1][Xref => cve 2007-1234][Xref => url www.shadowserver.org]\n\n") {
		t.Errorf("own systems: %q", got)
	}
}

func TestTimestamps(t *testing.T) {
	a := seedAlert(t)
	// -y: "%02d/%02d/%02d-…" (util.c:273).
	if got := string(AppendFast(nil, a, Options{Year: true})); !strings.HasPrefix(got, "02/21/07-10:17:54.366236  [**]") {
		t.Errorf("-y: %q", got)
	}
	est := time.FixedZone("EST", -5*3600)
	if got := string(AppendFull(nil, a, Options{Location: est})); !strings.Contains(got, "\n02/21-05:17:54.366236 192.168.0.31") {
		t.Errorf("EST: %q", got)
	}
	// The microseconds are truncated, not rounded.
	a.Packet.Time = time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	if got := string(AppendFast(nil, a, Options{Year: true})); !strings.HasPrefix(got, "12/31/99-23:59:59.999999  ") {
		t.Errorf("1999: %q", got)
	}
	a.Packet.Time = time.Date(2105, 1, 2, 3, 4, 5, 6000, time.UTC)
	if got := string(AppendFast(nil, a, Options{Year: true})); !strings.HasPrefix(got, "01/02/105-03:04:05.000006  ") {
		t.Errorf("2105: %q", got)
	}
}

func TestInterfaceOption(t *testing.T) {
	a := seedAlert(t)
	a.Packet.Interface = "eth0"
	// " <%s> " after "[%lu:%lu:%lu] " (spo_alert_full.c:149,
	// spo_alert_fast.c:189).
	if got := string(AppendFull(nil, a, Options{Interface: true})); !strings.HasPrefix(got, "[**] [1:2404000:602]  <eth0> BLEEDING-EDGE") {
		t.Errorf("full: %q", got)
	}
	a.Packet.Interface = ""
	if got := string(AppendFast(nil, a, Options{Interface: true})); !strings.Contains(got, "[**] [1:2404000:602]  <NULL> BLEEDING-EDGE") {
		t.Errorf("fast: %q", got)
	}
}

func TestTCPOptions(t *testing.T) {
	md5 := append([]byte{19, 18}, make([]byte, 16)...)
	for i := range 16 {
		md5[2+i] = byte(i)
	}
	for _, c := range []struct {
		name string
		n    int // options counted
		raw  []byte
		want string // empty: no line
	}{
		{"mss", 1, []byte{2, 4, 5, 180}, "MSS: 1460 "},
		{"ws", 1, []byte{3, 3, 14}, "WS: 14 "},
		{"ts", 1, []byte{8, 10, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}, "TS: 1 4294967295 "},
		// Snort prints the first two 16-bit words of a SACK's data.
		{"sack", 1, []byte{5, 10, 0, 0, 0x10, 0, 0, 0, 0x20, 0}, "Sack: 0@4096 "},
		{"sack odd", 1, []byte{5, 3, 9}, "Sack: 0@0 "},
		{"sackok", 1, []byte{4, 2}, "SackOK "},
		{"eol ends", 2, []byte{1, 0, 2, 4, 5, 180}, "NOP EOL "},
		{"echo", 2, []byte{6, 6, 0, 0, 1, 0, 7, 6, 0, 0, 0, 2}, "Echo: 256 Echo Rep: 2 "},
		{"cc", 3, []byte{11, 6, 0, 0, 0, 1, 12, 6, 0, 0, 0, 2, 13, 6, 0, 0, 0, 3}, "CC 1 CCNEW: 2 CCECHO: 3 "},
		{"tfo", 2, []byte{34, 2, 34, 6, 1, 2, 3, 4}, "TFO TFO "},
		{"unknown", 1, []byte{30, 5, 0xaa, 0xbb, 0xcc}, "Opt 30 (3): AABB CC "},
		{"unknown even", 1, []byte{253, 4, 0xde, 0xad}, "Opt 253 (2): DEAD  "},
		{"unknown empty", 1, []byte{30, 2}, "Opt 30 "},
		{"md5", 1, md5, "Opt 19 (16): 0001 0203 0405 0607 0809 0A0B 0C0D 0E0F  "},
		// Malformed: the valid options before it count (decode.c
		// DecodeTCPOptions sets tcp_option_count = opt_count).
		{"bad mss length", 1, []byte{1, 2, 3, 5, 180, 0}, "NOP "},
		{"truncated mss", 2, []byte{1, 1, 2, 4, 5}, "NOP NOP "},
		{"zero length", 2, []byte{1, 1, 30, 0}, "NOP NOP "},
		{"no length byte", 1, []byte{1, 30}, "NOP "},
		{"auth too short", 0, []byte{29, 3, 0, 1}, ""},
		{"sack without data", 0, []byte{5, 2, 1, 1}, ""},
		{"sackok wrong length", 0, []byte{4, 3, 0, 1}, ""},
		{"ws wrong length", 0, []byte{3, 4, 1, 1}, ""},
		{"overlong", 0, []byte{30, 9, 1, 1}, ""},
	} {
		got := string(appendTCPOptions(nil, c.raw))
		want := ""
		if c.want != "" {
			want = "TCP Options (" + itoa(c.n) + ") => " + c.want + "\n"
		}
		if got != want {
			t.Errorf("%s: got %q, want %q", c.name, got, want)
		}
	}
}

func TestIPOptions(t *testing.T) {
	for _, c := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"nop rtralt", []byte{1, 0x94, 4, 0, 0}, "IP Options (2) => NOP RTRALT \n"},
		// EOL is not counted (decode.c DecodeIPOptions: if(!done)).
		{"rr eol", []byte{7, 7, 4, 0, 0, 0, 0, 0}, "IP Options (1) => RR \n"},
		{"named", []byte{0x44, 4, 5, 0, 0x82, 3, 0, 0x83, 3, 4, 0x84, 2, 0x85, 2, 0x88, 2, 0x89, 2}, "IP Options (7) => TS SEC LSRR LSRR ESEC SID SSRR \n"},
		// log_text.c:525-537: a space after every even-numbered byte.
		{"unknown", []byte{0x99, 6, 0xaa, 0xbb, 0xcc, 0xdd}, "IP Options (1) => Opt 153: AA BBCC DD\n"},
		{"unknown empty", []byte{0x99, 2, 1}, "IP Options (2) => Opt 153: NOP \n"},
		// A malformed option leaves the count at 0: nothing is printed,
		// not even the options before it (DecodeIPOptions returns before
		// setting ip_option_count).
		{"bad length", []byte{1, 7, 1, 0}, ""},
		{"truncated", []byte{1, 7, 8, 0}, ""},
		{"garbage after eol", []byte{1, 0, 7, 1}, ""},
	} {
		got := string(appendIPOptions(nil, c.raw))
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	// Wrapping (log_text.c:473-479): before an option, when more than 60
	// bytes were written since the line began, "\nIP Options => ".
	nops := make([]byte, 40)
	for i := range nops {
		nops[i] = 1
	}
	want := "IP Options (40) => " + strings.Repeat("NOP ", 11) +
		"\nIP Options => " + strings.Repeat("NOP ", 16) +
		"\nIP Options => " + strings.Repeat("NOP ", 13) + "\n"
	if got := string(appendIPOptions(nil, nops)); got != want {
		t.Errorf("wrap:\n got %q\nwant %q", got, want)
	}
}

func TestIPOptionsInPacket(t *testing.T) {
	ip := ipv4(layers.IPProtocolTCP, "10.0.0.1", "10.0.0.2")
	ip.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}
	frame := build(t, ethernet(layers.EthernetTypeIPv4), ip, &layers.TCP{SrcPort: 1, DstPort: 2, ACK: true, PSH: true, Ack: 0xff, Window: 1})
	a := alertFor(t, frame)
	checkFull(t, a, Options{}, seedHead+ts0+"10.0.0.1:1 -> 10.0.0.2:2\n"+
		"TCP TTL:64 TOS:0x0 ID:4660 IpLen:24 DgmLen:44 DF\n"+
		"IP Options (1) => RTRALT \n"+
		"***AP*** Seq: 0x0  Ack: 0xFF  Win: 0x1  TcpLen: 20\n\n")
}

// TestTCPTruncated: a data offset beyond the segment makes Snort's
// DecodeTCP drop the header: ports 0 and "TCP header truncated".
func TestTCPTruncated(t *testing.T) {
	a := seedAlert(t)
	a.Packet.Data[14+20+12] = 0xf0 // data offset 60 > 28 bytes
	got := string(AppendFull(nil, a, Options{}))
	want := seedHead + "02/21-10:17:54.366236 192.168.0.31:0 -> 161.53.178.240:0\n" +
		"TCP TTL:128 TOS:0x0 ID:13198 IpLen:20 DgmLen:48 DF\n" +
		"TCP header truncated\n\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestProtoNames(t *testing.T) {
	a := seedAlert(t)
	a.Packet.Data = nil
	for _, c := range []struct {
		proto uint8
		name  string
	}{{47, "GRE"}, {50, "ESP"}, {132, "SCTP"}, {0, "IP"}, {4, "IPENCAP"}, {200, "PROTO:200"}, {7, "PROTO:007"}} {
		a.Packet.Proto = c.proto
		got := string(AppendFast(nil, a, Options{}))
		if !strings.HasSuffix(got, "{"+c.name+"} 192.168.0.31 -> 161.53.178.240\n") {
			t.Errorf("proto %d: %q", c.proto, got)
		}
	}
}

func TestAppendAddr(t *testing.T) {
	// As glibc's inet_ntop writes them.
	for _, c := range []struct{ in, want string }{
		{"2001:db8::1", "2001:db8::1"},
		{"::", "::"},
		{"::1", "::1"},
		{"1::", "1::"},
		{"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
		{"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},
		{"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
		{"::ffff:1.2.3.4", "::ffff:1.2.3.4"},
		{"::1.2.3.4", "::1.2.3.4"},
		{"::ffff:0:1.2.3.4", "::ffff:0:102:304"},
		{"fe80::abcd:ef01", "fe80::abcd:ef01"},
		{"0:0:0:0:0:1:0:0", "::1:0:0"},
	} {
		a := netip.MustParseAddr(c.in)
		if got := string(appendAddr(nil, a, true)); got != c.want {
			t.Errorf("%s: got %s, want %s", c.in, got, c.want)
		}
	}
	if got := string(appendAddr(nil, netip.MustParseAddr("192.0.2.255"), false)); got != "192.0.2.255" {
		t.Errorf("v4: %s", got)
	}
}

func TestFormatString(t *testing.T) {
	if Fast.String() != "fast" || Full.String() != "full" || Format(7).String() != "Format(7)" {
		t.Error(Fast, Full, Format(7))
	}
}

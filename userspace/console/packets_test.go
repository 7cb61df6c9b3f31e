package console

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/xdpsensor/xdpsensor/userspace/capture"
)

const testdata = "../../testdata"

// render joins a packet's lines as tcpdump -nn -v -S -X -tttt prints them.
func render(p Packet) string {
	s := p.Summary
	if p.Detail != "" {
		s += "\n    " + p.Detail
	}
	return s + "\n\t" + strings.ReplaceAll(p.Hex, "\n", "\n\t")
}

func decodeFile(t *testing.T, path string) []string {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	for n := 1; ; n++ {
		p, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, render(decodePacket(n, p.Time, p.Data, p.OrigLen)))
	}
}

func tcpdump(t *testing.T, path string) string {
	t.Helper()
	bin, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("no tcpdump")
	}
	cmd := exec.Command(bin, "-nn", "-v", "-S", "-X", "-tttt", "-r", path)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	return string(out)
}

// The seeds' packets read exactly as tcpdump prints them.
func TestPacketLinesMatchTcpdump(t *testing.T) {
	for _, name := range []string{"bot-cc-syn.pcap", "backscatter.pcap"} {
		path := filepath.Join(testdata, name)
		got := strings.Join(decodeFile(t, path), "\n") + "\n"
		if want := tcpdump(t, path); got != want {
			t.Errorf("%s:\n got:\n%s\nwant:\n%s", name, got, want)
		}
	}
	// The first SYN as bot-cc.txt shows it (an older tcpdump's wording).
	lines := decodeFile(t, filepath.Join(testdata, "bot-cc-syn.pcap"))
	if len(lines) != 3 || !strings.Contains(lines[0], "192.168.0.31.2253 > 161.53.178.240.6667: Flags [S], cksum 0x70e6 (correct), seq 3394442271, win 64512") ||
		!strings.Contains(lines[0], "0x0000:  4500 0030 338e 4000 8006 b24c c0a8 001f  E..03.@....L....") {
		t.Errorf("bot-cc SYN:\n%s", strings.Join(lines, "\n"))
	}
}

// Payload, UDP, ICMP, IPv4 options, a bad checksum and IPv6 against tcpdump.
func TestPacketLinesMoreProtocols(t *testing.T) {
	src, dst := net.ParseIP("198.51.100.7").To4(), net.ParseIP("203.0.113.9").To4()
	eth := func(et layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: et}
	}
	ip4 := func(p layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Id: 7, Flags: layers.IPv4DontFragment, Protocol: p, SrcIP: src, DstIP: dst}
	}
	ser := func(ls ...gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		for _, l := range ls {
			if tcp, ok := l.(*layers.TCP); ok {
				for _, n := range ls {
					if ip, ok := n.(gopacket.NetworkLayer); ok {
						tcp.SetNetworkLayerForChecksum(ip)
					}
				}
			}
			if udp, ok := l.(*layers.UDP); ok {
				for _, n := range ls {
					if ip, ok := n.(gopacket.NetworkLayer); ok {
						udp.SetNetworkLayerForChecksum(ip)
					}
				}
			}
		}
		if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
			t.Fatal(err)
		}
		return bytes.Clone(buf.Bytes())
	}
	payload := gopacket.Payload("GET /<script>alert(1)</script> HTTP/1.0\r\n\r\n")
	tcpData := &layers.TCP{SrcPort: 40000, DstPort: 6667, Seq: 1000, Ack: 2000, ACK: true, PSH: true, Window: 512}
	synOpts := &layers.TCP{SrcPort: 40001, DstPort: 6667, Seq: 5, SYN: true, ECE: true, CWR: true, Window: 65535, Options: []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}},
		{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
		{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: []byte{0, 0, 1, 0, 0, 0, 0, 0}},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
	}}
	urg := &layers.TCP{SrcPort: 40002, DstPort: 6667, Seq: 9, Ack: 10, ACK: true, URG: true, FIN: true, Urgent: 3, Window: 1}
	badSum := ser(eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), &layers.TCP{SrcPort: 40003, DstPort: 6667, Seq: 1, RST: true})
	badSum[14+20+17] ^= 0xff // TCP checksum, low byte
	ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, FlowLabel: 0x12345,
		SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8:bad::66")}
	ip6udp := &layers.IPv6{Version: 6, HopLimit: 1, NextHeader: layers.IPProtocolUDP, SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
	icmpEcho := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 77, Seq: 3}
	withOpts := ip4(layers.IPProtocolUDP)
	withOpts.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	frames := [][]byte{
		ser(eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpData, payload),
		ser(eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synOpts),
		ser(eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), urg, gopacket.Payload("abc")),
		badSum,
		ser(eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 40000, DstPort: 40001}, gopacket.Payload("hello")),
		ser(eth(layers.EthernetTypeIPv4), withOpts, &layers.UDP{SrcPort: 40000, DstPort: 40001}, gopacket.Payload("x")),
		ser(eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4), icmpEcho, gopacket.Payload("ping-data")),
		ser(eth(layers.EthernetTypeIPv6), ip6, &layers.TCP{SrcPort: 50000, DstPort: 443, Seq: 1, SYN: true, Window: 1024}),
		ser(eth(layers.EthernetTypeIPv6), ip6udp, &layers.UDP{SrcPort: 40000, DstPort: 40001}, gopacket.Payload("v6")),
	}
	path := filepath.Join(t.TempDir(), "more.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	at := time.Date(2007, 3, 20, 18, 4, 19, 731091000, time.UTC)
	for i, fr := range frames {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: at.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(fr), Length: len(fr)}, fr)
	}
	f.Close()
	got := decodeFile(t, path)
	want := strings.Split(strings.TrimSuffix(tcpdump(t, path), "\n"), "\n")
	// Compare packet by packet: a packet's block starts at its timestamp.
	var blocks []string
	for _, l := range want {
		if strings.HasPrefix(l, "2007-") {
			blocks = append(blocks, l)
		} else {
			blocks[len(blocks)-1] += "\n" + l
		}
	}
	if len(blocks) != len(got) {
		t.Fatalf("%d packets decoded, tcpdump printed %d", len(got), len(blocks))
	}
	for i := range got {
		if got[i] != blocks[i] {
			t.Errorf("packet %d:\n got: %s\nwant: %s", i+1, got[i], blocks[i])
		}
	}
}

func TestSguilView(t *testing.T) {
	r, err := capture.Open(filepath.Join(testdata, "backscatter.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Next() // the SYN-ACK
	rst, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	v, ok := sguilView(rst.Data)
	if !ok {
		t.Fatal("no view")
	}
	// The backscatter seed's pane, urp and chksum the right way round.
	want := HeaderView{
		IP:      "IPVer=4 hlen=5 tos=0 dlen=40 ID=2644 flags=2 offset=0 ttl=64 chksum=58655",
		Proto:   "Protocol: 6 sport=1024 -> dport=6667",
		L4:      "Seq=2934031229 Ack=0 Off=5 Res=0 Flags=*****R** Win=0 urp=0 chksum=54297",
		Payload: "None.",
	}
	if v != want {
		t.Errorf("got  %+v\nwant %+v", v, want)
	}
}

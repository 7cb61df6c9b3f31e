package pipeline

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// A capture cut by its snap length is counted by the length on the wire
// whatever its link type: loopback, raw IP and Linux cooked frames get an
// Ethernet header on the way in, and their wire length with it. Before,
// only Ethernet captures kept it: a loopback capture at snap length 256
// (tcpdump's quic_handshake_truncated.pcap) had its long datagrams counted
// malformed, outside any flow, their IP length beyond the frame.
func TestReplaySnapCutFramesOfEveryLinkType(t *testing.T) {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{198, 51, 100, 7}, DstIP: net.IP{203, 0, 113, 9}}
	udp := &layers.UDP{SrcPort: 50000, DstPort: 443}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, udp, gopacket.Payload(make([]byte, 1172))); err != nil {
		t.Fatal(err)
	}
	packet := buf.Bytes() // 1,200 bytes of IP
	const snap = 256
	for _, c := range []struct {
		name   string
		link   layers.LinkType
		header []byte
	}{
		{"loopback", layers.LinkTypeNull, []byte{2, 0, 0, 0}}, // AF_INET, host order
		{"raw IP", layers.LinkTypeRaw, nil},
		{"Linux cooked", layers.LinkTypeLinuxSLL, []byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}},
		{"Ethernet", layers.LinkTypeEthernet, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cut.pcap")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			w := pcapgo.NewWriter(f)
			if err := w.WriteFileHeader(snap, c.link); err != nil {
				t.Fatal(err)
			}
			frame := append(append([]byte(nil), c.header...), packet...)
			t0 := time.Date(2022, 5, 1, 9, 0, 0, 0, time.UTC)
			for i := range 3 {
				ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: snap, Length: len(frame)}
				if err := w.WritePacket(ci, frame[:snap]); err != nil {
					t.Fatal(err)
				}
			}
			f.Close()
			sum, err := replayForTest(t, path)
			if err != nil {
				t.Fatalf("%+v", err)
			}
			if got := FormatInNoFlow(InNoFlow(&sum.Kernel)); got != "" || sum.Packets != 3 || sum.Flows != 1 {
				t.Fatalf("%d packets, %d flows, %q; want 3 in one flow", sum.Packets, sum.Flows, got)
			}
			// orig_bytes (UDP payload, by the IP length) and orig_pkts,
			// orig_ip_bytes: three datagrams of 1,200 bytes.
			row := connLog(t, filepath.Join(sum.OutDir, "conn.log"))["50000/udp"]
			if got, want := row["orig_bytes"]+" "+row["orig_pkts"]+" "+row["orig_ip_bytes"], "3516 3 3600"; got != want {
				t.Errorf("conn.log orig_bytes, orig_pkts, orig_ip_bytes %q, want %q", got, want)
			}
		})
	}
}

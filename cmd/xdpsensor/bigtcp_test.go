package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/xdpsensor/xdpsensor/loader"
)

// A host that captures its own traffic with BIG TCP on sees super-packets
// before segmentation: an 80,000-byte IPv4 frame whose total length field
// is 0, as Linux writes it (tcpdump's bigtcp-ipv4.pcap is one). More than
// BPF_PROG_TEST_RUN takes: replay runs it cut to LongestRunnable bytes,
// counted by its wire length, and says so; it used to end the replay with
// "cannot allocate memory" at the first such frame.
func TestReplayRunsBigTCPFramesCut(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(list, []byte("203.0.113.66\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const bigLen = 80000
	big := make([]byte, bigLen)
	copy(big, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00})
	ip := big[14:]
	copy(ip, []byte{0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 10, 203, 0, 113, 66}) // total length 0: BIG TCP
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 443)
	binary.BigEndian.PutUint32(tcp[4:], 1000)
	binary.BigEndian.PutUint32(tcp[8:], 1)
	tcp[12], tcp[13] = 5<<4, 0x18 // PSH ACK
	binary.BigEndian.PutUint16(tcp[14:], 512)
	ack := tcpSYN(t, []byte{203, 0, 113, 66}, []byte{192, 0, 2, 10}, 443, 40000)
	ack[14+20+13] = 0x10 // ACK, not SYN (the checksum is not checked)

	capPath := filepath.Join(dir, "bigtcp.pcap")
	f, err := os.Create(capPath)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, fr := range [][]byte{big, ack} {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(fr), Length: len(fr)}, fr); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()

	out := filepath.Join(dir, "out")
	stdout, err := runCLI(t, "replay", "-b", list, "-o", out, "--flow-table-size", "1024", "--capture", "all", capPath)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	// A plain list alerts on each direction's first packet.
	want := "replayed 2 packets: 2 alerts, 1 flow records written to " + out +
		"; 0 lost; 1 frame longer than 65561 bytes run cut to that length (BIG TCP; counted whole)\n"
	if stdout != want {
		t.Fatalf("stdout %q\nwant   %q", stdout, want)
	}

	// conn.log counts the super-packet whole: its IP bytes on the wire.
	conn, err := os.ReadFile(filepath.Join(out, "conn.log"))
	if err != nil {
		t.Fatal(err)
	}
	var row []string
	for _, line := range strings.Split(string(conn), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			row = strings.Split(line, "\t")
		}
	}
	// orig_pkts, orig_ip_bytes, resp_pkts, resp_ip_bytes.
	if got, wantCols := strings.Join(row[16:20], " "), "1 79986 1 40"; got != wantCols {
		t.Errorf("conn.log packets and IP bytes %q, want %q", got, wantCols)
	}

	// The pcap output holds the frame's first bytes (as many as the capture
	// ring carries), with its length on the wire.
	files, _ := filepath.Glob(filepath.Join(out, "pcap", "*.pcap"))
	var lens [][2]int
	for _, p := range files {
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, pkt := range packetsOf(t, fh) {
			lens = append(lens, [2]int{len(pkt.Data), pkt.OrigLen})
			if len(pkt.Data) == loader.MaxSnaplen && !bytes.Equal(pkt.Data, big[:loader.MaxSnaplen]) {
				t.Error("the captured frame is not the super-packet's first bytes")
			}
		}
		fh.Close()
	}
	if wantLens := [][2]int{{loader.MaxSnaplen, bigLen}, {len(ack), len(ack)}}; len(lens) != 2 || lens[0] != wantLens[0] || lens[1] != wantLens[1] {
		t.Errorf("captured frames (length, on the wire) %v, want %v", lens, wantLens)
	}
}

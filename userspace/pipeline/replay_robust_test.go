package pipeline

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
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

// seedVariant writes testdata/bot-cc-syn.pcap (3 records of 62 bytes,
// little endian, microseconds) after edit changed its bytes.
func seedVariant(t *testing.T, name string, edit func(b []byte) []byte) string {
	t.Helper()
	b, err := os.ReadFile("../../testdata/bot-cc-syn.pcap")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	os.WriteFile(path, edit(b), 0o644)
	return path
}

// record returns the offset of record k (1-based) of the seed.
func seedRecord(k int) int { return 24 + 78*(k-1) }

func replayForTest(t *testing.T, files ...string) (Summary, error) {
	t.Helper()
	return Replay(context.Background(), Config{Blocklists: []string{"../../testdata/bleeding-botcc-group1.rules"},
		OutDir: t.TempDir(), FlowTableSize: 1024, RingSize: 1 << 20, Capture: CaptureConfig{Mode: loader.CaptureNone}}, files)
}

// TestReplayReadsWhatCanBeRead: a capture cut in a record, one with a
// corrupt record header and one with a timestamp out of range are read up
// to the damage, and every problem names its file and record; a pcap of
// version 2.1 reads like 2.4.
func TestReplayReadsWhatCanBeRead(t *testing.T) {
	cut := seedVariant(t, "cut.pcap", func(b []byte) []byte { return b[:seedRecord(3)+30] })
	corrupt := seedVariant(t, "corrupt.pcap", func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[seedRecord(2)+8:], 0x7fffffff)
		return b
	})
	badTime := seedVariant(t, "badtime.pcap", func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[seedRecord(1)+4:], 1_500_000)
		return b
	})
	v21 := seedVariant(t, "v21.pcap", func(b []byte) []byte {
		binary.LittleEndian.PutUint16(b[6:], 1)
		return b
	})
	sum, err := replayForTest(t, cut, corrupt, badTime, v21)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	want := []string{
		cut + ": cut in record 3 (the file ends after 2 whole records)",
		corrupt + ": record 2: corrupt record header: captured length 2147483647 is more than the snaplen 65535: the rest of the file was not read",
		badTime + ": record 1: timestamp field ts_usec 1500000 is out of range (at most 999999): read as 1 s more",
	}
	if strings.Join(sum.Problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(sum.Problems, "\n"), strings.Join(want, "\n"))
	}
	if sum.Packets != 2+1+3+3 {
		t.Errorf("%d packets replayed, want 9 (2 + 1 + 3 + 3)", sum.Packets)
	}

	// Nothing readable at all: an error.
	_, err = replayForTest(t, seedVariant(t, "bad.pcap", func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[seedRecord(1)+8:], 0x7fffffff)
		return b
	}))
	if err == nil || !strings.Contains(err.Error(), "no packet could be read:\n") || !strings.Contains(err.Error(), "bad.pcap: record 1: corrupt record header") {
		t.Errorf("a capture with nothing readable: %v", err)
	}
}

// TestReplayPcapngMixedLinkTypes: a pcapng whose interfaces have
// different link types (Ethernet, raw IP) replays every interface's
// packets, not only the first one's.
func TestReplayPcapngMixedLinkTypes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mixed.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgo.NewNgWriterInterface(f, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := w.AddInterface(pcapgo.NgInterface{Name: "tun0", LinkType: layers.LinkTypeRaw, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	syn := func(eth bool, sport uint16) []byte {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{192, 168, 0, 31}, DstIP: net.IP{161, 53, 178, 240}}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: 6667, SYN: true, Window: 1024}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		ls := []gopacket.SerializableLayer{ip, tcp}
		if eth {
			ls = append([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}}, ls...)
		}
		gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...)
		return buf.Bytes()
	}
	t0 := time.Date(2007, 2, 21, 10, 0, 0, 0, time.UTC)
	for i, p := range []struct {
		iface int
		data  []byte
	}{{0, syn(true, 2000)}, {raw, syn(false, 2001)}, {raw, syn(false, 2002)}} {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Hour), CaptureLength: len(p.data), Length: len(p.data), InterfaceIndex: p.iface}
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	f.Close()
	sum, err := replayForTest(t, path)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	if sum.Packets != 3 || sum.Flows != 3 || len(sum.Problems) != 0 {
		t.Errorf("%d packets, %d flows, problems %v; want 3, 3, none", sum.Packets, sum.Flows, sum.Problems)
	}
}

// writeEthWlan writes a dumpcap capture of eth0 and wlan0mon: a pcapng
// whose second interface is RadioTap, one record per letter of frames,
// 'e' a TCP SYN to a listed server from its own source (the rule alerts
// once per source an hour), 'w' an 802.11 beacon.
func writeEthWlan(t *testing.T, path, frames string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgo.NewNgWriterInterface(f, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	radio, err := w.AddInterface(pcapgo.NgInterface{Name: "wlan0mon", LinkType: layers.LinkTypeIEEE80211Radio, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2007, 2, 21, 10, 0, 0, 0, time.UTC)
	for i, c := range frames {
		// Radiotap header (version 0, 8 bytes, no fields), then a
		// beacon's frame control, duration and addresses.
		data, iface := append([]byte{0, 0, 8, 0, 0, 0, 0, 0, 0x80, 0, 0, 0}, make([]byte, 18)...), radio
		if c == 'e' {
			eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{192, 168, 0, byte(31 + i)}, DstIP: net.IP{161, 53, 178, 240}}
			tcp := &layers.TCP{SrcPort: layers.TCPPort(2000 + i), DstPort: 6667, SYN: true, Window: 1024}
			tcp.SetNetworkLayerForChecksum(ip)
			buf := gopacket.NewSerializeBuffer()
			gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp)
			data, iface = buf.Bytes(), 0
		}
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Second), CaptureLength: len(data), Length: len(data), InterfaceIndex: iface}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReplaySkipsRecordsNotEthernet: a dumpcap capture of eth0 and
// wlan0mon replays every Ethernet frame, also those after the first wlan
// frame; wlan frames are skipped, counted as NotEthernet and named (the
// first five of a file, then how many more), and pcap_cnt still numbers
// the records of the capture.
func TestReplaySkipsRecordsNotEthernet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eth-wlan.pcapng")
	writeEthWlan(t, path, "ewee")
	sum, err := replayForTest(t, path)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	if sum.Packets != 3 || sum.NotEthernet != 1 || sum.Skipped != 0 || sum.Flows != 3 || sum.Alerts != 3 {
		t.Errorf("%d packets, %d not Ethernet, %d skipped by the kernel, %d flows, %d alerts; want 3, 1, 0, 3, 3",
			sum.Packets, sum.NotEthernet, sum.Skipped, sum.Flows, sum.Alerts)
	}
	notSupported := ": link type RadioTap (127) is not supported: " +
		"xdpsensor reads Ethernet, raw IP, Linux cooked and loopback captures: record skipped"
	if want := []string{path + ": record 2" + notSupported}; strings.Join(sum.Problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(sum.Problems, "\n"), strings.Join(want, "\n"))
	}
	alerts, _ := split(readEVE(t, filepath.Join(sum.OutDir, "eve.json")))
	got := map[int]uint64{}
	for _, a := range alerts {
		got[a.SrcPort] = a.PcapCnt
	}
	if len(alerts) != 3 || got[2000] != 1 || got[2002] != 3 || got[2003] != 4 {
		t.Errorf("%d alerts, pcap_cnt by source port %v; want 3: 2000:1 2002:3 2003:4", len(alerts), got)
	}

	// Past five, a file's skipped records are counted, not each named.
	many := filepath.Join(t.TempDir(), "wlan-then-eth.pcapng")
	writeEthWlan(t, many, "wwwwwwwe")
	sum, err = replayForTest(t, many)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	if sum.Packets != 1 || sum.NotEthernet != 7 {
		t.Errorf("%d packets, %d not Ethernet; want 1, 7", sum.Packets, sum.NotEthernet)
	}
	var want []string
	for i := 1; i <= 5; i++ {
		want = append(want, fmt.Sprintf("%s: record %d%s", many, i, notSupported))
	}
	want = append(want, many+": 2 more records skipped: not readable as Ethernet")
	if strings.Join(sum.Problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(sum.Problems, "\n"), strings.Join(want, "\n"))
	}
}

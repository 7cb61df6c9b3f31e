package pipeline

import (
	"context"
	"encoding/binary"
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

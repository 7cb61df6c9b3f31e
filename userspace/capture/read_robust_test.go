package capture

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestReaderKeepsOriginalLength: a record cut at the snaplen keeps the
// frame's length on the wire; a record whose lengths an old (2.1) writer
// swapped reads as at least what was captured.
func TestReaderKeepsOriginalLength(t *testing.T) {
	b, err := os.ReadFile("../../testdata/bot-cc-syn.pcap")
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint16(b[6:], 1)               // version 2.1
	binary.LittleEndian.PutUint32(b[24+12:], 1514)        // record 1: 62 of 1514 bytes
	binary.LittleEndian.PutUint32(b[24+78+12:], 40)       // record 2: "wire" length below what was captured
	binary.BigEndian.PutUint32(b[24+78*2+4:], 0x00000fff) // record 3: a valid usec
	path := filepath.Join(t.TempDir(), "v21.pcap")
	os.WriteFile(path, b, 0o644)
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i, want := range []int{1514, 62, 62} {
		p, err := r.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
		if p.OrigLen != want || len(p.Data) != 62 {
			t.Errorf("record %d: OrigLen %d, %d bytes; want %d, 62", i+1, p.OrigLen, len(p.Data), want)
		}
	}
	if _, err := r.Next(); err == nil || r.Cut() != "" || r.Truncated() {
		t.Errorf("end: %v, cut %q", err, r.Cut())
	}
}

// TestReaderSkipsRecordsItCannotConvert: a record that cannot be
// presented as Ethernet (a pcapng's RadioTap interface, a Linux cooked
// header cut short) returns an error naming file and record, wrapping
// ErrRecordSkipped, and the next call reads the record after it: the
// file is not cut.
func TestReaderSkipsRecordsItCannotConvert(t *testing.T) {
	dir := t.TempDir()
	eth := pkt{t: t0, proto: 6, src: hostA, dst: hostB, sp: 2000, dp: 6667, size: 60}.frame()
	// Radiotap header (version 0, 8 bytes, no fields), then an 802.11
	// beacon's frame control and duration.
	wlan := []byte{0, 0, 8, 0, 0, 0, 0, 0, 0x80, 0, 0, 0}

	ngPath := filepath.Join(dir, "eth-wlan.pcapng")
	f, err := os.Create(ngPath)
	if err != nil {
		t.Fatal(err)
	}
	ng, err := pcapgo.NewNgWriterInterface(f, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	radio, err := ng.AddInterface(pcapgo.NgInterface{Name: "wlan0mon", LinkType: layers.LinkTypeIEEE80211Radio, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	for i, iface := range []int{0, radio, 0, 0} {
		data := eth
		if iface == radio {
			data = wlan
		}
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Second), CaptureLength: len(data), Length: len(data), InterfaceIndex: iface}
		if err := ng.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := ng.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	sllPath := filepath.Join(dir, "sll.pcap")
	f, err = os.Create(sllPath)
	if err != nil {
		t.Fatal(err)
	}
	pw := pcapgo.NewWriter(f)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeLinuxSLL); err != nil {
		t.Fatal(err)
	}
	sll := append(make([]byte, 14), 0x08, 0x00) // packet type ... protocol IPv4
	sll = append(sll, eth[14:]...)
	for i, data := range [][]byte{sll, sll[:10], sll} {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Second), CaptureLength: len(data), Length: len(data)}
		if err := pw.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()

	for _, c := range []struct {
		path    string
		records int
		skipped int
		err     string
	}{
		{ngPath, 4, 2, ngPath + ": record 2: link type RadioTap (127) is not supported: " +
			"xdpsensor reads Ethernet, raw IP, Linux cooked and loopback captures: record skipped"},
		{sllPath, 3, 2, sllPath + ": record 2: truncated Linux cooked header: record skipped"},
	} {
		r, err := Open(c.path)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= c.records; i++ {
			p, err := r.Next()
			if i == c.skipped {
				if !errors.Is(err, ErrRecordSkipped) || err.Error() != c.err {
					t.Errorf("%s record %d: %v; want %q", filepath.Base(c.path), i, err, c.err)
				}
				continue
			}
			if err != nil || p.Index != i || len(p.Data) != len(eth) || string(p.Data[14:]) != string(eth[14:]) {
				t.Errorf("%s record %d: index %d, %d bytes, %v; want index %d, the %d-byte frame", filepath.Base(c.path), i, p.Index, len(p.Data), err, i, len(eth))
			}
		}
		if _, err := r.Next(); !errors.Is(err, io.EOF) || r.Cut() != "" || r.Truncated() {
			t.Errorf("%s end: %v, cut %q, truncated %v; want io.EOF, not cut", filepath.Base(c.path), err, r.Cut(), r.Truncated())
		}
		r.Close()
	}
}

// Records are read in place from the Reader's buffer, but one larger than
// the buffer (a snaplen of megabytes) is read apart: a file of a small
// record, one of 1.5 MB and another small one reads back byte for byte,
// each record's data whole when Next returns it; cut inside the large
// record, it ends after the first with the cut said.
func TestReaderRecordsLargerThanItsBuffer(t *testing.T) {
	var b []byte
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 4<<20) // snaplen 4 MB
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	b = append(b, hdr...)
	sizes := []int{60, 1536 << 10, 70}
	for i, n := range sizes {
		rec := make([]byte, 16+n)
		binary.LittleEndian.PutUint32(rec[0:], uint32(1_700_000_000+i))
		binary.LittleEndian.PutUint32(rec[8:], uint32(n))
		binary.LittleEndian.PutUint32(rec[12:], uint32(n))
		for j := 16; j < len(rec); j++ {
			rec[j] = byte(i*7 + j)
		}
		b = append(b, rec...)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "big.pcap")
	os.WriteFile(path, b, 0o644)
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i, n := range sizes {
		p, err := r.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
		if len(p.Data) != n || p.Time.Unix() != int64(1_700_000_000+i) {
			t.Fatalf("record %d: %d bytes at %v; want %d at %d", i+1, len(p.Data), p.Time.Unix(), n, 1_700_000_000+i)
		}
		for j, c := range p.Data {
			if c != byte(i*7+16+j) {
				t.Fatalf("record %d: byte %d is %#x, want %#x", i+1, j, c, byte(i*7+16+j))
			}
		}
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) || r.Cut() != "" {
		t.Errorf("end: %v, cut %q", err, r.Cut())
	}

	cut := filepath.Join(dir, "cut.pcap")
	os.WriteFile(cut, b[:24+16+60+16+1000], 0o644)
	r2, err := Open(cut)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if p, err := r2.Next(); err != nil || len(p.Data) != 60 {
		t.Fatalf("cut file, record 1: %d bytes, %v", len(p.Data), err)
	}
	if _, err := r2.Next(); !errors.Is(err, io.EOF) || !r2.Truncated() || r2.Cut() == "" {
		t.Errorf("cut file: %v, truncated %v, cut %q; want EOF, true and why", err, r2.Truncated(), r2.Cut())
	}
}

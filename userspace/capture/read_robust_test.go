package capture

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
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

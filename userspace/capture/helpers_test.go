package capture

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// t0 is the seed's ring file start: honeytrap_00013_20070221091354.
var t0 = time.Date(2007, 2, 21, 9, 13, 54, 366236000, time.UTC)

var (
	hostA = netip.MustParseAddr("192.168.0.31")
	hostB = netip.MustParseAddr("161.53.178.240")
	hostC = netip.MustParseAddr("10.0.0.7")
	hostD = netip.MustParseAddr("2001:db8::7")
)

// pkt describes a test packet; frame builds its bytes.
type pkt struct {
	t        time.Time
	flow     uint64
	proto    uint8
	src, dst netip.Addr
	sp, dp   uint16
	size     int // frame length
	seq      int // makes the payload unique
	iface    string
}

// frame builds an Ethernet frame of p.size bytes (at least the headers).
func (p pkt) frame() []byte {
	var b []byte
	b = append(b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
	l4len := 8
	if p.proto == 6 {
		l4len = 20
	}
	if p.src.Is4() {
		b = binary.BigEndian.AppendUint16(b, 0x0800)
		ip := make([]byte, 20)
		ip[0] = 0x45
		ip[8] = 64
		ip[9] = p.proto
		s, d := p.src.As4(), p.dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		b = append(b, ip...)
	} else {
		b = binary.BigEndian.AppendUint16(b, 0x86dd)
		ip := make([]byte, 40)
		ip[0] = 0x60
		ip[6] = p.proto
		ip[7] = 64
		s, d := p.src.As16(), p.dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
		b = append(b, ip...)
	}
	l4 := make([]byte, l4len)
	binary.BigEndian.PutUint16(l4[0:], p.sp)
	binary.BigEndian.PutUint16(l4[2:], p.dp)
	b = append(b, l4...)
	b = binary.BigEndian.AppendUint32(b, uint32(p.seq))
	for i := 0; len(b) < p.size; i++ {
		b = append(b, byte(p.seq+i))
	}
	if p.src.Is4() {
		binary.BigEndian.PutUint16(b[16:18], uint16(len(b)-14))
	}
	return b
}

func (p pkt) record() *Record {
	return &Record{Time: p.t, Data: p.frame(), OrigLen: max(p.size, len(p.frame())), Interface: p.iface, FlowID: p.flow,
		Proto: p.proto, Src: p.src, Dst: p.dst, SrcPort: p.sp, DstPort: p.dp}
}

// readPackets reads a capture with the package's Reader.
func readPackets(t testing.TB, path string) (pkts []Packet, truncated bool) {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return pkts, r.Truncated()
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		p.Data = append([]byte(nil), p.Data...)
		pkts = append(pkts, p)
	}
}

// ringFiles lists dir's capture files (not indexes), sorted by name.
func ringFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"*.pcap", "*.pcapng"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		out = append(out, m...)
	}
	sort.Strings(out)
	return out
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func mustOpenRing(t testing.TB, o RingOptions) *Ring {
	t.Helper()
	r, err := OpenRing(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustWrite(t testing.TB, r *Ring, p pkt) string {
	t.Helper()
	f, err := r.Write(p.record())
	if err != nil {
		t.Fatalf("write packet %d: %v", p.seq, err)
	}
	return f
}

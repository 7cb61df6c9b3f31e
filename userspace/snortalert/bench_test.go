package snortalert

import (
	"io"
	"net/netip"
	"testing"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

func BenchmarkAppendFull(b *testing.B) {
	a := seedAlert(b)
	a.Rule.References = []string{"url,www.shadowserver.org"}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFull(buf[:0], a, Options{})
	}
}

func BenchmarkAppendFast(b *testing.B) {
	a := seedAlert(b)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFast(buf[:0], a, Options{})
	}
}

func BenchmarkWriteAlertFull(b *testing.B) {
	a := seedAlert(b)
	w := NewWriter(io.Discard, Full, Options{})
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteAlert(a); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNoAllocs keeps the hot path allocation-free.
func TestNoAllocs(t *testing.T) {
	a := seedAlert(t)
	a.Rule.References = []string{"url,www.shadowserver.org", "Cve,2007-1"}
	buf := make([]byte, 0, 1024)
	for _, f := range []func(){
		func() { buf = AppendFull(buf[:0], a, Options{}) },
		func() { buf = AppendFast(buf[:0], a, Options{Year: true}) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%v allocations a record", n)
		}
	}
}

// FuzzAppendFull feeds arbitrary frames under fixed header fields: the
// encoders must not panic, and every full record ends in its blank line.
func FuzzAppendFull(f *testing.F) {
	frames, _ := readPcap(f, "bot-cc-syn.pcap")
	f.Add(frames[0], false, uint8(6))
	f.Add(frames[0][:40], false, uint8(6))
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x86, 0xdd, 0x60, 0, 0, 0, 0, 8, 44, 64}, true, uint8(6))
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0, 0x46, 0, 0, 40, 0, 0, 0, 0, 64, 1}, false, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, v6 bool, proto uint8) {
		a := &event.Alert{Rule: seedRule(), Packet: event.Packet{
			Proto: proto, IPHeaderLen: 20, IPLen: 60, TCPHeaderLen: 20, TCPFlags: 0x3f,
			Src:  event.Endpoint{IP: netip.MustParseAddr("10.0.0.1"), Port: 1},
			Dst:  event.Endpoint{IP: netip.MustParseAddr("10.0.0.2"), Port: 2},
			Data: data,
		}}
		if v6 {
			a.Packet.Src.IP = netip.MustParseAddr("2001:db8::1")
			a.Packet.Dst.IP = netip.MustParseAddr("::ffff:1.2.3.4")
		}
		full := AppendFull(nil, a, Options{DataLink: true})
		if len(full) < 2 || full[len(full)-1] != '\n' || full[len(full)-2] != '\n' {
			t.Errorf("record does not end in a blank line: %q", full)
		}
		fast := AppendFast(nil, a, Options{})
		if fast[len(fast)-1] != '\n' {
			t.Errorf("fast line: %q", fast)
		}
	})
}

package capture

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkRingWrite measures Write of 600-byte frames into a ring of
// 100 MiB pcap files (flushed as the daemon does, every 100 ms of packets).
func BenchmarkRingWrite(b *testing.B) {
	for _, format := range []string{"pcap", "pcapng"} {
		b.Run(format, func(b *testing.B) {
			r, err := OpenRing(RingOptions{Dir: b.TempDir(), Files: 3, FileSize: 100 << 20, Format: format})
			if err != nil {
				b.Fatal(err)
			}
			p := pkt{proto: 6, src: hostA, dst: hostB, sp: 2253, dp: 6667, size: 600, iface: "eth0"}
			rec := p.record()
			b.SetBytes(int64(len(rec.Data)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rec.Time = t0.Add(time.Duration(i) * time.Microsecond)
				rec.FlowID = uint64(i%5000 + 1)
				rec.SrcPort = uint16(i % 5000)
				rec.Src = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8 % 20), 1})
				if _, err := r.Write(rec); err != nil {
					b.Fatal(err)
				}
				if i%10000 == 0 {
					r.Flush()
				}
			}
			if err := r.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

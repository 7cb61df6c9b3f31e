package blocklistmaps_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
)

// bigList is n distinct IPv4 addresses and m distinct /24 prefixes.
func bigList(n, m int) *blocklist.List {
	l := &blocklist.List{Rules: []blocklist.Rule{{GID: 1, SID: 1, Direction: blocklist.ListedAsAny}}}
	l.Entries = make([]blocklist.Entry, 0, n+m)
	for i := 0; i < n; i++ {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], 0x0b000000+uint32(i)*7) // 11.0.0.0 upwards
		l.Entries = append(l.Entries, blocklist.Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4(a), 32)})
	}
	for i := 0; i < m; i++ {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], 0x64000000+uint32(i)<<8) // 100.0.0.0/24 upwards
		l.Entries = append(l.Entries, blocklist.Entry{Prefix: netip.PrefixFrom(netip.AddrFrom4(a), 24)})
	}
	return l
}

func BenchmarkReplaceMillion(b *testing.B) {
	s, err := loader.Load(loader.Config{FlowTableSize: 1024, RingSize: 1 << 16, ReplayClock: true})
	if err != nil {
		b.Fatalf("load: %+v", err)
	}
	defer s.Close()
	bl, err := blocklistmaps.New(s.Maps(), "")
	if err != nil {
		b.Fatal(err)
	}
	list := bigList(1_000_000, 100_000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		st, err := bl.Replace(list)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms/load")
		if st.ExactV4 != 1_000_000 || st.PrefixV4 != 100_000 {
			b.Fatalf("%+v", st)
		}
	}
}

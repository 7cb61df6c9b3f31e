package blocklistmaps_test

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
)

// thresholdSensor loads a private sensor whose thresholds table holds size
// windows, with a list of one limit rule (60 s windows) installed.
func thresholdSensor(t *testing.T, size uint32) (*loader.Sensor, *blocklistmaps.Blocklist) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("these tests load BPF programs: run them as root (make test does)")
	}
	s, err := loader.Load(loader.Config{FlowTableSize: 1024, RingSize: 1 << 16, ReplayClock: true, ThresholdTableSize: size})
	if err != nil {
		t.Fatalf("load: %+v", err)
	}
	t.Cleanup(func() { s.Close() })
	bl, err := blocklistmaps.New(s.Maps(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bl.Replace(limitList()); err != nil {
		t.Fatal(err)
	}
	return s, bl
}

func limitList() *blocklist.List {
	return &blocklist.List{
		Rules: []blocklist.Rule{{GID: 1, SID: 7, Rev: 1, Msg: "limited", Direction: blocklist.ListedAsAny,
			Threshold: &blocklist.Threshold{Type: "limit", Track: "by_src", Count: 1, Seconds: 60}}},
		Entries: []blocklist.Entry{{Prefix: netip.MustParsePrefix("203.0.113.66/32")}},
	}
}

// liveRule is the id of the list's one rule in the live generation.
func liveRule(t *testing.T, s *loader.Sensor) uint32 {
	t.Helper()
	cfg, err := s.Maps().ReadConfig()
	if err != nil {
		t.Fatal(err)
	}
	var id uint32
	var r abi.BpfRule
	it := s.Objects.Rules.Iterate()
	for it.Next(&id, &r) {
		if id>>24 == cfg.Generation&1 && r.Sid == 7 {
			return id
		}
	}
	t.Fatalf("no live rule (%v)", it.Err())
	return 0
}

func window(rule uint32, src string) abi.BpfThresholdKey {
	k := abi.BpfThresholdKey{RuleId: rule, Family: 4}
	a := netip.MustParseAddr(src).As4()
	copy(k.Addr[:], a[:])
	return k
}

// windows lists the table as "rule id/source/count", sorted.
func windows(t *testing.T, s *loader.Sensor) []string {
	t.Helper()
	var out []string
	var k abi.BpfThresholdKey
	var v abi.BpfThresholdState
	it := s.Objects.Thresholds.Iterate()
	for it.Next(&k, &v) {
		out = append(out, fmt.Sprintf("%#x/%s/%d", k.RuleId, netip.AddrFrom4([4]byte(k.Addr[:4])), v.Count))
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestExpireThresholds(t *testing.T) {
	s, _ := thresholdSensor(t, 64)
	rule := liveRule(t, s)
	now := uint64(1000 * time.Second)
	for _, w := range []struct {
		key   abi.BpfThresholdKey
		start uint64
	}{
		{window(rule, "192.0.2.1"), now - uint64(61*time.Second)}, // ended
		{window(rule, "192.0.2.2"), now - uint64(60*time.Second)}, // ends now
		{window(rule, "192.0.2.3"), now - uint64(59*time.Second)}, // still open
		{window(rule, "192.0.2.4"), now + uint64(time.Second)},    // started after the daemon's clock
		{window(0x00ffffff, "192.0.2.5"), now},                    // a rule no longer loaded
	} {
		if err := s.Objects.Thresholds.Update(&w.key, &abi.BpfThresholdState{WindowStartNs: w.start, Count: 1}, ebpf.UpdateNoExist); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := blocklistmaps.ExpireThresholds(s.Maps(), now)
	if err != nil {
		t.Fatal(err)
	}
	if removed != 3 {
		t.Errorf("removed %d windows, want 3", removed)
	}
	got := windows(t, s)
	if want := []string{fmt.Sprintf("%#x/192.0.2.3/1", rule), fmt.Sprintf("%#x/192.0.2.4/1", rule)}; !slices.Equal(got, want) {
		t.Fatalf("windows left %v, want %v", got, want)
	}
}

// A reload carries an unchanged rule's windows to its new id even when
// the table has no room for a copy: each is moved instead.
func TestCarryThresholdsIntoAFullTable(t *testing.T) {
	const size = 4
	s, bl := thresholdSensor(t, size)
	rule := liveRule(t, s)
	for i := 1; i <= size; i++ {
		k := window(rule, fmt.Sprintf("192.0.2.%d", i))
		if err := s.Objects.Thresholds.Update(&k, &abi.BpfThresholdState{WindowStartNs: 1, Count: uint32(i)}, ebpf.UpdateNoExist); err != nil {
			t.Fatal(err)
		}
	}
	st, err := bl.Replace(limitList())
	if err != nil {
		t.Fatalf("reload with a full thresholds table: %v", err)
	}
	if st.ThresholdsDropped != 0 {
		t.Errorf("%d windows dropped, want 0", st.ThresholdsDropped)
	}
	next := liveRule(t, s)
	if next == rule {
		t.Fatal("the reload kept the rule's id")
	}
	got := windows(t, s)
	var want []string
	for i := 1; i <= size; i++ {
		want = append(want, fmt.Sprintf("%#x/192.0.2.%d/%d", next, i, i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("windows after the reload %v, want %v", got, want)
	}
}

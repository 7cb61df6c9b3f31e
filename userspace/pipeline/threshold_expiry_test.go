package pipeline

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// alertSink keeps the alerts a pipeline writes.
type alertSink struct{ alerts []event.Alert }

func (s *alertSink) WriteAlert(a *event.Alert) error { s.alerts = append(s.alerts, *a); return nil }
func (s *alertSink) WriteFlow(*event.Flow) error     { return nil }
func (s *alertSink) Close() error                    { return nil }

// The pipeline removes ended threshold windows as packet time passes
// (blocklistmaps.ExpireThresholds, every thresholdSweepPeriod): the kernel
// never evicts one, and a table full of windows that ended would leave
// new sources untracked (thresholds_full), alerting on every match. Four
// sources fill a table of four windows of a limit-1 rule; two minutes
// later, past their 60 s windows and a sweep, one of them and three new
// sources alert once each and are held back after. The same whether the
// table's entries are preallocated (run) or taken on demand (replay).
func TestThresholdWindowsExpireDuringReplay(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test loads the BPF program: run it as root (make test does)")
	}
	for _, onDemand := range []bool{false, true} {
		t.Run(fmt.Sprintf("on-demand=%v", onDemand), func(t *testing.T) { thresholdWindowsExpire(t, onDemand) })
	}
}

func thresholdWindowsExpire(t *testing.T, onDemand bool) {
	const (
		size = 4
		cc   = "203.0.113.66"
	)
	s, err := loader.Load(loader.Config{FlowTableSize: 1024, RingSize: 1 << 20, ReplayClock: true, ThresholdTableSize: size, AllocOnDemand: onDemand})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer s.Close()
	info, err := s.Objects.Thresholds.Info()
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Flags&unix.BPF_F_NO_PREALLOC != 0; got != onDemand {
		t.Fatalf("thresholds map BPF_F_NO_PREALLOC %v, want %v", got, onDemand)
	}
	bl, err := blocklistmaps.New(s.Maps(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bl.Replace(&blocklist.List{
		Rules: []blocklist.Rule{{GID: 1, SID: 9000001, Rev: 1, Msg: "limited", Direction: blocklist.ListedAsDst,
			Threshold: &blocklist.Threshold{Type: "limit", Track: "by_src", Count: 1, Seconds: 60}}},
		Entries: []blocklist.Entry{{Prefix: netip.MustParsePrefix(cc + "/32")}},
	}); err != nil {
		t.Fatal(err)
	}

	// Two SYNs (two flows) from each source: the first alerts, the second
	// is held back by the source's window.
	var segs []segment
	port := uint16(40000)
	twice := func(at time.Duration, src string) {
		for i := range 2 {
			port++
			segs = append(segs, segment{at: at + time.Duration(i)*time.Millisecond, src: src, sport: port, dst: cc, dport: 6667, syn: true})
		}
	}
	for i, src := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"} {
		twice(time.Duration(i)*10*time.Millisecond, src)
	}
	// Unlisted traffic 100 s on: the packet clock moves past the windows'
	// end, and the pipeline sweeps.
	segs = append(segs, segment{at: 100 * time.Second, src: "192.0.2.1", sport: 5000, dst: "192.0.2.2", dport: 80, syn: true})
	// 200 s on: an old source and three new ones.
	for i, src := range []string{"198.51.100.1", "198.51.100.5", "198.51.100.6", "198.51.100.7"} {
		twice(200*time.Second+time.Duration(i)*10*time.Millisecond, src)
	}
	pcap := filepath.Join(t.TempDir(), "later.pcap")
	writeTCPCapture(t, pcap, segs)

	sink := &alertSink{}
	p, err := New(s, []event.Sink{sink}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// One packet a round: the sweep runs between any two packets whose
	// times are far enough apart, as it does live.
	if _, err := p.Run(context.Background(), &ReplaySource{Program: s.Objects.Xdpsensor, Files: []string{pcap}, Batch: 1}); err != nil {
		t.Fatalf("%+v", err)
	}

	var got []string
	for _, a := range sink.alerts {
		got = append(got, fmt.Sprintf("%s:%d sid %d", a.Packet.Src.IP, a.Packet.Src.Port, a.Rule.SID))
	}
	want := []string{
		"198.51.100.1:40001 sid 9000001", "198.51.100.2:40003 sid 9000001", "198.51.100.3:40005 sid 9000001", "198.51.100.4:40007 sid 9000001",
		"198.51.100.1:40009 sid 9000001", "198.51.100.5:40011 sid 9000001", "198.51.100.6:40013 sid 9000001", "198.51.100.7:40015 sid 9000001",
	}
	if !slices.Equal(got, want) {
		t.Errorf("alerts\n%q\nwant\n%q", got, want)
	}
	st, err := s.Maps().ReadStats()
	if err != nil {
		t.Fatal(err)
	}
	if st.ThresholdsFull != 0 || st.AlertsSuppressed != 8 {
		t.Errorf("thresholds_full %d, alerts_suppressed %d; want 0 and 8", st.ThresholdsFull, st.AlertsSuppressed)
	}
	// What the table holds now: the four windows of 200 s, one alert each.
	var windows []string
	var k abi.BpfThresholdKey
	var v abi.BpfThresholdState
	for it := s.Objects.Thresholds.Iterate(); it.Next(&k, &v); {
		windows = append(windows, fmt.Sprintf("%s count %d", netip.AddrFrom4([4]byte(k.Addr[:4])), v.Count))
	}
	slices.Sort(windows)
	if want := []string{"198.51.100.1 count 2", "198.51.100.5 count 2", "198.51.100.6 count 2", "198.51.100.7 count 2"}; !slices.Equal(windows, want) {
		t.Errorf("threshold windows %q, want %q", windows, want)
	}
}

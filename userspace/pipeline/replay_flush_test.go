package pipeline

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// flushCountingSink counts the alerts it takes and the flushes asked of it.
type flushCountingSink struct {
	alertSink
	flushes int
}

func (s *flushCountingSink) Flush() error { s.flushes++; return nil }

// A replay pushes its outputs to disk at most every replayFlushEvery of
// wall time, and at its end, not after every batch: 40 batches of one
// frame, each raising an alert, are flushed a handful of times while the
// wall clock stands still, and after every batch when each batch takes
// that long. Every alert is written either way.
func TestReplayFlushesOutputsByWallTime(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test loads the BPF program: run it as root (make test does)")
	}
	const (
		batches = 40
		cc      = "203.0.113.66"
	)
	var segs []segment
	for i := range batches {
		segs = append(segs, segment{at: time.Duration(i) * time.Millisecond, src: "198.51.100.1", sport: uint16(40000 + i), dst: cc, dport: 6667, syn: true})
	}
	pcap := filepath.Join(t.TempDir(), "syns.pcap")
	writeTCPCapture(t, pcap, segs)

	for _, step := range []time.Duration{0, replayFlushEvery} {
		s, err := loader.Load(loader.Config{FlowTableSize: 1024, RingSize: 1 << 20, ReplayClock: true})
		if err != nil {
			t.Fatalf("%+v", err)
		}
		bl, err := blocklistmaps.New(s.Maps(), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bl.Replace(&blocklist.List{
			Rules:   []blocklist.Rule{{GID: 1, SID: 9000002, Rev: 1, Msg: "listed", Direction: blocklist.ListedAsDst}},
			Entries: []blocklist.Entry{{Prefix: netip.MustParsePrefix(cc + "/32")}},
		}); err != nil {
			t.Fatal(err)
		}
		sink := &flushCountingSink{}
		p, err := New(s, []event.Sink{sink}, Options{PrivateTables: true})
		if err != nil {
			t.Fatal(err)
		}
		wall := time.Unix(1e9, 0)
		p.wallNow = func() time.Time { wall = wall.Add(step); return wall }
		if _, err := p.Run(context.Background(), &ReplaySource{Program: s.Objects.Xdpsensor, Files: []string{pcap}, Batch: 1}); err != nil {
			t.Fatalf("%+v", err)
		}
		s.Close()
		if len(sink.alerts) != batches {
			t.Errorf("clock step %v: %d alerts written, want %d", step, len(sink.alerts), batches)
		}
		if step == 0 && sink.flushes > 4 {
			t.Errorf("wall clock standing still: %d flushes of %d batches, want at most 4 (the first batch's and the end's)", sink.flushes, batches)
		}
		if step > 0 && sink.flushes < batches {
			t.Errorf("wall clock moving %v a batch: %d flushes of %d batches, want one a batch", step, sink.flushes, batches)
		}
	}
}

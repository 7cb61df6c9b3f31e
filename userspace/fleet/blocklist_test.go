package fleet_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/fleet"
	"github.com/xdpsensor/xdpsensor/userspace/fleet/fleettest"
)

// installs records what a watching sensor installed.
type installs struct {
	mu    sync.Mutex
	lists []*blocklist.List
	at    []time.Time
	ch    chan struct{}
}

func newInstalls() *installs { return &installs{ch: make(chan struct{}, 16)} }

func (in *installs) options() fleet.WatchOptions {
	return fleet.WatchOptions{
		Parse: func(files []blocklist.Input, format string) (*blocklist.List, error) {
			return blocklist.LoadInputs(files, blocklist.Options{Format: format})
		},
		Install: func(l *blocklist.List) (blocklistmaps.InstallStats, error) {
			in.mu.Lock()
			defer in.mu.Unlock()
			in.lists = append(in.lists, l)
			in.at = append(in.at, time.Now())
			in.ch <- struct{}{}
			return blocklistmaps.InstallStats{Generation: uint32(2 * len(in.lists)), Rules: len(l.Rules)}, nil
		},
	}
}

// wait returns the next installed list and when, failing after within.
func (in *installs) wait(t *testing.T, within time.Duration) (*blocklist.List, time.Time) {
	t.Helper()
	select {
	case <-in.ch:
	case <-time.After(within):
		t.Fatalf("nothing installed within %v", within)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.lists[len(in.lists)-1], in.at[len(in.at)-1]
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// A sensor started while the server is down keeps its list, catches up
// with the published version once the server is there, then installs
// each new version within a second; big files travel in chunks, and
// chunks of replaced versions are purged.
func TestBlocklistWatch(t *testing.T) {
	port := fleettest.FreePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	bucket := uniqueName(t, "bl")
	sensor := uniqueName(t, "watch")
	p := newPublisher(t, url, t.TempDir(), sensor, func(c *fleet.Config) { c.Bucket = bucket })
	in := newInstalls()
	p.WatchBlocklist(in.options())
	time.Sleep(300 * time.Millisecond)
	select {
	case <-in.ch:
		t.Fatal("installed something with the server down")
	default:
	}

	srv := fleettest.StartAt(t, port)
	nc := connect(t, srv.URL())
	ctx := context.Background()
	first := []blocklist.Input{{Name: "feeds/botcc.rules", Data: []byte(
		"alert ip $HOME_NET any -> [203.0.113.66,203.0.113.67] any (msg:\"cc\"; classtype:trojan-activity; sid:9000001; rev:1;)\n")}}
	rev1, err := fleet.PublishBlocklist(ctx, nc, first, fleet.PublishOptions{Bucket: bucket, Publisher: "test"})
	if err != nil {
		t.Fatal(err)
	}
	l1, _ := in.wait(t, 5*time.Second)
	if len(l1.Entries) != 2 || l1.Rules[0].SID != 9000001 || l1.Entries[0].Source != "feeds/botcc.rules:1" {
		t.Fatalf("first version: %+v", l1)
	}

	// 150,000 addresses: about 2 MB, two chunks of the server's 1 MB
	// max_payload.
	var big strings.Builder
	for i := range 150_000 {
		fmt.Fprintf(&big, "%s\n", netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	second := []blocklist.Input{first[0], {Name: "feeds/drop.txt", Data: []byte(big.String())}}
	published := time.Now()
	rev2, err := fleet.PublishBlocklist(ctx, nc, second, fleet.PublishOptions{Bucket: bucket, Publisher: "test"})
	if err != nil {
		t.Fatal(err)
	}
	l2, at := in.wait(t, 5*time.Second)
	t.Logf("revision %d installed %v after publish returned", rev2, at.Sub(published))
	if at.Sub(published) > time.Second {
		t.Errorf("installed %v after publishing, want within 1 s", at.Sub(published))
	}
	if len(l2.Entries) != 150_002 || l2.Entries[2].Source != "feeds/drop.txt:1" {
		t.Fatalf("second version: %d entries, third from %q", len(l2.Entries), l2.Entries[2].Source)
	}
	// The counters move once Install has returned.
	c := counters(p)
	for deadline := time.Now().Add(2 * time.Second); c["fleet.blocklist_installs"] < 2 && time.Now().Before(deadline); c = counters(p) {
		time.Sleep(10 * time.Millisecond)
	}
	if rev2 <= rev1 || c["fleet.blocklist_revision"] != rev2 || c["fleet.blocklist_generation"] != 4 || c["fleet.blocklist_installs"] != 2 || c["fleet.blocklist_errors"] != 0 {
		t.Errorf("revisions %d, %d; counters %v", rev1, rev2, c)
	}

	// A version with the big file only: the rules file's chunk is purged.
	third := []blocklist.Input{second[1]}
	if _, err := fleet.PublishBlocklist(ctx, nc, third, fleet.PublishOptions{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	if l3, _ := in.wait(t, 5*time.Second); len(l3.Entries) != 150_000 {
		t.Fatalf("third version: %d entries", len(l3.Entries))
	}
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	if len(keys) != 3 || !strings.Contains(strings.Join(keys, " "), "manifest") {
		t.Errorf("bucket keys %v, want the manifest and the big file's two chunks", keys)
	}
}

// A version a sensor rejects (its own parse fails) is counted and
// logged, and the current list stays.
func TestBlocklistWatchRejects(t *testing.T) {
	srv := fleettest.Start(t)
	bucket := uniqueName(t, "bl")
	p := newPublisher(t, srv.URL(), t.TempDir(), uniqueName(t, "rej"), func(c *fleet.Config) { c.Bucket = bucket })
	in := newInstalls()
	opts := in.options()
	opts.Parse = func(files []blocklist.Input, format string) (*blocklist.List, error) {
		return blocklist.LoadInputs(files, blocklist.Options{Format: blocklist.FormatSnort})
	}
	p.WatchBlocklist(opts)
	nc := connect(t, srv.URL())
	if _, err := fleet.PublishBlocklist(context.Background(), nc, []blocklist.Input{{Name: "plain.txt", Data: []byte("203.0.113.9\n")}},
		fleet.PublishOptions{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for counters(p)["fleet.blocklist_errors"] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("counters %v, want one blocklist error", counters(p))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c := counters(p); c["fleet.blocklist_installs"] != 0 || c["fleet.blocklist_revision"] != 0 {
		t.Errorf("counters %v after a rejected version", c)
	}
}

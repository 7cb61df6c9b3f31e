package loader

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

func synTo(dst string, sport uint16) []byte {
	return frameSpec{v4: &ip4{src: "192.0.2.10", dst: dst, proto: 6}, l4: tcpSeg{sport: sport, dport: 6667, flags: event.TCPSyn}}.build()
}

// alerts runs one new-flow SYN to dst and reports whether it alerted.
func (h *harness) alertsFor(dst string, sport uint16) int {
	h.run(synTo(dst, sport))
	a, _ := h.events()
	return len(a)
}

func TestLiveAddDelExpire(t *testing.T) {
	h := newHarness(t, Config{})
	bl, err := blocklistmaps.New(h.s.Maps(), h.s.Config.PinDir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	bl.Now = func() time.Time { return now }
	h.block(simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.66", "198.51.100.0/24"))

	manual := blocklist.Rule{GID: 1, SID: 3999999, Rev: 1, Msg: "manually listed", Direction: blocklist.ListedAsAny}
	if n := h.alertsFor("203.0.113.77", 1); n != 0 {
		t.Fatalf("unlisted address alerted")
	}
	if _, err := bl.Add(netip.MustParsePrefix("203.0.113.77/32"), blocklistmaps.AddOptions{Rule: manual}); err != nil {
		t.Fatal(err)
	}
	if n := h.alertsFor("203.0.113.77", 2); n != 1 {
		t.Fatalf("added address: %d alerts", n)
	}
	// A prefix: the /16 pre-filter bit must be set for it too.
	if _, err := bl.Add(netip.MustParsePrefix("10.20.0.0/16"), blocklistmaps.AddOptions{Rule: manual}); err != nil {
		t.Fatal(err)
	}
	if n := h.alertsFor("10.20.3.4", 3); n != 1 {
		t.Fatalf("added prefix: %d alerts", n)
	}
	// IPv6 into a slot without IPv6 maps: rebuilt through Replace.
	if _, err := bl.Add(netip.MustParsePrefix("2001:db8:3::66/128"), blocklistmaps.AddOptions{Rule: manual}); err != nil {
		t.Fatal(err)
	}
	h.run(frameSpec{v6: &ip6{src: "2001:db8:1::10", dst: "2001:db8:3::66", proto: 6}, l4: tcpSeg{sport: 9, dport: 6667, flags: event.TCPSyn}}.build())
	if a, _ := h.events(); len(a) != 1 {
		t.Fatalf("added IPv6 address: %d alerts", len(a))
	}
	snap, err := bl.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Entries) != 5 {
		t.Fatalf("snapshot has %d entries: %+v", len(snap.Entries), snap.Entries)
	}
	cfg, _ := h.s.Maps().ReadConfig()
	c := cfg.Slots[cfg.Generation&1]
	if c.ExactV4 != 2 || c.PrefixV4 != 2 || c.ExactV6 != 1 {
		t.Fatalf("slot counts %+v", c)
	}
	if m := snap.Matches(netip.MustParseAddr("198.51.100.9")); len(m) != 1 || m[0].Prefix.String() != "198.51.100.0/24" {
		t.Fatalf("matches %+v", m)
	}

	if err := bl.Del(netip.MustParsePrefix("203.0.113.77/32")); err != nil {
		t.Fatal(err)
	}
	if n := h.alertsFor("203.0.113.77", 4); n != 0 {
		t.Fatalf("deleted address still alerts")
	}
	if err := bl.Del(netip.MustParsePrefix("203.0.113.77/32")); err == nil || err.Error() != "203.0.113.77/32 is not on the blocklist" {
		t.Fatalf("second delete: %v", err)
	}

	// An entry that expires in an hour.
	if _, err := bl.Add(netip.MustParsePrefix("203.0.113.88/32"), blocklistmaps.AddOptions{Rule: manual, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n, err := bl.Expire(now); err != nil || n != 0 {
		t.Fatalf("expire before its time: %d, %v", n, err)
	}
	if n := h.alertsFor("203.0.113.88", 5); n != 1 {
		t.Fatalf("expiring entry before expiry: %d alerts", n)
	}
	if n, err := bl.Expire(now.Add(2 * time.Hour)); err != nil || n != 1 {
		t.Fatalf("expire after its time: %d, %v", n, err)
	}
	if n := h.alertsFor("203.0.113.88", 6); n != 0 {
		t.Fatalf("expired entry still alerts")
	}
	if n := h.alertsFor("203.0.113.66", 7); n != 1 {
		t.Fatalf("the loaded list stopped matching")
	}
}

func TestFwsamBecomesExpiry(t *testing.T) {
	h := newHarness(t, Config{})
	bl, err := blocklistmaps.New(h.s.Maps(), h.s.Config.PinDir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2007, 2, 21, 10, 0, 0, 0, time.UTC)
	bl.Now = func() time.Time { return now }
	l := simpleList(blocklist.ListedAsDst, blocklist.NetAny, "161.53.178.240")
	l.Rules[0].Block = 30 * 24 * time.Hour
	if _, err := bl.Replace(l); err != nil {
		t.Fatal(err)
	}
	snap, err := bl.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Rules) != 1 {
		t.Fatalf("%d rules in the kernel, want the list's 1", len(snap.Rules))
	}
	for _, r := range snap.Rules {
		if want := uint64(now.Add(30 * 24 * time.Hour).Unix()); r.ExpiresUnix != want || r.BlockSeconds != 30*24*3600 {
			t.Fatalf("expires %d block %d, want %d", r.ExpiresUnix, r.BlockSeconds, want)
		}
	}
	if n, err := bl.Expire(now.Add(29 * 24 * time.Hour)); err != nil || n != 0 {
		t.Fatalf("expired early: %d, %v", n, err)
	}
	if n, err := bl.Expire(now.Add(31 * 24 * time.Hour)); err != nil || n != 1 {
		t.Fatalf("did not expire after 30 days: %d, %v", n, err)
	}
}

// A listed address keeps matching through 100 reloads while traffic to it
// never stops: new flows and an established one, on the other core.
func TestReloadUnderTrafficMissesNothing(t *testing.T) {
	h := newHarness(t, Config{FlowTableSize: 1 << 16, RingSize: 16 << 20})
	// Every packet is inspected: a miss is a packet that saw half a list.
	if err := h.s.SetAlertEveryPacket(true); err != nil {
		t.Fatal(err)
	}
	bl, err := blocklistmaps.New(h.s.Maps(), h.s.Config.PinDir)
	if err != nil {
		t.Fatal(err)
	}
	listed := "203.0.113.66"
	list := func(i int) *blocklist.List {
		// The listed address plus a changing crowd of others, in the exact
		// map and behind a changing prefix.
		addrs := []string{listed, fmt.Sprintf("198.51.100.%d", i%250+1), fmt.Sprintf("10.%d.0.0/16", i%200)}
		for j := 0; j < 200; j++ {
			addrs = append(addrs, fmt.Sprintf("192.0.2.%d", (i+j)%250+1))
		}
		return simpleList(blocklist.ListedAsDst, blocklist.NetAny, addrs...)
	}
	h.block(list(0))

	var stop atomic.Bool
	var sent, alertsSeen atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		established := synTo(listed, 40000)
		for i := 0; !stop.Load() && i < 2_000_000; i++ {
			frame := established
			if i%2 == 0 {
				frame = synTo(listed, uint16(1024+i%60000)) // a new flow every other packet
			}
			h.run(frame)
			sent.Add(1)
			if i%256 == 0 {
				a, _ := h.events()
				alertsSeen.Add(int64(len(a)))
			}
		}
	}()
	start := time.Now()
	for i := 1; i <= 100; i++ {
		if _, err := bl.Replace(list(i)); err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("reload %d: %v", i, err)
		}
		time.Sleep(time.Millisecond) // let packets run between reloads
	}
	stop.Store(true)
	wg.Wait()
	a, _ := h.events()
	alertsSeen.Add(int64(len(a)))
	st := h.stats()
	t.Logf("100 reloads in %v with %d packets to the listed address meanwhile", time.Since(start).Round(time.Millisecond), sent.Load())
	if sent.Load() < 1000 {
		t.Fatalf("only %d packets ran during the reloads", sent.Load())
	}
	if st.Matches != uint64(sent.Load()) {
		t.Fatalf("%d packets to a listed address, %d matched: %d misses", sent.Load(), st.Matches, sent.Load()-int64(st.Matches))
	}
	if st.Alerts+st.LostEvents != st.Matches || alertsSeen.Load() != int64(st.Alerts) {
		t.Fatalf("alerts %d (+%d lost, %d read) for %d matches", st.Alerts, st.LostEvents, alertsSeen.Load(), st.Matches)
	}
	cfg, _ := h.s.Maps().ReadConfig()
	if cfg.Generation < 101 {
		t.Fatalf("generation %d after 101 loads", cfg.Generation)
	}
}

// TestReloadKeepsThresholdWindows: reloading an identical list keeps each
// rule's threshold windows (a "limit 1 per hour" rule does not alert again
// at the reload); a changed threshold starts afresh.
func TestReloadKeepsThresholdWindows(t *testing.T) {
	h := newHarness(t, Config{})
	limited := func(seconds uint32) *blocklist.List {
		l := simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.66")
		l.Rules[0].Threshold = &blocklist.Threshold{Type: "limit", Track: "by_src", Count: 1, Seconds: seconds}
		return l
	}
	h.block(limited(3600))
	if n := h.alertsFor("203.0.113.66", 1); n != 1 {
		t.Fatalf("first SYN: %d alerts, want 1", n)
	}
	if n := h.alertsFor("203.0.113.66", 2); n != 0 {
		t.Fatalf("second SYN within the hour: %d alerts, want 0", n)
	}
	for i := 0; i < 3; i++ {
		h.block(limited(3600)) // cron reloads an unchanged feed
		if n := h.alertsFor("203.0.113.66", uint16(10+i)); n != 0 {
			t.Fatalf("after identical reload %d: %d alerts, want 0 (the window is kept)", i+1, n)
		}
	}
	h.block(limited(60)) // another threshold: another rule
	if n := h.alertsFor("203.0.113.66", 20); n != 1 {
		t.Fatalf("after a reload with a new threshold: %d alerts, want 1", n)
	}
}

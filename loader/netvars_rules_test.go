package loader

import (
	"net/netip"
	"testing"

	"github.com/xdpsensor/xdpsensor/ringbuf"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// Setting the net variables on a sensor that already holds a list (a
// `run` without --blocklist over a pinned sensor does it at start-up)
// moves the generation on: the list's rules must move with it, or every
// alert after it names a placeholder rule instead of its own.
func TestNetVarsKeepTheRulesNamed(t *testing.T) {
	h := newHarness(t, Config{})
	h.block(simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.66"))
	if err := blocklistmaps.SetNetVars(h.s.Maps(), blocklistmaps.NetVars{
		Home: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, ExternalAny: true}); err != nil {
		t.Fatal(err)
	}
	h.run(frameSpec{v4: &ip4{src: "192.0.2.10", dst: "203.0.113.66", proto: 6}, l4: tcpSeg{sport: 1000, dport: 6667, flags: event.TCPSyn}}.build())
	alerts, _ := h.events()
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1", len(alerts))
	}
	rules := &ringbuf.KernelRules{Map: h.s.Objects.Rules}
	if err := rules.Refresh(alerts[0].Generation); err != nil {
		t.Fatal(err)
	}
	r, ok := rules.Rule(alerts[0].RuleId, alerts[0].Generation)
	if !ok || r.SID != 2405000 {
		t.Errorf("the alert's rule (id %#x, generation %d): %+v, found %v; want sid 2405000", alerts[0].RuleId, alerts[0].Generation, r, ok)
	}
}

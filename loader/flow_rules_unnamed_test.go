package loader

import (
	"net/netip"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/flowtable"
)

// kernelRuleNames names rules from the sensor's rules map, by sid only.
type kernelRuleNames struct{ h *harness }

func (n kernelRuleNames) Rule(id, gen uint32) (*event.Rule, bool) {
	var r abi.BpfRule
	if err := n.h.s.Objects.Rules.Lookup(id, &r); err != nil {
		return nil, false
	}
	return &event.Rule{ID: id, GID: 1, SID: r.Sid}, true
}

// noRuleNames holds no rule: every one was replaced since.
type noRuleNames struct{}

func (noRuleNames) Rule(id, gen uint32) (*event.Rule, bool) { return nil, false }

// A listed flow's record that cannot name its rule (the blocklist changed
// before the record was written) still says the side is listed, as the
// kernel marked it, and the decoder counts the rule it left out: once
// when the rules map no longer holds the rule, once when no rule lists
// the address any more.
func TestFlowRulesUnnamedAreCounted(t *testing.T) {
	h := newHarness(t, Config{})
	h.block(simpleList(blocklist.ListedAsAny, blocklist.NetAny, "203.0.113.66"))
	h.run(synFrom("198.51.100.5", "203.0.113.66"))
	key, flow := h.onlyFlow()
	r := &blocklistmaps.Resolver{Maps: h.s.Maps()}
	defer r.Close()
	refresh := func() {
		cfg, err := h.s.Maps().ReadConfig()
		if err != nil {
			t.Fatal(err)
		}
		r.Refresh(cfg.Generation)
	}
	decode := func(names blocklistmaps.RuleNames) (f *event.Flow, unnamed uint64) {
		t.Helper()
		d := &flowtable.Decoder{Clock: func(ns uint64) time.Time { return time.Unix(0, int64(ns)) },
			Listed: func(addr, other netip.Addr) ([]event.Rule, int) {
				rules, unknown, err := r.Rules(addr, other, names)
				if err != nil {
					t.Fatal(err)
				}
				return rules, unknown
			}}
		f = d.Flow(&key, &flow.BpfFlowValue, flow.x, event.EndTimeout)
		return f, d.RulesUnnamed
	}
	sids := func(f *event.Flow) (out []uint32) {
		for _, r := range f.Rules {
			out = append(out, r.SID)
		}
		return out
	}

	refresh()
	f, unnamed := decode(kernelRuleNames{h})
	if !f.ServerListed || f.ClientListed || len(f.Rules) != 1 || f.Rules[0].SID != 2405000 || unnamed != 0 {
		t.Errorf("as listed: server listed %v, client listed %v, rules %v, unnamed %d; want true, false, [2405000], 0",
			f.ServerListed, f.ClientListed, sids(f), unnamed)
	}
	f, unnamed = decode(noRuleNames{})
	if !f.ServerListed || len(f.Rules) != 0 || unnamed != 1 {
		t.Errorf("rule replaced: server listed %v, rules %v, unnamed %d; want true, [], 1", f.ServerListed, sids(f), unnamed)
	}
	h.block(simpleList(blocklist.ListedAsAny, blocklist.NetAny, "203.0.113.77"))
	refresh()
	f, unnamed = decode(kernelRuleNames{h})
	if !f.ServerListed || len(f.Rules) != 0 || unnamed != 1 {
		t.Errorf("address no longer listed: server listed %v, rules %v, unnamed %d; want true, [], 1", f.ServerListed, sids(f), unnamed)
	}
}

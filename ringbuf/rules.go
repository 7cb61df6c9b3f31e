package ringbuf

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// KernelRules resolves rule ids from the pinned rules map, caching them.
// A rule id names a rule only within its blocklist generation (ids are
// reused two loads later), so the cache is keyed by both; when the
// generation moves, Refresh reads every rule of the new one at once, so
// that a quick second reload cannot delete rules before we saw them.
type KernelRules struct {
	Map *ebpf.Map
	// Classify gives the classification long name and priority of a
	// classtype; nil leaves Category empty and Priority as the rule says.
	Classify func(classtype string) (category string, priority uint32, ok bool)
	cache    map[ruleKey]*event.Rule
	gen      uint32
}

type ruleKey struct{ id, gen uint32 }

// Refresh caches the rules of a new generation. When the map cannot be
// read whole, the next call reads it again (Rule still looks up each id).
func (k *KernelRules) Refresh(generation uint32) error {
	if generation == k.gen && k.cache != nil {
		return nil
	}
	if k.cache == nil || len(k.cache) > 1<<17 {
		k.cache = map[ruleKey]*event.Rule{}
	}
	var id uint32
	var kr abi.BpfRule
	it := k.Map.Iterate()
	for it.Next(&id, &kr) {
		k.cache[ruleKey{id, kr.Generation}] = eventRule(id, &kr, k.Classify)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading the rules of generation %d: %w", generation, err)
	}
	k.gen = generation
	return nil
}

// Rule implements RuleResolver.
func (k *KernelRules) Rule(id, gen uint32) (*event.Rule, bool) {
	if r, ok := k.cache[ruleKey{id, gen}]; ok {
		return r, true
	}
	var kr abi.BpfRule
	if err := k.Map.Lookup(id, &kr); err != nil || kr.Generation != gen {
		return nil, false
	}
	r := eventRule(id, &kr, k.Classify)
	if k.cache == nil {
		k.cache = map[ruleKey]*event.Rule{}
	}
	k.cache[ruleKey{id, gen}] = r
	return r, true
}

// eventRule converts a kernel rule entry for the event model, with its
// classification resolved.
func eventRule(id uint32, kr *abi.BpfRule, classify func(string) (string, uint32, bool)) *event.Rule {
	br := abi.RuleFromKernel(kr)
	r := &event.Rule{
		ID:         id,
		GID:        br.GID,
		SID:        br.SID,
		Rev:        br.Rev,
		Msg:        br.Msg,
		Classtype:  br.Classtype,
		Priority:   br.Priority,
		References: br.References,
	}
	if classify != nil && r.Classtype != "" {
		if cat, prio, ok := classify(r.Classtype); ok {
			r.Category = cat
			if r.Priority == 0 {
				r.Priority = prio
			}
		}
	}
	// An unclassified rule keeps priority 0, as Snort prints it; EVE
	// writes Suricata's default severity 3 for it.
	return r
}

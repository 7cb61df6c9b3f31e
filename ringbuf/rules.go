package ringbuf

import (
	"strings"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader"
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
	cache    map[ruleKey]event.Rule
	gen      uint32
}

type ruleKey struct{ id, gen uint32 }

// Refresh caches the rules of a new generation.
func (k *KernelRules) Refresh(generation uint32) {
	if generation == k.gen && k.cache != nil {
		return
	}
	k.gen = generation
	if k.cache == nil || len(k.cache) > 1<<17 {
		k.cache = map[ruleKey]event.Rule{}
	}
	var id uint32
	var kr loader.BpfRule
	it := k.Map.Iterate()
	for it.Next(&id, &kr) {
		k.cache[ruleKey{id, kr.Generation}] = RuleFromKernel(id, &kr, k.Classify)
	}
}

// Rule implements RuleResolver.
func (k *KernelRules) Rule(id, gen uint32) (event.Rule, bool) {
	if r, ok := k.cache[ruleKey{id, gen}]; ok {
		return r, true
	}
	var kr loader.BpfRule
	if err := k.Map.Lookup(id, &kr); err != nil || kr.Generation != gen {
		return event.Rule{}, false
	}
	r := RuleFromKernel(id, &kr, k.Classify)
	if k.cache == nil {
		k.cache = map[ruleKey]event.Rule{}
	}
	k.cache[ruleKey{id, gen}] = r
	return r, true
}

// RuleFromKernel converts a kernel rule entry.
func RuleFromKernel(id uint32, kr *loader.BpfRule, classify func(string) (string, uint32, bool)) event.Rule {
	r := event.Rule{
		ID:        id,
		GID:       kr.Gid,
		SID:       kr.Sid,
		Rev:       kr.Rev,
		Msg:       loader.CString(kr.Msg[:]),
		Classtype: loader.CString(kr.Classtype[:]),
		Priority:  kr.Priority,
	}
	if refs := loader.CString(kr.References[:]); refs != "" {
		r.References = strings.Split(refs, "|")
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

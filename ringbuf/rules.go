package ringbuf

import (
	"strings"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// KernelRules resolves rule ids from the pinned rules map, caching them.
// Rule ids are reused two blocklist loads later, so the cache is dropped
// whenever the generation moves (Refresh).
type KernelRules struct {
	Map *ebpf.Map
	// Classify gives the classification long name and priority of a
	// classtype; nil leaves Category empty and Priority as the rule says.
	Classify func(classtype string) (category string, priority uint32, ok bool)
	cache    map[uint32]event.Rule
	gen      uint32
}

// Refresh drops the cache when the blocklist generation changed.
func (k *KernelRules) Refresh(generation uint32) {
	if generation != k.gen {
		k.cache = nil
		k.gen = generation
	}
}

// Rule implements RuleResolver.
func (k *KernelRules) Rule(id uint32) (event.Rule, bool) {
	if r, ok := k.cache[id]; ok {
		return r, true
	}
	var kr loader.BpfRule
	if err := k.Map.Lookup(id, &kr); err != nil {
		return event.Rule{}, false
	}
	r := RuleFromKernel(id, &kr, k.Classify)
	if k.cache == nil {
		k.cache = map[uint32]event.Rule{}
	}
	k.cache[id] = r
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
	if r.Priority == 0 {
		r.Priority = 3 // Snort's default for unclassified rules
	}
	return r
}

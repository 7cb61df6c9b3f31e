package abi

import (
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
)

// sharedSpec is the embedded object parsed once per process. Parsing its
// ELF and BTF takes 8-20 ms, and a replay used to do it three times (to
// load the program, to make blocklist slots, to name counters). Nothing
// changes it: Spec hands out copies.
var sharedSpec = sync.OnceValues(LoadBpf)

// Spec returns the embedded CollectionSpec, the caller's own to change.
func Spec() (*ebpf.CollectionSpec, error) {
	spec, err := sharedSpec()
	if err != nil {
		return nil, err
	}
	return spec.Copy(), nil
}

// InnerMapSpec returns the template of an outer map's inner maps, the
// caller's own to change.
func InnerMapSpec(outer string) (*ebpf.MapSpec, error) {
	spec, err := sharedSpec()
	if err != nil {
		return nil, err
	}
	m, ok := spec.Maps[outer]
	if !ok || m.InnerMap == nil {
		return nil, fmt.Errorf("%s: no such map of maps in the embedded object", outer)
	}
	return m.InnerMap.Copy(), nil
}

// ParseSpecAhead starts parsing the embedded object in the background, so
// that it overlaps what a command does before loading (a replay's scan of
// its captures).
func ParseSpecAhead() { go sharedSpec() }

package blocklistmaps_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
)

// A blocklist loaded into pinned maps of an older build whose prefix
// tries' slots are all empty (the CLI cannot tell them apart: it compares
// an inner map only when a slot holds one) fails with an error that says
// why and what to do, naming the map, not a bare "invalid argument"; the
// list in force is untouched.
func TestLoadIntoOldInnerLayoutSaysWhy(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("these tests load BPF programs: run them as root (make test does)")
	}
	pin := fmt.Sprintf("/sys/fs/bpf/xdpsensor-oldinner-%d", os.Getpid())
	t.Cleanup(func() { loader.Unpin(pin) })
	s, err := loader.Load(loader.Config{PinDir: pin, FlowTableSize: 1024, FlowTableSizeV6: 256, FlowExtraSize: 4096, RingSize: 1 << 16})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	s.Close()
	rules := []blocklist.Rule{{GID: 1, SID: 8, Rev: 1, Msg: "listed", Direction: blocklist.ListedAsAny}}
	first := &blocklist.List{Rules: rules, Entries: []blocklist.Entry{{Prefix: netip.MustParsePrefix("203.0.113.7/32")}}}
	load := func(l *blocklist.List) error {
		maps, err := loader.OpenPinned(pin)
		if err != nil {
			t.Fatalf("opening the pins: %v", err)
		}
		defer maps.Close()
		bl, err := blocklistmaps.New(maps, pin)
		if err != nil {
			t.Fatal(err)
		}
		_, err = bl.Replace(l)
		return err
	}
	if err := load(first); err != nil {
		t.Fatalf("this build's maps: %v", err)
	}

	// The build before nested prefixes: 8-byte trie values (now 12).
	const name = "blocklist_prefix_v4_slots"
	path := filepath.Join(pin, name)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	inner := &ebpf.MapSpec{Type: ebpf.LPMTrie, KeySize: 8, ValueSize: 8, MaxEntries: 16, Flags: 1 /* BPF_F_NO_PREALLOC */}
	outer, err := ebpf.NewMap(&ebpf.MapSpec{Name: "blocklist_prefi", Type: ebpf.ArrayOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 2, InnerMap: inner})
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Close()
	if err := outer.Pin(path); err != nil {
		t.Fatal(err)
	}

	err = load(&blocklist.List{Rules: rules, Entries: []blocklist.Entry{{Prefix: netip.MustParsePrefix("198.51.100.0/24")}}})
	if err == nil || !strings.Contains(err.Error(), name) ||
		!strings.Contains(err.Error(), "made for inner maps of another layout, by another xdpsensor build (`xdpsensor run` with this build replaces it)") {
		t.Fatalf("loading prefixes into old tries: %v", err)
	}
	// The exact entry loaded first is still the list in force.
	maps, err := loader.OpenPinned(pin)
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	var cfg abi.BpfSensorConfig
	if err := maps.Config.Lookup(uint32(0), &cfg); err != nil {
		t.Fatal(err)
	}
	r := &blocklistmaps.Resolver{Maps: maps}
	defer r.Close()
	r.Refresh(cfg.Generation)
	if c, err := r.Candidates(netip.MustParseAddr("203.0.113.7")); err != nil || len(c.Entries()) != 1 {
		t.Errorf("203.0.113.7 after the failed load: %+v, %v; want listed still", c, err)
	}
}

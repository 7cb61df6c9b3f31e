package loader

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
)

// pinOldPrefixSlots pins, in place of name, a map of maps as the build
// before nested prefixes made it: LPM tries of 8-byte values. With an
// entry, slot 0 holds such a trie listing 198.51.100.0/24 (IPv4).
func pinOldPrefixSlots(t *testing.T, pin, name string, keySize uint32, withEntry bool) {
	t.Helper()
	path := filepath.Join(pin, name)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	inner := &ebpf.MapSpec{Type: ebpf.LPMTrie, KeySize: keySize, ValueSize: 8, MaxEntries: 16, Flags: 1 /* BPF_F_NO_PREALLOC */}
	outer, err := ebpf.NewMap(&ebpf.MapSpec{Name: name[:min(len(name), 15)], Type: ebpf.ArrayOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 2, InnerMap: inner})
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Close()
	if withEntry {
		trie, err := ebpf.NewMap(inner)
		if err != nil {
			t.Fatal(err)
		}
		defer trie.Close()
		key := []byte{24, 0, 0, 0, 198, 51, 100, 0}
		if err := trie.Put(key, []byte{1, 0, 0, 0, 1, 0, 0, 0}); err != nil {
			t.Fatal(err)
		}
		if err := outer.Put(uint32(0), trie); err != nil {
			t.Fatal(err)
		}
	}
	if err := outer.Pin(path); err != nil {
		t.Fatal(err)
	}
}

// A start over the prefix tries pinned by the build before nested
// prefixes (8-byte values; now 12) replaces them, with a warning, instead
// of failing in the verifier: the outer maps look the same, so only
// their inner maps tell (one holding a trie, one with empty slots). A
// start that may not replace maps says to detach. The new tries work.
func TestOldPrefixTriesReplaced(t *testing.T) {
	pin := fmt.Sprintf("/sys/fs/bpf/xdpsensor-compat5-%d", os.Getpid())
	t.Cleanup(func() { Unpin(pin) })
	cfg := Config{PinDir: pin, FlowTableSize: 1024, FlowTableSizeV6: 256, FlowExtraSize: 4096, RingSize: 1 << 16}
	s, err := Load(cfg)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	s.Close()
	pinOldPrefixSlots(t, pin, "blocklist_prefix_v4_slots", 8, true)
	pinOldPrefixSlots(t, pin, "blocklist_prefix_v6_slots", 20, false)

	if s, err := Load(cfg); err == nil {
		s.Close()
		t.Fatal("loaded over the old prefix tries without replacing them")
	} else if !strings.Contains(err.Error(), "does not fit this build or configuration") || !strings.Contains(err.Error(), "inner maps") {
		t.Fatalf("load without ReplaceIncompatible: %v", err)
	}

	cfg.ReplaceIncompatible = true
	h := openHarness(t, cfg)
	want := []string{
		"pinned map blocklist_prefix_v4_slots no longer fits (inner maps: ValueSize: 8 changed to 12: ",
		"pinned map blocklist_prefix_v6_slots no longer fits (inner maps: another layout: ",
	}
	if len(h.s.Warnings) != len(want) {
		t.Fatalf("warnings %q", h.s.Warnings)
	}
	for i, w := range want {
		if !strings.HasPrefix(h.s.Warnings[i], w) || !strings.HasSuffix(h.s.Warnings[i], "created anew; the blocklist must be loaded again") {
			t.Errorf("warning %q, want it to start %q", h.s.Warnings[i], w)
		}
	}
	h.block(simpleList(blocklist.ListedAsDst, blocklist.NetAny, "198.51.100.0/24", "2001:db8:5::/48"))
	for _, dst := range []string{"198.51.100.7", "2001:db8:5::7"} {
		src := "192.0.2.10"
		if strings.Contains(dst, ":") {
			src = "2001:db8:1::10"
		}
		if sids, _ := h.alertSIDs(src, dst); fmt.Sprint(sids) != "[2405000/dst]" {
			t.Errorf("%s -> %s after the upgrade: alerts %v", src, dst, sids)
		}
	}
	// The next start finds the new maps fitting.
	h.close()
	s, err = Load(cfg)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer s.Close()
	if len(s.Warnings) != 0 {
		t.Errorf("second start: warnings %q", s.Warnings)
	}
}

package loader

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// A CLI built with another map layout than the sensor pinned says so,
// naming the map, instead of failing a lookup with "buffer too small" or
// reading wrong numbers: a stats map of another size, prefix tries of the
// build before nested prefixes.
func TestOpenPinnedSaysAnotherBuild(t *testing.T) {
	pin := fmt.Sprintf("/sys/fs/bpf/xdpsensor-layout-%d", os.Getpid())
	t.Cleanup(func() { Unpin(pin) })
	s, err := Load(Config{PinDir: pin, FlowTableSize: 1024, FlowTableSizeV6: 256, FlowExtraSize: 4096, RingSize: 1 << 16})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	s.Close()
	if m, err := OpenPinned(pin); err != nil {
		t.Fatalf("this build's pins: %v", err)
	} else {
		m.Close()
	}

	pinOldPrefixSlots(t, pin, "blocklist_prefix_v4_slots", 8, true)
	_, err = OpenPinned(pin)
	if err == nil || !strings.Contains(err.Error(), "pinned map blocklist_prefix_v4_slots under "+pin+" does not fit this build (inner maps: ValueSize: 8 changed to 12") ||
		!strings.Contains(err.Error(), "runs another xdpsensor build") {
		t.Errorf("old prefix tries: %v", err)
	}
	pinOldPrefixSlots(t, pin, "blocklist_prefix_v4_slots", 8, false) // no inner map to compare: opens
	if m, err := OpenPinned(pin); err != nil {
		t.Errorf("empty old prefix slots: %v", err)
	} else {
		m.Close()
	}

	path := filepath.Join(pin, "stats")
	os.Remove(path)
	old, err := ebpf.NewMap(&ebpf.MapSpec{Name: "stats", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 528, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := old.Pin(path); err != nil {
		t.Fatal(err)
	}
	_, err = OpenPinned(pin)
	if err == nil || !strings.Contains(err.Error(), "pinned map stats under "+pin+" does not fit this build (ValueSize: 528 changed to ") {
		t.Errorf("old stats map: %v", err)
	}
}

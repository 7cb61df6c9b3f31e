package abi

import "testing"

// Spec parses the object once and hands out copies: what one caller
// changes (loader.Load sizes the maps) the next does not see.
func TestSpecCopiesAreTheirOwn(t *testing.T) {
	a, err := Spec()
	if err != nil {
		t.Fatal(err)
	}
	want := a.Maps["flows_v4"].MaxEntries
	a.Maps["flows_v4"].MaxEntries = want + 1
	a.Programs["xdpsensor"].Instructions[0].Constant++
	b, err := Spec()
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Maps["flows_v4"].MaxEntries; got != want {
		t.Errorf("second copy's flows_v4 holds %d, want %d", got, want)
	}
	if b.Programs["xdpsensor"].Instructions[0].Constant == a.Programs["xdpsensor"].Instructions[0].Constant {
		t.Error("the copies share their instructions")
	}
	inner, err := InnerMapSpec("blocklist_v4_slots")
	if err != nil {
		t.Fatal(err)
	}
	inner.MaxEntries = 7
	again, err := InnerMapSpec("blocklist_v4_slots")
	if err != nil || again.MaxEntries == 7 {
		t.Errorf("inner map template changed by a caller: %v, %d entries", err, again.MaxEntries)
	}
	if _, err := InnerMapSpec("flows_v4"); err == nil {
		t.Error("flows_v4 has no inner map, yet InnerMapSpec gave one")
	}
}

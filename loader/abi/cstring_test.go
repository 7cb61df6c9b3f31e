package abi

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestPutCStringCutsAtCharacters: a message longer than the kernel's 160
// bytes is cut before the character that would not fit, never inside it.
func TestPutCStringCutsAtCharacters(t *testing.T) {
	var dst [160]int8
	msg := strings.Repeat("a", 158) + "é and more" // é is 2 bytes at 158-159: one too many
	putCString(dst[:], msg)
	got := CString(dst[:])
	if got != strings.Repeat("a", 158) || !utf8.ValidString(got) {
		t.Errorf("got %q (%d bytes)", got[150:], len(got))
	}
	putCString(dst[:], strings.Repeat("€", 60)) // 3 bytes each: 53 fit
	if got := CString(dst[:]); got != strings.Repeat("€", 53) {
		t.Errorf("got %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}

package eve

import (
	"net/netip"
	"strconv"
	"testing"
)

// TestAppendUintIsStrconv checks the in-place decimal writer against
// strconv at every power of ten and its neighbours, and at the ends.
func TestAppendUintIsStrconv(t *testing.T) {
	vals := []uint64{0, 1, 9, 10, 11, 99, 100, 101, 65535, 1<<64 - 1, 1<<63 - 1, 1 << 63}
	for p := uint64(1); p <= 1e19; p *= 10 {
		vals = append(vals, p-1, p, p+1, 2*p-1, 5*p)
		if p == 1e19 {
			break
		}
	}
	for _, v := range vals {
		got := string(appendUint([]byte("x"), v))
		if want := "x" + strconv.FormatUint(v, 10); got != want {
			t.Errorf("appendUint(%d) = %q, want %q", v, got, want)
		}
	}
}

// TestAppendIPv4IsNetip checks the table-driven dotted quad against
// netip for every octet value in every position.
func TestAppendIPv4IsNetip(t *testing.T) {
	for x := range 256 {
		for pos := range 4 {
			a := [4]byte{1, 22, 133, 4}
			a[pos] = byte(x)
			got := string(appendIPv4([]byte("x"), a))
			if want := "x" + netip.AddrFrom4(a).String(); got != want {
				t.Fatalf("appendIPv4(%v) = %q, want %q", a, got, want)
			}
		}
	}
	if got := string(appendIPv4(nil, [4]byte{255, 255, 255, 255})); got != "255.255.255.255" {
		t.Fatalf("appendIPv4(broadcast) = %q", got)
	}
}

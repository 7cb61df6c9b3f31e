package eve

import (
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

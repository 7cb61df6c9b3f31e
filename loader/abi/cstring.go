package abi

import "unicode/utf8"

// CString reads a NUL-terminated C char array.
func CString(src []int8) string {
	b := make([]byte, 0, len(src))
	for _, c := range src {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// putCString copies s into a NUL-terminated C char array, cutting it to
// fit at a character boundary (never inside a UTF-8 sequence).
func putCString(dst []int8, s string) {
	n := min(len(s), len(dst)-1)
	if n < len(s) {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
	}
	for i := 0; i < n; i++ {
		dst[i] = int8(s[i])
	}
	dst[n] = 0
}

package abi

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

// putCString copies s into a NUL-terminated C char array, cutting it to fit.
func putCString(dst []int8, s string) {
	n := min(len(s), len(dst)-1)
	for i := 0; i < n; i++ {
		dst[i] = int8(s[i])
	}
	dst[n] = 0
}

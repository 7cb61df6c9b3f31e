package blocklistmaps

import (
	"encoding/binary"
	"math/bits"
)

// The exact-address pre-filter: a Bloom filter over an array map of 64-bit
// words, two bits per address, ~16 bits per address (a false positive
// costs one hash lookup, about 1.4% of the time). The kernel's own bloom
// filter map would do, but it has no batch update: a million syscalls take
// longer than the whole load may. This one is written in a few batches.

const filterBitsPerEntry = 16

// filterBitsLog2 sizes the filter for n addresses.
func filterBitsLog2(n int) uint32 {
	want := uint64(max(n, 1)) * filterBitsPerEntry
	l := uint32(bits.Len64(want - 1))
	return min(max(l, 6), 31)
}

// addrHash is bpf/xdpsensor.c's addr_hash: murmur3's finalizer over the
// address as the kernel loads it (native byte order).
func addrHash(addr []byte) uint64 {
	var x uint64
	if len(addr) == 4 {
		x = uint64(binary.NativeEndian.Uint32(addr))
	} else {
		a := binary.NativeEndian.Uint64(addr[:8])
		b := binary.NativeEndian.Uint64(addr[8:16])
		x = a ^ (b * 0x9E3779B97F4A7C15)
	}
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// exactFilter is the filter's words for a set of addresses.
type exactFilter struct {
	log2  uint32
	words []uint64
}

func newExactFilter(n int) *exactFilter {
	l := filterBitsLog2(n)
	return &exactFilter{log2: l, words: make([]uint64, (uint64(1)<<l)/64)}
}

func (f *exactFilter) add(addr []byte) {
	h := addrHash(addr)
	mask := uint32(1)<<f.log2 - 1
	for _, i := range [2]uint32{uint32(h) & mask, uint32(h>>32) & mask} {
		f.words[i>>6] |= 1 << (i & 63)
	}
}

package main

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// preferHugePages has the next size bytes of this process's Go heap come
// in transparent huge pages, where the system gives them only on request
// (transparent_hugepage/enabled "madvise", as here). On a VM the first
// write to a fresh 4 KB page costs a fault of 10-17 µs, against under
// half a microsecond a page in 2 MB pages (make bench: "first write to
// fresh memory"): a `blocklist load` of a million lines took 45,000
// faults, 3,000 with this. The Go runtime does not ask for huge pages for
// its heap, so this grows the heap by size in one allocation it never
// touches, marks that range MADV_HUGEPAGE and frees it; the allocations
// that follow reuse the range. Untouched, it costs no memory.
//
// For short commands that build much at once (blocklist load, replay),
// not the daemon, whose resident memory would round up to 2 MB pages.
func preferHugePages(size int64) {
	const huge = 2 << 20
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || !bytes.Contains(mode, []byte("[madvise]")) {
		return // "always": the heap has them already; "never": none to have
	}
	// Only what memory there is, and never under strict overcommit, where
	// a reservation counts as used.
	overcommit, err := os.ReadFile("/proc/sys/vm/overcommit_memory")
	if err != nil {
		return
	}
	if m := string(bytes.TrimSpace(overcommit)); m != "0" && m != "1" {
		return // "2" (strict), or unreadable: an empty file indexed would panic
	}
	size = min(size, availableMemory()/2)
	if size < 8*huge {
		return
	}
	b := make([]byte, size)
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lead := int64((huge - base%huge) % huge) // to the first 2 MB boundary
	whole := (size - lead) &^ (huge - 1)
	_ = unix.Madvise(b[lead:lead+whole], unix.MADV_HUGEPAGE)
	runtime.KeepAlive(b)
	runtime.GC() // free it now, so that the next allocations land in it
}

// availableMemory is MemAvailable from /proc/meminfo, in bytes (0 when
// unknown).
func availableMemory() int64 {
	info, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(info) {
		if rest, ok := bytes.CutPrefix(line, []byte("MemAvailable:")); ok {
			f := bytes.Fields(rest)
			if len(f) == 0 {
				return 0
			}
			kb, err := strconv.ParseInt(string(f[0]), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

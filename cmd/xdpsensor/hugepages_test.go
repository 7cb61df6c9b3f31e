package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// vmFlags returns the VmFlags of the mapping of this process that holds
// addr, from /proc/self/smaps.
func vmFlags(t *testing.T, addr uintptr) []string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := strings.Cut(strings.Fields(line)[0], "-"); ok && !strings.HasSuffix(line, ":") {
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				in = uint64(addr) >= a && uint64(addr) < b
				continue
			}
		}
		if rest, ok := strings.CutPrefix(line, "VmFlags:"); ok && in {
			return strings.Fields(rest)
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return nil
}

// TestPreferHugePagesMarksTheHeapThatFollows runs in a process of its
// own (the test binary again): a heap other tests grew says nothing.
func TestPreferHugePagesMarksTheHeapThatFollows(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || !bytes.Contains(mode, []byte("[madvise]")) {
		t.Skipf("transparent huge pages are not given on request here (%q): nothing to ask for", bytes.TrimSpace(mode))
	}
	if os.Getenv("XDPSENSOR_HUGE_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPreferHugePagesMarksTheHeapThatFollows$", "-test.v")
		cmd.Env = append(os.Environ(), "XDPSENSOR_HUGE_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	before := make([]byte, 32<<20)
	if flags := vmFlags(t, uintptr(unsafe.Pointer(&before[0]))); slices.Contains(flags, "hg") {
		t.Fatalf("the heap is marked for huge pages before anything asked: VmFlags %v", flags)
	}
	preferHugePages(256 << 20)
	after := make([]byte, 32<<20)
	after[0] = 1
	if flags := vmFlags(t, uintptr(unsafe.Pointer(&after[len(after)/2]))); !slices.Contains(flags, "hg") {
		t.Errorf("an allocation after preferHugePages lies in a mapping without huge pages asked for: VmFlags %v", flags)
	}
	runtime.KeepAlive(before) // else the next allocation may reuse its pages
}

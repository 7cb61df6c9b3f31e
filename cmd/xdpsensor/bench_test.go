package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
)

// writeMillionList writes 1,000,000 IPv4 addresses and 100,000 IPv4 CIDRs.
func writeMillionList(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "# generated: 1M addresses, 100k /24 prefixes")
	for i := 0; i < 1_000_000; i++ {
		a := 0x0b000000 + uint32(i)*7
		fmt.Fprintf(w, "%d.%d.%d.%d\n", a>>24, a>>16&255, a>>8&255, a&255)
	}
	for i := 0; i < 100_000; i++ {
		a := 0x64000000 + uint32(i)<<8
		fmt.Fprintf(w, "%d.%d.%d.0/24\n", a>>24, a>>16&255, a>>8&255)
	}
	w.Flush()
	f.Close()
}

// BenchmarkBlocklistLoadMillion is `xdpsensor blocklist load` end to end:
// parse the file, check it, build the idle slot and flip to it.
func BenchmarkBlocklistLoadMillion(b *testing.B) {
	path := filepath.Join(b.TempDir(), "million.txt")
	writeMillionList(b, path)
	pin := fmt.Sprintf("/sys/fs/bpf/xdpsensor-bench-%d", os.Getpid())
	defer loader.Unpin(pin)
	s, err := loader.Load(loader.Config{PinDir: pin, FlowTableSize: 1024, RingSize: 1 << 16})
	if err != nil {
		b.Fatalf("%+v", err)
	}
	defer s.Close()
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := run(context.Background(), []string{"blocklist", "load", "--pin-dir", pin, path}, io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/load")
	bl, _ := blocklistmaps.New(s.Maps(), s.Config.PinDir)
	mem, err := bl.MemoryUse()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(mem["blocklist_v4"])/1e6, "bytes/exact-v4-entry")
	b.ReportMetric(float64(mem["blocklist_prefix_v4"])/1e5, "bytes/prefix-v4-entry")
	b.ReportMetric(float64(mem["exact_filter"])/1e6, "filter-bytes/exact-entry")
}

// BenchmarkBlocklistLoadMillionCLI is the same load the way an operator
// runs it: the xdpsensor binary as a process of its own (Go runtime
// start, the pinned maps opened, the file parsed, the slot built), timed
// from its start to its exit.
func BenchmarkBlocklistLoadMillionCLI(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "million.txt")
	writeMillionList(b, path)
	bin := filepath.Join(dir, "xdpsensor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("building: %v\n%s", err, out)
	}
	pin := fmt.Sprintf("/sys/fs/bpf/xdpsensor-bench-cli-%d", os.Getpid())
	defer loader.Unpin(pin)
	s, err := loader.Load(loader.Config{PinDir: pin, FlowTableSize: 1024, RingSize: 1 << 16})
	if err != nil {
		b.Fatalf("%+v", err)
	}
	defer s.Close()
	b.ResetTimer()
	var total time.Duration
	var faults int64
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin, "blocklist", "load", "--pin-dir", pin, path)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		total += time.Since(start)
		// Fresh memory is much of a load's time on a VM: its page faults.
		// (Not its maxrss: until exec the child shares this process's
		// memory, and the kernel counts that.)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			faults += ru.Minflt
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/load")
	b.ReportMetric(float64(faults)/float64(b.N), "page-faults")
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/loader"
)

const labScript = "../../scripts/lab.sh"

// buildBinary builds xdpsensor for tests that need a real process.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "xdpsensor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

type daemon struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

// startDaemon runs `xdpsensor run` and waits until it says it is attached.
func startDaemon(t *testing.T, bin string, args ...string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(bin, append([]string{"run"}, args...)...), stderr: &bytes.Buffer{}}
	pr, pw, _ := os.Pipe()
	d.cmd.Stderr = pw
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		signalled := false
		for sc.Scan() {
			d.stderr.WriteString(sc.Text() + "\n")
			if !signalled && (strings.Contains(sc.Text(), "msg=attached") || strings.Contains(sc.Text(), "msg=\"adopted")) {
				signalled = true
				ready <- true
			}
		}
		if !signalled {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("daemon exited before attaching:\n%s", d.stderr)
		}
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		t.Fatalf("daemon not attached after 20 s:\n%s", d.stderr)
	}
	return d
}

func (d *daemon) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	d.cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		t.Fatalf("daemon did not stop after %v", sig)
	}
}

// kill -9 during live traffic, traffic while it is dead, restart: every
// flow of the run is written exactly once and every packet the kernel
// counted is in a flow record.
func TestKeepAttachedSurvivesKill9(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root")
	}
	bin := buildBinary(t)
	name := fmt.Sprintf("k%d", os.Getpid()%10000)
	t.Cleanup(func() { exec.Command(labScript, "down", name).Run() })
	out, err := exec.Command(labScript, "up", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	span := "xs" + name + "span"
	if !bytes.Contains(out, []byte("span_iface="+span)) {
		t.Fatalf("lab: %s", out)
	}
	dir := t.TempDir()
	rules := filepath.Join(dir, "lab.rules")
	r, _ := exec.Command(labScript, "blocklist", name).Output()
	os.WriteFile(rules, r, 0o644)
	pin := "/sys/fs/bpf/xdpsensor-test-" + name
	t.Cleanup(func() { loader.Unpin(pin) })
	outDir := filepath.Join(dir, "out")
	common := []string{"--pin-dir", pin, "--iface", span, "--monitor-port", "--out", outDir, "--flow-timeout", "2s",
		"--flow-table-size", "4096", "--ring-size", "1048576"}

	d1 := startDaemon(t, bin, append(common, "--keep-attached", "--blocklist", rules)...)
	lab := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, labScript, args...).CombinedOutput(); err != nil {
			t.Fatalf("lab.sh %v: %v\n%s", args, err, out)
		}
	}
	attempt := exec.Command(labScript, "cc-attempt", name, "v4")
	attempt.Start()
	lab("traffic", name, "2")
	time.Sleep(500 * time.Millisecond)
	d1.stop(t, syscall.SIGKILL) // mid-attempt: the C&C SYNs keep coming
	lab("traffic", name, "2")   // a whole session while no daemon runs
	lab("backscatter", name, "v4", "1024")
	attempt.Wait()

	// Restart and adopt; then stop for good (no --keep-attached): every
	// flow left is written and the program detached.
	d2 := startDaemon(t, bin, common...)
	if !strings.Contains(d2.stderr.String(), "adopted") {
		t.Errorf("the second run did not adopt the pinned program:\n%s", d2.stderr)
	}
	time.Sleep(3 * time.Second) // past the flow timeout: the scan writes idle flows
	d2.stop(t, syscall.SIGTERM)

	var st map[string]uint64
	sj, err := exec.Command(bin, "stats", "--json", "--pin-dir", pin).Output()
	if err != nil || json.Unmarshal(sj, &st) != nil {
		t.Fatalf("stats: %v %s", err, sj)
	}
	data, err := os.ReadFile(filepath.Join(outDir, "eve.json"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]int{}
	var pkts uint64
	var ccSyns, back int
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var rec struct {
			EventType string `json:"event_type"`
			FlowID    uint64 `json:"flow_id"`
			DestIP    string `json:"dest_ip"`
			SrcIP     string `json:"src_ip"`
			Flow      struct {
				ToServer uint64 `json:"pkts_toserver"`
				ToClient uint64 `json:"pkts_toclient"`
			} `json:"flow"`
			FlagCounts map[string]map[string]int `json:"xdpsensor_flag_counts"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("bad line %s", line)
		}
		if rec.EventType != "flow" {
			continue
		}
		seen[rec.FlowID]++
		pkts += rec.Flow.ToServer + rec.Flow.ToClient
		if rec.DestIP == "203.0.113.66" {
			ccSyns += rec.FlagCounts["toserver"]["syn"]
		}
		if rec.SrcIP == "203.0.113.67" {
			back++
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("flow %d written %d times", id, n)
		}
	}
	kernelPkts := st["tcp_packets"] + st["udp_packets"] + st["icmp_packets"] + st["icmpv6_packets"] + st["other_ip_packets"] - st["fragments"]
	if pkts != kernelPkts {
		t.Errorf("flow records hold %d packets, the kernel counted %d (%d flows)", pkts, kernelPkts, len(seen))
	}
	if ccSyns < 3 || back != 1 {
		t.Errorf("C&C SYNs in records %d (want >= 3, across the kill), backscatter flows %d", ccSyns, back)
	}
	if out, _ := exec.Command("ip", "-details", "link", "show", span).Output(); bytes.Contains(out, []byte("prog/xdp")) {
		t.Errorf("the program is still attached after a run without --keep-attached stopped:\n%s", out)
	}
	t.Logf("%d flows, %d packets, written once each", len(seen), pkts)
}

// A new program replaces the attached one through its link while traffic
// flows: no packet goes uncounted.
func TestProgramUpgradeUnderTraffic(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root")
	}
	bin := buildBinary(t)
	name := fmt.Sprintf("u%d", os.Getpid()%10000)
	t.Cleanup(func() { exec.Command(labScript, "down", name).Run() })
	if err := exec.Command(labScript, "up", name).Run(); err != nil {
		t.Fatal(err)
	}
	span := "xs" + name + "span"
	dir := t.TempDir()
	pin := "/sys/fs/bpf/xdpsensor-test-" + name
	t.Cleanup(func() { loader.Unpin(pin) })
	outDir := filepath.Join(dir, "out")
	common := []string{"--pin-dir", pin, "--iface", span, "--out", outDir, "--flow-table-size", "4096", "--ring-size", "1048576"}

	// The first program drops on a monitor port; the second passes: two
	// different programs, as a new binary would bring.
	d1 := startDaemon(t, bin, append(common, "--keep-attached", "--monitor-port")...)
	const count = 1500
	ping := exec.Command("nsenter", "--net=/var/run/netns/xs-"+name+"-in", "ping", "-q", "-n", "-c", fmt.Sprint(count), "-i", "0.002", "198.51.100.20")
	var pingOut bytes.Buffer
	ping.Stdout = &pingOut
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	d1.stop(t, syscall.SIGTERM) // keeps the program attached
	d2 := startDaemon(t, bin, common...)
	if !strings.Contains(d2.stderr.String(), "adopted") {
		t.Fatalf("no adoption:\n%s", d2.stderr)
	}
	if err := ping.Wait(); err != nil {
		t.Fatalf("ping: %v\n%s", err, pingOut.String())
	}
	if !strings.Contains(pingOut.String(), fmt.Sprintf("%d packets transmitted, %d received", count, count)) {
		t.Fatalf("ping lost packets on the wire itself: %s", pingOut.String())
	}
	d2.stop(t, syscall.SIGTERM)

	data, _ := os.ReadFile(filepath.Join(outDir, "eve.json"))
	var echo uint64
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var rec struct {
			EventType string `json:"event_type"`
			Proto     string `json:"proto"`
			SrcIP     string `json:"src_ip"`
			DestIP    string `json:"dest_ip"`
			Flow      struct {
				ToServer uint64 `json:"pkts_toserver"`
				ToClient uint64 `json:"pkts_toclient"`
			} `json:"flow"`
		}
		json.Unmarshal(line, &rec)
		if rec.EventType == "flow" && rec.Proto == "ICMP" && rec.SrcIP == "192.0.2.10" && rec.DestIP == "198.51.100.20" {
			echo += rec.Flow.ToServer + rec.Flow.ToClient
		}
	}
	if echo != 2*count {
		t.Fatalf("echo requests and replies counted across the upgrade: %d, want %d", echo, 2*count)
	}
}

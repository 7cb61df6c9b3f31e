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
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/loader"
)

// mountTmpfs mounts a tmpfs of the given size on a new directory, removed
// at the end.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "mode=0750,size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		if exec.Command("umount", dir).Run() != nil {
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// synAckStorm has the lab's listed IRC server send count SYN-ACKs to the
// inside host, one per destination port from firstPort on: each is a new
// flow and an alert, and so is the inside host's RST.
func synAckStorm(t *testing.T, outNS string, count, firstPort int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", outNS, "hping3", "-q", "-c", fmt.Sprint(count), "-i", "u400",
		"-S", "-A", "-s", "6667", "-k", "-p", fmt.Sprintf("++%d", firstPort), "-a", "203.0.113.67", "192.0.2.10")
	if out, err := cmd.CombinedOutput(); err != nil && cmd.ProcessState.ExitCode() > 1 { // 1: no reply to hping3 itself
		t.Fatalf("hping3: %v\n%s", err, out)
	}
}

// daemonCounters reads `xdpsensor stats --json`.
func daemonCounters(t *testing.T, bin, pin string) map[string]uint64 {
	t.Helper()
	out, err := exec.Command(bin, "stats", "--json", "--pin-dir", pin).Output()
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	var m map[string]uint64
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("stats --json: %v\n%s", err, out)
	}
	return m
}

// TestDiskFullLive: the live sensor writes to a tmpfs with 192 KiB free
// under an alert storm until it is full, then space is freed. The daemon
// never exits, `stats` counts the failed writes and the frames it could
// not capture, every line of every output is whole, and alerts raised
// after space returned are written. Records are lost only while the disk
// is full: the 16 KiB backlog drops nothing once writing resumes, though
// a round then carries far more than 16 KiB, and every record the
// daemon handed an output is in the file or counted as that output's
// loss, to the record.
func TestDiskFullLive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (make test runs as root)")
	}
	bin := buildBinary(t)
	name := fmt.Sprintf("f%d", os.Getpid()%10000)
	t.Cleanup(func() { exec.Command(labScript, "down", name).Run() })
	up, err := exec.Command(labScript, "up", name).Output()
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(up), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	dir := t.TempDir()
	rules := filepath.Join(dir, "lab.rules")
	r, _ := exec.Command(labScript, "blocklist", name).Output()
	os.WriteFile(rules, r, 0o644)
	pin := "/sys/fs/bpf/xdpsensor-test-" + name
	t.Cleanup(func() { loader.Unpin(pin) })

	// 192 KiB free; freeing the filler gives back room for everything
	// written after (the storm's flow records and a second storm).
	out := mountTmpfs(t, "8m")
	filler := filepath.Join(out, "filler")
	if err := os.WriteFile(filler, make([]byte, (8<<20)-(192<<10)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, bin, "--pin-dir", pin, "--iface", env["span_iface"], "--monitor-port", "--out", out,
		"--blocklist", rules, "--flow-timeout", "60s", "--flow-table-size", "8192", "--ring-size", "4194304",
		"--pcap-size", "64k", "--pcap-files", "4", "--output-backlog", "16k")
	exited := make(chan error, 1)
	go func() { exited <- d.cmd.Wait() }()

	// The storm fills the disk.
	synAckStorm(t, env["out_ns"], 1500, 2000)
	deadline := time.Now().Add(10 * time.Second)
	var c map[string]uint64
	for {
		select {
		case err := <-exited:
			t.Fatalf("the daemon exited on a full disk: %v\n%s", err, d.stderr)
		default:
		}
		c = daemonCounters(t, bin, pin)
		if c["output_write_errors"] > 0 && c["pcap_frames_lost"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write errors counted after the storm: %v\n%s", c, d.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("full: output_write_errors %d, output_records_lost %d, pcap_frames_lost %d, pcap_frames_written %d",
		c["output_write_errors"], c["output_records_lost"], c["pcap_frames_lost"], c["pcap_frames_written"])
	if c["output_records_lost"] == 0 {
		t.Errorf("a 16 KiB backlog kept every record of the storm: %v", c)
	}
	if c["alerts"] < 1500 {
		t.Errorf("kernel alerts %d, want at least one per SYN-ACK (1500)", c["alerts"])
	}

	// Space returns: alerts raised now are written, and none is lost
	// though a round carries far more than the 16 KiB backlog.
	os.Remove(filler)
	time.Sleep(1500 * time.Millisecond) // past the one-second retry
	synAckStorm(t, env["out_ns"], 200, 40000)
	found := false
	for deadline := time.Now().Add(10 * time.Second); !found && time.Now().Before(deadline); {
		for _, l := range lines(t, filepath.Join(out, "eve.json")) {
			var a struct {
				EventType string `json:"event_type"`
				DestPort  int    `json:"dest_port"`
				SrcPort   int    `json:"src_port"`
			}
			if json.Unmarshal([]byte(l), &a) == nil && a.EventType == "alert" && (a.DestPort == 40004 || a.SrcPort == 40004) {
				found = true
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !found {
		t.Errorf("no alert of the storm after space returned (port 40004) in eve.json\n%s", tail(d.stderr.String()))
	}
	select {
	case err := <-exited:
		t.Fatalf("the daemon exited: %v\n%s", err, d.stderr)
	default:
	}
	if !strings.Contains(d.stderr.String(), "output cannot be written") || !strings.Contains(d.stderr.String(), "output writable again") {
		t.Errorf("the log does not say when writing failed and resumed:\n%s", tail(d.stderr.String()))
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		t.Fatal("the daemon did not stop after SIGTERM")
	}

	// Every line of every output is whole.
	for _, l := range lines(t, filepath.Join(out, "eve.json")) {
		if !json.Valid([]byte(l)) {
			t.Fatalf("eve.json: a line that does not parse: %.120q", l)
		}
	}
	for _, l := range lines(t, filepath.Join(out, "conn.log")) {
		if !strings.HasPrefix(l, "#") && strings.Count(l, "\t") != 24 {
			t.Fatalf("conn.log: a line of %d fields: %.120q", strings.Count(l, "\t")+1, l)
		}
	}
	for _, l := range lines(t, filepath.Join(out, "alert.fast")) {
		if !strings.Contains(l, "[**] [1:9000001:1] XDPSENSOR LAB Known Bot C&C Server Traffic [**]") || !strings.Contains(l, "} 203.0.113.67:") && !strings.Contains(l, "-> 203.0.113.67:") {
			t.Fatalf("alert.fast: a line that does not parse: %.160q", l)
		}
	}
	lines(t, filepath.Join(out, "alert.full")) // ends in a newline

	// Every record is written or counted as lost, and only while the
	// disk was full: each output's loss when writing resumed is its loss
	// at the end.
	st := daemonCounters(t, bin, pin)
	lost := recordsLostWhenWritable(d.stderr.String())
	t.Logf("end: alerts %d written %d, flows written %d, stats written %d, output_records_lost %d, lost when writable again %v",
		st["alerts"], st["alerts_written"], st["flows_written"], st["stats_written"], st["output_records_lost"], lost)
	var sum uint64
	for _, n := range lost {
		sum += n
	}
	if sum != st["output_records_lost"] {
		t.Errorf("output_records_lost %d at the end, %d when writing resumed (%v): records lost on a writable disk",
			st["output_records_lost"], sum, lost)
	}
	if st["alerts_written"] != st["alerts"] {
		t.Errorf("alerts_written %d, the kernel sent %d", st["alerts_written"], st["alerts"])
	}
	count := func(name string, keep func(string) bool) uint64 {
		var n uint64
		for _, l := range lines(t, filepath.Join(out, name)) {
			if keep(l) {
				n++
			}
		}
		return n
	}
	all := func(string) bool { return true }
	conn := lines(t, filepath.Join(out, "conn.log"))
	if len(conn) == 0 || !strings.HasPrefix(conn[0], "#separator") || !strings.HasPrefix(conn[len(conn)-1], "#close") {
		t.Errorf("conn.log lost its header or #close: every loss there must be a flow line")
	}
	for _, c := range []struct {
		name    string
		written uint64
		sent    uint64
	}{
		{"eve.json", count("eve.json", all), st["alerts_written"] + st["flows_written"] + st["stats_written"]},
		{"alert.fast", count("alert.fast", all), st["alerts_written"]},
		{"alert.full", count("alert.full", func(l string) bool { return strings.HasPrefix(l, "[**] [") }), st["alerts_written"]},
		{"conn.log", count("conn.log", func(l string) bool { return !strings.HasPrefix(l, "#") }), st["flows_written"]},
	} {
		if got := c.written + lost[c.name]; got != c.sent {
			t.Errorf("%s: %d records written + %d lost = %d, the daemon sent it %d", c.name, c.written, lost[c.name], got, c.sent)
		}
	}
}

// writableAgain is the log line of an output that can be written again.
var writableAgain = regexp.MustCompile(`msg="output writable again" file=(\S+) write_errors=\d+ records_lost=(\d+)`)

// recordsLostWhenWritable is each output's records_lost (by file name)
// at the last time the log says it became writable again.
func recordsLostWhenWritable(log string) map[string]uint64 {
	lost := map[string]uint64{}
	for _, m := range writableAgain.FindAllStringSubmatch(log, -1) {
		n, _ := strconv.ParseUint(m[2], 10, 64)
		lost[filepath.Base(m[1])] = n
	}
	return lost
}

// lines returns the lines of path, failing when it ends in half a line.
func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("%s ends in half a line: %.80q", path, b[max(0, len(b)-80):])
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func tail(s string) string {
	if len(s) > 3000 {
		return "..." + s[len(s)-3000:]
	}
	return s
}

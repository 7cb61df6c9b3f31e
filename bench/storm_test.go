package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A live SYN storm into `xdpsensor run` with default settings: at least
// 100,000 new flows a second for 20 seconds, each one written as a flow
// record or counted under a named loss; the daemon stays up and its
// memory bounded. The daemon's CPU is reported.
func TestLiveStormEveryFlowAccounted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the storm runs on a netns lab: run as root (make test does)")
	}
	const (
		rate     = 120_000 // new flows a second, offered
		duration = 20 * time.Second
		tick     = 10 * time.Millisecond
	)
	dir := t.TempDir()
	bin := filepath.Join(dir, "xdpsensor")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/xdpsensor").CombinedOutput(); err != nil {
		t.Fatalf("building: %v\n%s", err, out)
	}
	e := newLiveEnv(t, false)
	pin := fmt.Sprintf("/sys/fs/bpf/xdpsensor-storm-%d", os.Getpid())
	t.Cleanup(func() { os.RemoveAll(pin) })
	out := filepath.Join(dir, "out")
	var logs bytes.Buffer
	daemon := exec.Command(bin, "run", "--netns", e.ns, "--iface", e.rcv, "--monitor-port", "--capture", "none",
		"--pin-dir", pin, "--out", out, "--stats-interval", "5s")
	daemon.Stdout, daemon.Stderr = &logs, &logs
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer daemon.Process.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "attached") {
		if time.Now().After(deadline) || daemon.ProcessState != nil {
			t.Fatalf("the daemon did not attach:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	be := func(a [4]byte) uint32 { return binary.NativeEndian.Uint32(a[:]) }
	gen := e.generator(t, false, map[string]uint32{"gen_new_flows": 1, "gen_src_net": be([4]byte{198, 51, 100, 0})})
	frame := Frame{Src: "198.51.100.1", Dst: plainDst.String(), SrcPort: 1024, DstPort: 80, Flags: "S"}.Build()
	cpu0 := procCPU(t, daemon.Process.Pid)
	start := time.Now()
	sent, maxRSS := 0, 0
	perTick := int(rate * tick / time.Second)
	for next := start; time.Since(start) < duration; next = next.Add(tick) {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		e.send(t, gen, frame, perTick)
		sent += perTick
		if sent%(rate/2) < perTick { // twice a second: alive, and its memory
			if err := daemon.Process.Signal(syscall.Signal(0)); err != nil {
				t.Fatalf("the daemon died during the storm: %v\n%s", err, logs.String())
			}
			maxRSS = max(maxRSS, procRSS(t, daemon.Process.Pid))
		}
	}
	took := time.Since(start)
	cpu := procCPU(t, daemon.Process.Pid) - cpu0
	daemon.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- daemon.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the daemon: %v\n%s", err, logs.String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("the daemon did not stop\n%s", logs.String())
	}

	st := statsJSON(t, bin, pin)
	seen := st["flows_new"] + st["flow_table_full"]
	accounted := st["flows_written"] + st["flow_records_lost"] + st["export_split"]
	t.Logf("offered %d new flows in %s (%.0f/s); the sensor saw %d packets, %d flows (%d in the table, %d full-table records); "+
		"written %d (%d emergency, %d timeout, %d shutdown, %d from the ring), lost %d; daemon CPU %.0f%% of a core, peak RSS %d MiB",
		sent, took.Round(time.Millisecond), float64(sent)/took.Seconds(), st["packets"], seen, st["flows_new"], st["flow_table_full"],
		st["flows_written"], st["flows_emergency"], st["flows_timeout"], st["flows_shutdown"], st["flows_from_ring"],
		st["flow_records_lost"], 100*cpu.Seconds()/took.Seconds(), maxRSS>>20)
	if rate := float64(st["packets"]) / took.Seconds(); rate < 100_000 {
		t.Errorf("the sensor saw %.0f new flows a second, want at least 100,000", rate)
	}
	if st["packets"] != seen {
		t.Errorf("%d packets but %d flows: every storm packet is a new flow", st["packets"], seen)
	}
	if accounted != seen {
		t.Errorf("%d flows seen, %d written or counted lost", seen, accounted)
	}
	if flows := countFlowRecords(t, filepath.Join(out, "eve.json")); uint64(flows) != st["flows_written"] {
		t.Errorf("eve.json holds %d flow records, the daemon counts %d", flows, st["flows_written"])
	}
	if maxRSS > 512<<20 {
		t.Errorf("daemon RSS reached %d MiB", maxRSS>>20)
	}
	if !strings.Contains(logs.String(), "stopped: ") {
		t.Errorf("no summary line:\n%s", logs.String())
	}
}

func statsJSON(t *testing.T, bin, pin string) map[string]uint64 {
	t.Helper()
	out, err := exec.Command(bin, "stats", "--json", "--pin-dir", pin).Output()
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	st := map[string]uint64{}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("stats: %v\n%s", err, out)
	}
	return st
}

func countFlowRecords(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(`"event_type":"flow"`)) {
			n++
		}
	}
	return n
}

// procCPU is a process's user and system time.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command's closing parenthesis; utime and stime are
	// the 14th and 15th of the line.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	u, _ := strconv.ParseUint(f[11], 10, 64)
	s, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(u+s) * time.Second / 100 // USER_HZ
}

// procRSS is a process's resident memory in bytes.
func procRSS(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb << 10
		}
	}
	return 0
}

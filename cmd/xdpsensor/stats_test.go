package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader"
)

// statsSensor pins a sensor and returns a func feeding it the first frame
// of bot-cc-syn.pcap (a TCP SYN).
func statsSensor(t *testing.T) (pin string, feed func()) {
	t.Helper()
	pin = fmt.Sprintf("/sys/fs/bpf/xdpsensor-statstest-%d", os.Getpid())
	t.Cleanup(func() { loader.Unpin(pin) })
	s, err := loader.Load(loader.Config{PinDir: pin, FlowTableSize: 1024, RingSize: 1 << 16, ReplayClock: true})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	t.Cleanup(func() { s.Close() })
	capture, err := os.ReadFile(filepath.Join(testdata, "bot-cc-syn.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	pkt := capture[24+16 : 24+16+62]
	data := make([]byte, 8+len(pkt))
	binary.NativeEndian.PutUint64(data, 1)
	copy(data[8:], pkt)
	return pin, func() {
		if _, err := s.Objects.Xdpsensor.Run(&ebpf.RunOptions{Data: data,
			Context: loader.XDPContext{Data: 8, DataEnd: uint32(len(data))}}); err != nil {
			t.Fatal(err)
		}
	}
}

// fakeStatsClock makes each wait feed perWait frames and advance the
// clock by exactly the interval; after stopAfter waits it cancels.
func fakeStatsClock(t *testing.T, feed func(), perWait, stopAfter int, cancel context.CancelFunc) *int {
	t.Helper()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	waits := 0
	oldNow, oldSleep := statsNow, statsSleep
	t.Cleanup(func() { statsNow, statsSleep = oldNow, oldSleep })
	statsNow = func() time.Time { return now }
	statsSleep = func(ctx context.Context, d time.Duration) error {
		waits++
		if stopAfter > 0 && waits > stopAfter {
			cancel()
			return ctx.Err()
		}
		for i := 0; i < perWait; i++ {
			feed()
		}
		now = now.Add(d)
		return nil
	}
	return &waits
}

func TestStatsRatesJSON(t *testing.T) {
	pin, feed := statsSensor(t)
	feed()
	fakeStatsClock(t, feed, 2, 0, nil)
	out, err := runCLI(t, "stats", "--json", "--interval", "1s", "--count", "3", "--pin-dir", pin)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d reports, want 3:\n%s", len(lines), out)
	}
	for i, l := range lines {
		var r struct {
			Counters map[string]uint64  `json:"counters"`
			Rates    map[string]float64 `json:"rates"`
			Interval float64            `json:"interval_seconds"`
		}
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("report %d: %v\n%s", i, err, l)
		}
		if want := uint64(1 + 2*(i+1)); r.Counters["packets"] != want || r.Counters["tcp_packets"] != want {
			t.Errorf("report %d: packets %d, tcp_packets %d, want %d", i, r.Counters["packets"], r.Counters["tcp_packets"], want)
		}
		if r.Rates["packets"] != 2 || r.Rates["tcp_bytes"] != 2*48 || r.Rates["udp_packets"] != 0 {
			t.Errorf("report %d: rates %v", i, r.Rates)
		}
		// The daemon's counters follow the kernel's (none running: zero).
		for _, name := range []string{"output_records_lost", "history_letters_lost"} {
			if v, ok := r.Counters[name]; !ok || v != 0 {
				t.Errorf("report %d: %s %d (present %v), want a zero daemon counter", i, name, v, ok)
			}
		}
		// One flow: the first frame made it, the rest found it.
		if r.Counters["flows_new"] != 1 || r.Rates["flows_new"] != 0 {
			t.Errorf("report %d: flows_new %d at %g/s", i, r.Counters["flows_new"], r.Rates["flows_new"])
		}
		if r.Interval != 1 {
			t.Errorf("report %d: interval_seconds %g", i, r.Interval)
		}
		if _, ok := r.Counters["blocklist_generation"]; !ok {
			t.Errorf("report %d: no blocklist_generation", i)
		}
		if _, ok := r.Rates["blocklist_generation"]; ok {
			t.Errorf("report %d: a rate for the blocklist generation", i)
		}
		if len(r.Counters) != len(r.Rates)+1 {
			t.Errorf("report %d: %d counters, %d rates", i, len(r.Counters), len(r.Rates))
		}
	}
}

func TestStatsRatesTable(t *testing.T) {
	pin, feed := statsSensor(t)
	fakeStatsClock(t, feed, 3, 0, nil)
	out, err := runCLI(t, "stats", "--interval", "500ms", "--pin-dir", pin)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if lines[0] != "# 2026-01-02T03:04:05Z, rates over 0.500s" {
		t.Errorf("title %q", lines[0])
	}
	rows := lines[1:]
	if f := strings.Fields(rows[0]); strings.Join(f, " ") != "counter value rate/s" {
		t.Errorf("header %q", rows[0])
	}
	want := map[string][]string{
		"packets":              {"3", "6.0"},
		"tcp_packets":          {"3", "6.0"},
		"flows_new":            {"1", "2.0"},
		"udp_packets":          {"0", "0.0"},
		"blocklist_generation": {"0", "-"},
	}
	for _, r := range rows {
		if len(r) != len(rows[0]) {
			t.Errorf("row %q is %d wide, header %d: columns not aligned", r, len(r), len(rows[0]))
		}
		f := strings.Fields(r)
		if w, ok := want[f[0]]; ok {
			if f[1] != w[0] || f[2] != w[1] {
				t.Errorf("%s: %v, want %v", f[0], f[1:], w)
			}
			delete(want, f[0])
		}
	}
	if len(want) > 0 {
		t.Errorf("rows missing: %v\n%s", want, out)
	}
}

// --count 0 reports until the command's context ends (SIGINT/SIGTERM in
// main), then exits cleanly.
func TestStatsUntilInterrupted(t *testing.T) {
	pin, feed := statsSensor(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waits := fakeStatsClock(t, feed, 1, 4, cancel)
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"stats", "--json", "--count", "0", "--pin-dir", pin}, &out, &errOut); err != nil {
		t.Fatalf("%+v", err)
	}
	if n := strings.Count(out.String(), "\n"); n != 4 || *waits != 5 {
		t.Errorf("%d reports after %d waits, want 4 after 5:\n%s", n, *waits, out.String())
	}
	if !strings.Contains(out.String(), `"interval_seconds":1}`) {
		t.Errorf("--count alone: want the default 1s interval:\n%s", out.String())
	}
}

func TestStatsFlagErrors(t *testing.T) {
	pin, _ := statsSensor(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--interval", "0s"}, "--interval 0s"},
		{[]string{"--interval", "-1s"}, "--interval -1s"},
		{[]string{"--count", "-1"}, "--count -1"},
		{[]string{"--interval", "soon"}, "invalid argument"},
	} {
		_, err := runCLI(t, append([]string{"stats", "--pin-dir", pin}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("stats %v: error %v, want it to mention %q", c.args, err, c.want)
		}
	}
}

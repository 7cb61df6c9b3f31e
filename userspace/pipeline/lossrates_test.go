package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/loader"
)

func TestLogLossRates(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := LossSnapshot{At: t0, Counters: map[string]uint64{"alerts_lost": 10, "capture_lost": 0, "pcap_frames_lost": 5, "output_records_lost": 7}}
	cur := LossSnapshot{At: t0.Add(30 * time.Second), Counters: map[string]uint64{"alerts_lost": 70, "capture_lost": 0, "pcap_frames_lost": 5, "output_records_lost": 7}}
	if LogLossRates(log, prev, cur) || buf.Len() != 0 {
		t.Fatalf("logged within a minute: %s", buf.String())
	}
	cur.At = t0.Add(2 * time.Minute)
	cur.Counters["pcap_frames_lost"] = 245
	if !LogLossRates(log, prev, cur) {
		t.Fatal("nothing logged after two minutes of loss")
	}
	want := `level=WARN msg="lost since the last report" interval=2m0s alerts_lost="60 (0.5/s)" pcap_frames_lost="240 (2.0/s)"` + "\n"
	if buf.String() != want {
		t.Errorf("got  %s\nwant %s", buf.String(), want)
	}
	buf.Reset()
	if !LogLossRates(log, cur, LossSnapshot{At: cur.At.Add(time.Minute), Counters: cur.Counters}) || buf.Len() != 0 {
		t.Errorf("a quiet minute logged %q", buf.String())
	}
	for name, want := range map[string]bool{"alerts_lost": true, "thresholds_full": true, "alerts_suppressed": false, "lost_events": false, "capture_lost": true, "flows_merged": true, "export_late_packets": true,
		"output_write_errors": true, "output_records_lost": true, "pcap_frames_lost": true, "flow_records_lost": true,
		"alerts": false, "pcap_frames_written": false, "capture_packets": false} {
		if isLossCounter(name) != want {
			t.Errorf("isLossCounter(%s) = %v", name, !want)
		}
	}
}

// TestReplayLogsLossesAtEnd: a replay lasts less than the minute between
// two loss reports, yet it ends with one loss line naming every counter
// that moved, by exactly how much; a replay that lost nothing logs none.
func TestReplayLogsLossesAtEnd(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "storm.pcap")
	const packets = 20000
	writeSynAckStorm(t, pcap, packets)
	// The storm's sources, without the threshold: every SYN-ACK alerts.
	var addrs []string
	for i := 1; i <= stormSources; i++ {
		addrs = append(addrs, fmt.Sprintf("193.109.122.%d", i))
	}
	rules := filepath.Join(dir, "storm.rules")
	os.WriteFile(rules, []byte(fmt.Sprintf("alert ip [%s] any -> $HOME_NET any (msg:\"listed server talks to us\"; sid:9000012; rev:1;)\n",
		strings.Join(addrs, ","))), 0o644)
	replay := func(files ...string) (Summary, []string) {
		t.Helper()
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
		// A one-page event ring and a table of the fewest flows: most
		// alerts and flow records find no room.
		sum, err := Replay(context.Background(), Config{Blocklists: []string{rules}, OutDir: filepath.Join(t.TempDir(), "out"),
			FlowTableSize: loader.MinFlows, RingSize: uint32(os.Getpagesize()), AlertEveryPacket: true, Logger: log,
			Capture: CaptureConfig{Mode: loader.CaptureNone}}, files)
		if err != nil {
			t.Fatalf("%+v", err)
		}
		var lines []string
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.Contains(l, "lost since the last report") {
				lines = append(lines, l)
			}
		}
		return sum, lines
	}

	sum, lines := replay(pcap)
	k := &sum.Kernel
	if k.AlertsLost == 0 || k.FlowRecordsLost == 0 {
		t.Fatalf("the storm lost no alert (%d) or no flow record (%d)", k.AlertsLost, k.FlowRecordsLost)
	}
	if sum.Alerts+k.AlertsLost != packets {
		t.Errorf("%d alerts + %d lost = %d, want %d", sum.Alerts, k.AlertsLost, sum.Alerts+k.AlertsLost, packets)
	}
	var want strings.Builder
	want.WriteString(`level=WARN msg="lost since the last report" interval=I`)
	for _, c := range []struct {
		name string
		n    uint64
	}{{"alerts_lost", k.AlertsLost}, {"flow_records_lost", k.FlowRecordsLost}, {"flows_merged", k.FlowsMerged}} {
		if c.n > 0 {
			fmt.Fprintf(&want, ` %s="%d (R/s)"`, c.name, c.n)
		}
	}
	// The wall clock's interval and rates vary from run to run.
	interval, rate := regexp.MustCompile(`interval=\S+`), regexp.MustCompile(`\(\d+\.\d/s\)`)
	if len(lines) != 1 || rate.ReplaceAllString(interval.ReplaceAllString(lines[0], "interval=I"), "(R/s)") != want.String() {
		t.Errorf("loss lines:\n%s\nwant one, with the interval as I and the rates as R:\n%s\nlosses: %v", strings.Join(lines, "\n"), want.String(), sum.Losses)
	}

	if sum, lines := replay(filepath.Join(testdata, "bot-cc-syn.pcap")); len(sum.Losses) != 0 || len(lines) != 0 {
		t.Errorf("a replay that lost nothing (losses %v) logged:\n%s", sum.Losses, strings.Join(lines, "\n"))
	}
}

package pipeline

import (
	"bytes"
	"log/slog"
	"testing"
	"time"
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
	for name, want := range map[string]bool{"alerts_lost": true, "lost_events": false, "capture_lost": true, "flows_merged": true, "export_late_packets": true,
		"output_write_errors": true, "output_records_lost": true, "pcap_frames_lost": true, "flow_records_lost": true,
		"alerts": false, "pcap_frames_written": false, "capture_packets": false} {
		if isLossCounter(name) != want {
			t.Errorf("isLossCounter(%s) = %v", name, !want)
		}
	}
}

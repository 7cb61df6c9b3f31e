package pipeline

import (
	"testing"

	"github.com/xdpsensor/xdpsensor/loader/abi"
)

// Every daemon counter of something lost or cut short is on the summary
// line when it is not zero: an alert written with a placeholder rule too.
func TestLossesNameDaemonCounters(t *testing.T) {
	d := abi.BpfDaemonStats{AlertsRuleUnknown: 2, HistoryLettersLost: 5, AlertsWritten: 9}
	counters, err := abi.DaemonCounters(&d)
	if err != nil {
		t.Fatal(err)
	}
	got := FormatLosses(losses(counters))
	want := "lost: 5 history letters past the kernel's room (conn.log history cut short), " +
		"2 alerts whose rule was replaced before they were read (written with a placeholder rule)"
	if got != want {
		t.Errorf("summary\n%q\nwant\n%q", got, want)
	}
}

package pipeline

import (
	"path/filepath"
	"testing"
	"time"
)

// A tuple idle past the flow timeout (2 minutes) and then active again is
// two flows, as Zeek and Suricata log it, even when both parts run in one
// batch of frames (before, the sweep between batches alone split them,
// and a batch holding both made one flow of them): the first ends at its
// last packet with reason timeout, the second starts at the packet that
// came back.
func TestIdleTupleSplitsWithinABatch(t *testing.T) {
	pcap := filepath.Join(t.TempDir(), "idle.pcap")
	writeTCPCapture(t, pcap, append(ircOpening(),
		// 150 s later: past the 120 s timeout.
		c2s(150*time.Second, segment{ack: true, psh: true, payload: "PING\r\n"}),
		s2c(150*time.Second+10*time.Millisecond, segment{ack: true}),
	))
	_, flows := split(replayFiles(t, nil, pcap))
	if len(flows) != 2 {
		t.Fatalf("%d flows, want 2", len(flows))
	}
	first, second := flows[0], flows[1]
	if first.Flow.Reason != "timeout" || first.Flow.PktsToServer != 3 || first.Flow.PktsToClient != 1 ||
		first.Flow.End != "2007-02-21T10:00:00.030000+0000" {
		t.Errorf("first flow: reason %q, packets %d/%d, end %s; want timeout, 3/1, 10:00:00.030000",
			first.Flow.Reason, first.Flow.PktsToServer, first.Flow.PktsToClient, first.Flow.End)
	}
	if second.Flow.Reason != "shutdown" || second.Flow.PktsToServer != 1 || second.Flow.PktsToClient != 1 ||
		second.Flow.Start != "2007-02-21T10:02:30.000000+0000" {
		t.Errorf("second flow: reason %q, packets %d/%d, start %s; want shutdown, 1/1, 10:02:30.000000",
			second.Flow.Reason, second.Flow.PktsToServer, second.Flow.PktsToClient, second.Flow.Start)
	}
}

package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReplayOnFullDiskSaysWhatItLost: a replay whose outputs fill their
// disk fails, and still prints its summary line, whose loss is exactly
// the records the files lack, those dropped while the disk was full and
// those closing could not write.
func TestReplayOnFullDiskSaysWhatItLost(t *testing.T) {
	capPath := filepath.Join(t.TempDir(), "syns.pcap")
	const flows = 3000
	syns := make([][]byte, flows)
	for i := range syns {
		syns[i] = tcpSYN(t, net.IP{192, 168, 0, 31}, net.IP{198, 51, 100, 7}, uint16(10000+i), 443)
	}
	writeEthernetPcap(t, capPath, time.Microsecond, syns...)

	// 3,000 flow records take about 3 MB of eve.json: 256 KiB holds a few.
	out := mountTmpfs(t, "256k")
	stdout, err := runCLI(t, "replay", "-b", filepath.Join(testdata, "bleeding-botcc-group1.rules"), "-o", out,
		"--flow-table-size", "4096", capPath)
	if err == nil || !strings.Contains(err.Error(), "closing output") {
		t.Fatalf("replay onto a full disk: error %v, want one closing the outputs", err)
	}
	m := regexp.MustCompile(`^replayed 3000 packets: 0 alerts, (\d+) flow records written to .*; lost: (\d+) records outputs could not write\n$`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("summary line %q", stdout)
	}
	written, _ := strconv.Atoi(m[1])
	lost, _ := strconv.Atoi(m[2])
	if written != flows {
		t.Fatalf("%d flow records handed to the outputs, want %d", written, flows)
	}
	records := func(name string, keep func(line []byte) bool) int {
		data, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, line := range bytes.SplitAfter(data, []byte("\n")) {
			if len(line) > 0 && line[len(line)-1] == '\n' && keep(line) {
				n++
			}
		}
		return n
	}
	eveLines := records("eve.json", func([]byte) bool { return true })
	// conn.log's header block is one record, its #close line another.
	connRecords := records("conn.log", func(l []byte) bool {
		return l[0] != '#' || bytes.HasPrefix(l, []byte("#separator")) || bytes.HasPrefix(l, []byte("#close"))
	})
	// eve.json was sent every flow and the replay's one stats event;
	// conn.log its header, every flow and its #close line.
	if want := (flows + 1 - eveLines) + (flows + 2 - connRecords); lost != want || lost == 0 {
		t.Errorf("summary says %d lost; the files lack %d (eve.json holds %d lines, conn.log %d records)", lost, want, eveLines, connRecords)
	}
}

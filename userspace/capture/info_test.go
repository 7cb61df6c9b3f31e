package capture

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const seedSyn = "../../testdata/bot-cc-syn.pcap"

func TestInfoSeed(t *testing.T) {
	fi, err := Info(seedSyn)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Packets != 3 || fi.FileSize != 258 || fi.DataSize != 186 || fi.Duration() != 8940217*time.Microsecond ||
		fi.Format != "pcap" || fi.Precision != 6 || fi.SnapLen != 65535 || !fi.StrictOrder || fi.Truncated {
		t.Fatalf("%+v", fi)
	}
	var b bytes.Buffer
	if err := fi.WriteText(&b, time.UTC); err != nil {
		t.Fatal(err)
	}
	want := `File name:           ../../testdata/bot-cc-syn.pcap
File type:           Wireshark/tcpdump/... - pcap
File encapsulation:  Ethernet
File timestamp precision:  microseconds (6)
Packet size limit:   file hdr: 65535 bytes
Number of packets:   3
File size:           258 bytes
Data size:           186 bytes
Capture duration:    8.940217 seconds
First packet time:   2007-02-21 10:17:54.366236
Last packet time:    2007-02-21 10:18:03.306453
Data byte rate:      20.80 bytes/s
Data bit rate:       166.44 bits/s
Average packet size: 62.00 bytes
Average packet rate: 0.34 packets/s
Strict time order:   True
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestInfoRingFile: a pcapng the ring wrote, with two interfaces and the
// drop count.
func TestInfoRingFile(t *testing.T) {
	dir := t.TempDir()
	r := mustOpenRing(t, RingOptions{Dir: dir, Format: "pcapng"})
	ps := trafficMix(1000)
	var data int64
	for i, p := range ps {
		if i == 500 {
			r.SetDrops(17)
		}
		mustWrite(t, r, p)
		data += int64(len(p.frame()))
	}
	r.Close()
	path := ringFiles(t, dir)[0]
	fi, err := Info(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Packets != 1000 || fi.DataSize != data || fi.FileSize != fileSize(t, path) || fi.Precision != 9 || fi.Encapsulation != "Ethernet" ||
		!fi.First.Equal(ps[0].t) || !fi.Last.Equal(ps[999].t) || len(fi.Interfaces) != 2 {
		t.Fatalf("%+v", fi)
	}
	i0, i1 := fi.Interfaces[0], fi.Interfaces[1]
	if i0.Name != "eth0" || i0.Packets != 500 || !i0.HasDropped || i0.Dropped != 17 || i1.Name != "eth1" || i1.Dropped != 0 || i1.StatBlocks != 1 {
		t.Errorf("interfaces %+v", fi.Interfaces)
	}
	var b bytes.Buffer
	if err := fi.WriteText(&b, time.UTC); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"File type:           Wireshark/... - pcapng\n",
		"Capture duration:    249.750000999 seconds\n",
		"First packet time:   2007-02-21 09:13:54.366236000\n",
		"Data byte rate:      1359.36 bytes/s\n",
		"Average packet size: 339.50 bytes\n",
		"Average packet rate: 4.00 packets/s\n",
		"Number of interfaces in file: 2\n",
		"                     Dropped packets = 17\n",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("no %q in\n%s", line, b.String())
		}
	}
}

// TestInfoMatchesCapinfos compares the numbers with Wireshark's capinfos
// when it is installed (Debian's wireshark-common).
func TestInfoMatchesCapinfos(t *testing.T) {
	if _, err := exec.LookPath("capinfos"); err != nil {
		t.Fatal("capinfos is not installed (scripts/bootstrap.sh installs it: wireshark-common)")
	}
	dir := t.TempDir()
	for _, format := range []string{"pcap", "pcapng"} {
		r := mustOpenRing(t, RingOptions{Dir: dir, Prefix: format, Format: format, FileSize: 100 << 10})
		for _, p := range trafficMix(700) {
			mustWrite(t, r, p)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	ring := ringFiles(t, dir)
	var pcaps, pcapngs int
	for _, f := range ring {
		if strings.HasSuffix(f, ".pcapng") {
			pcapngs++
		} else {
			pcaps++
		}
	}
	// 700 packets of 214-513 bytes are about 250 kB: three 100 kB files each.
	if pcaps != 3 || pcapngs != 3 {
		t.Fatalf("the rings wrote %d pcap and %d pcapng files, want 3 and 3: %v", pcaps, pcapngs, ring)
	}
	// What the options below ask capinfos for (-M: exact numbers), as it
	// names them; every one of them is compared for every file.
	want := []string{"File name", "Number of packets", "File size", "Data size", "Capture duration",
		"First packet time", "Last packet time", "Data byte rate", "Data bit rate",
		"Average packet size", "Average packet rate"}
	files := append([]string{seedSyn, "../../testdata/backscatter.pcap"}, ring...)
	compared := 0
	for _, f := range files {
		out, err := exec.Command("capinfos", "-M", "-c", "-s", "-d", "-u", "-a", "-e", "-y", "-i", "-z", "-x", f).Output()
		if err != nil {
			t.Fatalf("capinfos %s: %v", f, err)
		}
		fi, err := Info(f)
		if err != nil {
			t.Fatal(err)
		}
		var mine bytes.Buffer
		if err := fi.WriteText(&mine, time.Local); err != nil {
			t.Fatal(err)
		}
		got := fields(mine.String())
		theirs := fields(string(out))
		var keys []string
		for k := range theirs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if w := slices.Sorted(slices.Values(want)); !slices.Equal(keys, w) {
			t.Errorf("%s: capinfos gave fields %q, want %q", filepath.Base(f), keys, w)
		}
		for k, v := range theirs {
			k2 := strings.Replace(k, "sec", "s", 1)
			v = strings.Replace(v, "/sec", "/s", 1)
			if g, ok := got[k2]; !ok || g != v {
				t.Errorf("%s: %s %q, capinfos says %q", filepath.Base(f), k, got[k2], v)
			}
			compared++
		}
	}
	if n := len(files) * len(want); compared != n {
		t.Errorf("compared %d fields, want %d (%d files of %d)", compared, n, len(files), len(want))
	}
}

func fields(s string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
)

// TestRingBudget writes ten times the ring's budget: three files of at
// most 64 KiB remain, named after their first packets, holding the newest
// packets.
func TestRingBudget(t *testing.T) {
	const files, size, n = 3, 64 << 10, 2000
	for _, format := range []string{"pcap", "pcapng"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			r := mustOpenRing(t, RingOptions{Dir: dir, Prefix: "honeytrap", Files: files, FileSize: size, Format: format})
			var pkts []pkt
			wrote := map[string][]int{} // file -> packet numbers
			for i := 0; i < n; i++ {
				p := pkt{t: t0.Add(time.Duration(i) * 10 * time.Millisecond), flow: uint64(i/10 + 1), proto: 6,
					src: hostA, dst: hostB, sp: 2253, dp: 6667, size: 1000, seq: i, iface: []string{"eth0", "eth1"}[i%2]}
				pkts = append(pkts, p)
				f := mustWrite(t, r, p)
				wrote[f] = append(wrote[f], i)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			got := ringFiles(t, dir)
			if len(got) != files {
				t.Fatalf("%d files remain, want %d: %v", len(got), files, got)
			}
			st := r.Stats()
			if st.Packets != n || st.Dropped != 0 || st.FilesDeleted != st.FilesWritten-files || st.Paused || st.LastError != nil {
				t.Errorf("stats %+v", st)
			}
			re := regexp.MustCompile(`^honeytrap_(\d{5})_(\d{14})\.` + format + `$`)
			var total int64
			prevNum := 0
			next := -1 // the packet number the next file must start with
			for i, path := range got {
				m := re.FindStringSubmatch(filepath.Base(path))
				if m == nil {
					t.Fatalf("%s does not match %s", path, re)
				}
				num, _ := strconv.Atoi(m[1])
				if i > 0 && num != prevNum+1 {
					t.Errorf("file numbers %d then %d", prevNum, num)
				}
				prevNum = num
				sz := fileSize(t, path)
				if sz > size {
					t.Errorf("%s: %d bytes, more than %d", path, sz, size)
				}
				total += sz
				read, trunc := readPackets(t, path)
				if trunc {
					t.Errorf("%s truncated", path)
				}
				want := wrote[path]
				if len(read) != len(want) {
					t.Fatalf("%s: %d packets, Write sent %d there", path, len(read), len(want))
				}
				if next >= 0 && want[0] != next {
					t.Errorf("%s starts with packet %d, want %d", path, want[0], next)
				}
				next = want[len(want)-1] + 1
				for j, p := range read {
					w := pkts[want[j]]
					wt := w.t
					if format == "pcap" {
						wt = wt.Truncate(time.Microsecond)
					}
					if !bytes.Equal(p.Data, w.frame()) || !p.Time.Equal(wt) {
						t.Fatalf("%s packet %d differs from packet %d written", path, j+1, want[j])
					}
				}
				if stamp := read[0].Time.UTC().Format("20060102150405"); m[2] != stamp {
					t.Errorf("%s: name time %s, first packet at %s", path, m[2], stamp)
				}
				if _, err := ReadIndex(path); err != nil {
					t.Errorf("index: %v", err)
				}
				// A file is full: the next packet would not have fitted.
				if i < len(got)-1 {
					room := int64(1016)
					if format == "pcapng" {
						room = 1032
					}
					if sz+room <= size {
						t.Errorf("%s switched at %d bytes with room for another packet", path, sz)
					}
				}
			}
			if total > files*size {
				t.Errorf("ring holds %d bytes, budget %d", total, files*size)
			}
			if next != n {
				t.Errorf("the last file ends with packet %d, want %d", next-1, n-1)
			}
			if format == "pcap" {
				// 24 + 64*(16+1000) = 65048 <= 65536: 64 packets a file, 32 files.
				if st.FilesWritten != 32 || filepath.Base(got[0])[:15] != "honeytrap_00030" || len(wrote[got[2]]) != 2000-31*64 || wrote[got[0]][0] != 29*64 {
					t.Errorf("files written %d, first kept %s with packet %d, last has %d packets", st.FilesWritten, got[0], wrote[got[0]][0], len(wrote[got[2]]))
				}
			}
			idx, _ := filepath.Glob(filepath.Join(dir, "*.idx"))
			if len(idx) != files {
				t.Errorf("%d index files: %v", len(idx), idx)
			}
		})
	}
}

func TestRingTimeRotation(t *testing.T) {
	dir := t.TempDir()
	r := mustOpenRing(t, RingOptions{Dir: dir, Rotate: time.Minute})
	for i := 0; i < 50; i++ {
		mustWrite(t, r, pkt{t: t0.Add(time.Duration(7*i) * time.Second), proto: 17, src: hostA, dst: hostB, sp: 53, dp: 53, size: 100, seq: i})
	}
	r.Close()
	var want []string
	for i, s := range []int{0, 63, 126, 189, 252, 315} {
		want = append(want, filepath.Join(dir, fmt.Sprintf("xdpsensor_%05d_%s.pcap", i+1, t0.Add(time.Duration(s)*time.Second).Format("20060102150405"))))
	}
	got := ringFiles(t, dir)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("files\n%v\nwant\n%v", got, want)
	}
	counts := []int{9, 9, 9, 9, 9, 5} // 0..56 s, 63..119 s, …, 315..343 s
	for i, f := range got {
		if p, _ := readPackets(t, f); len(p) != counts[i] {
			t.Errorf("%s: %d packets, want %d", f, len(p), counts[i])
		}
	}
	// FileFor finds the file of a packet time, and nothing outside them.
	if f := r.FileFor(t0.Add(70 * time.Second)); f != got[1] {
		t.Errorf("FileFor(+70s) = %q, want %q", f, got[1])
	}
	if f := r.FileFor(t0.Add(343 * time.Second)); f != got[5] {
		t.Errorf("FileFor(last) = %q", f)
	}
	if f := r.FileFor(t0.Add(-time.Second)); f != "" {
		t.Errorf("FileFor(before) = %q", f)
	}
	if f := r.FileFor(t0.Add(60 * time.Second)); f != "" { // between the files' last and first packets
		t.Errorf("FileFor(+60s) = %q", f)
	}
}

// TestRingPcapngStats: one interface per interface name, and the packets
// lost while a file was written in its interface statistics.
func TestRingPcapngStats(t *testing.T) {
	dir := t.TempDir()
	r := mustOpenRing(t, RingOptions{Dir: dir, Format: "pcapng", Rotate: time.Hour})
	var sent []pkt
	write := func(i int, at time.Duration, iface string) {
		p := pkt{t: t0.Add(at).Add(123 * time.Nanosecond), flow: 9, proto: 6, src: hostA, dst: hostB, sp: 2253, dp: 6667, size: 80, seq: i, iface: iface}
		sent = append(sent, p)
		mustWrite(t, r, p)
	}
	write(0, 0, "eth0")
	write(1, time.Second, "eth1")
	write(2, 2*time.Second, "eth0")
	write(3, 3*time.Second, "")
	r.SetDrops(5)
	write(4, 2*time.Hour, "eth1") // a new file
	r.SetDrops(12)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	files := ringFiles(t, dir)
	if len(files) != 2 {
		t.Fatalf("files %v", files)
	}
	type stat struct {
		iface   int
		dropped uint64
		start   time.Time
	}
	wantIfaces := [][]string{{"eth0", "eth1", ""}, {"eth1"}}
	wantStats := [][]stat{{{0, 5, sent[0].t}, {1, 0, sent[1].t}, {2, 0, sent[3].t}}, {{0, 7, sent[4].t}}}
	k := 0
	for i, f := range files {
		fd, _ := os.Open(f)
		var stats []stat
		ng, err := pcapgo.NewNgReader(fd, pcapgo.NgReaderOptions{StatisticsCallback: func(id int, s pcapgo.NgInterfaceStatistics) {
			stats = append(stats, stat{id, s.PacketsDropped, s.StartTime})
		}})
		if err != nil {
			t.Fatal(err)
		}
		for {
			data, ci, err := ng.ReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if !ci.Timestamp.Equal(sent[k].t) || !bytes.Equal(data, sent[k].frame()) {
				t.Errorf("packet %d: %v, want %v", k, ci.Timestamp, sent[k].t)
			}
			if intf, _ := ng.Interface(ci.InterfaceIndex); intf.Name != sent[k].iface {
				t.Errorf("packet %d on interface %q, want %q", k, intf.Name, sent[k].iface)
			}
			k++
		}
		fd.Close()
		var names []string
		for j := 0; j < ng.NInterfaces(); j++ {
			intf, _ := ng.Interface(j)
			names = append(names, intf.Name)
		}
		if fmt.Sprint(names) != fmt.Sprint(wantIfaces[i]) {
			t.Errorf("%s interfaces %q, want %q", f, names, wantIfaces[i])
		}
		if fmt.Sprint(stats) != fmt.Sprint(wantStats[i]) {
			t.Errorf("%s statistics %v, want %v", f, stats, wantStats[i])
		}
	}
	if k != len(sent) {
		t.Errorf("read %d packets, wrote %d", k, len(sent))
	}
}

// TestRingIndex checks a closed file's index: flows, addresses, times and
// offsets that point at the flows' records.
func TestRingIndex(t *testing.T) {
	for _, format := range []string{"pcap", "pcapng"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			r := mustOpenRing(t, RingOptions{Dir: dir, Format: format})
			ps := []pkt{
				{flow: 11, proto: 6, src: hostA, dst: hostB, sp: 2253, dp: 6667},
				{flow: 11, proto: 6, src: hostB, dst: hostA, sp: 6667, dp: 2253},
				{flow: 22, proto: 17, src: hostC, dst: hostB, sp: 5353, dp: 53},
				{proto: 6, src: hostC, dst: hostA, sp: 1, dp: 2}, // no flow
				{flow: 11, proto: 6, src: hostA, dst: hostB, sp: 2253, dp: 6667},
				{proto: 6, src: hostA, dst: hostC, sp: 2, dp: 1}, // no flow, the same pair back
				{flow: 33, proto: 17, src: hostD, dst: hostD, sp: 1, dp: 1},
			}
			for i := range ps {
				ps[i].t = t0.Add(time.Duration(i) * time.Second)
				ps[i].seq, ps[i].size = i, 60+i
				mustWrite(t, r, ps[i])
			}
			r.Close()
			path := ringFiles(t, dir)[0]
			ix, err := ReadIndex(path)
			if err != nil {
				t.Fatal(err)
			}
			if ix.Packets != 7 || !ix.First.Equal(t0.Truncate(time.Microsecond)) || !ix.Last.Equal(ps[6].t.Truncate(time.Microsecond)) ||
				ix.FileSize != fileSize(t, path) || ix.Format != format || len(ix.Flows) != 4 {
				t.Fatalf("index %+v", ix)
			}
			want := []struct {
				id    uint64
				proto uint8
				src   string
				sp    uint16
				pkts  []int
			}{{11, 6, "192.168.0.31", 2253, []int{0, 1, 4}}, {22, 17, "10.0.0.7", 5353, []int{2}}, {0, 6, "10.0.0.7", 1, []int{3, 5}}, {33, 17, "2001:db8::7", 1, []int{6}}}
			fd, _ := os.Open(path)
			defer fd.Close()
			h, _ := readFileHeader(fd)
			win := &windowReader{r: fd}
			for i, w := range want {
				f := ix.Flows[i]
				if f.FlowID != w.id || f.Proto != w.proto || f.Src.String() != w.src || f.SrcPort != w.sp || len(f.Offsets) != len(w.pkts) ||
					!f.First.Equal(ps[w.pkts[0]].t.Truncate(time.Microsecond)) || !f.Last.Equal(ps[w.pkts[len(w.pkts)-1]].t.Truncate(time.Microsecond)) {
					t.Errorf("flow %d: %+v, want %+v", i, f, w)
					continue
				}
				for j, off := range f.Offsets {
					fr := ps[w.pkts[j]].frame()
					hl := 16
					if h.ng {
						hl = 28
					}
					b, err := win.at(off+int64(hl), len(fr))
					if err != nil || !bytes.Equal(b, fr) {
						t.Errorf("flow %d packet %d: offset %d does not hold the frame", i, j, off)
					}
				}
			}
			// A damaged or stale index is refused.
			data, _ := os.ReadFile(IndexPath(path))
			bad := append([]byte(nil), data...)
			bad[len(bad)/2] ^= 0x40
			if _, err := DecodeIndex(bad); err == nil {
				t.Error("a flipped bit passed")
			}
			if _, err := DecodeIndex(data[:len(data)-5]); err == nil {
				t.Error("a cut index passed")
			}
			f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte{0})
			f.Close()
			if _, err := ReadIndex(path); !errors.Is(err, ErrStaleIndex) {
				t.Errorf("index of a grown file: %v", err)
			}
		})
	}
}

// TestRingCrashReadable: the open file is readable without Close, after
// Flush or after the buffer filled, and a file cut in the middle of a
// record reads up to its last complete packet.
func TestRingCrashReadable(t *testing.T) {
	for _, format := range []string{"pcap", "pcapng"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			r := mustOpenRing(t, RingOptions{Dir: dir, Format: format})
			var path string
			for i := 0; i < 10; i++ {
				path = mustWrite(t, r, pkt{t: t0.Add(time.Duration(i) * time.Millisecond), flow: 1, proto: 6, src: hostA, dst: hostB, sp: 1, dp: 2, size: 1000, seq: i})
			}
			if p, _ := readPackets(t, path); len(p) != 0 {
				t.Errorf("%d packets visible before Flush", len(p)) // buffered
			}
			if err := r.Flush(); err != nil {
				t.Fatal(err)
			}
			if p, trunc := readPackets(t, path); len(p) != 10 || trunc {
				t.Fatalf("after Flush: %d packets (truncated %v), want 10", len(p), trunc)
			}
			// 1500 more packets fill the 1 MiB buffer: it goes out in whole records.
			for i := 10; i < 1510; i++ {
				mustWrite(t, r, pkt{t: t0.Add(time.Duration(i) * time.Millisecond), flow: 1, proto: 6, src: hostA, dst: hostB, sp: 1, dp: 2, size: 1000, seq: i})
			}
			p, trunc := readPackets(t, path)
			if len(p) < 1000 || len(p) >= 1510 || trunc {
				t.Fatalf("without Flush: %d packets (truncated %v)", len(p), trunc)
			}
			for i, q := range p {
				if !bytes.Equal(q.Data, (pkt{flow: 1, proto: 6, src: hostA, dst: hostB, sp: 1, dp: 2, size: 1000, seq: i}).frame()) {
					t.Fatalf("packet %d differs", i)
				}
			}
			complete := len(p)
			// A crash in the middle of a record: cut a copy of the file.
			r.Flush()
			data, _ := os.ReadFile(path)
			rec := 1016
			if format == "pcapng" {
				rec = 1032
			}
			for _, cut := range []int{1, 10, 20, 500, rec - 1} {
				crashed := filepath.Join(t.TempDir(), "xdpsensor_00001_20070221091354."+format)
				os.WriteFile(crashed, data[:len(data)-cut], 0o644)
				p, trunc := readPackets(t, crashed)
				if len(p) != 1509 || !trunc {
					t.Errorf("cut %d bytes: %d packets, truncated %v; want 1509 and true", cut, len(p), trunc)
				}
				fi, err := Info(crashed)
				if err != nil || fi.Packets != 1509 || !fi.Truncated {
					t.Errorf("Info of the cut file: %v %+v", err, fi)
				}
				// A ring opened on the directory cuts the half record off.
				if _, err := OpenRing(RingOptions{Dir: filepath.Dir(crashed), Format: format}); err != nil {
					t.Fatal(err)
				}
				if got := fileSize(t, crashed); got != int64(len(data)-rec) {
					t.Errorf("cut %d: reopened ring left %d bytes, want %d", cut, got, len(data)-rec)
				}
			}
			_ = complete
			r.Close()
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"100M": 100 << 20, "1G": 1 << 30, "512k": 512 << 10, "1048576": 1048576, "64KiB": 64 << 10, "2mb": 2 << 20,
		"1.5G": 3 << 29, "0": 0, " 10K ": 10 << 10, "1T": 1 << 40, "7B": 7,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1", "1.5", "12X", "1kk", "9999999999T", "abc", "1e3"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

// TestRingSnaplenAndOversize: frames are cut at the snaplen with their
// wire length kept, and a packet larger than FileSize gets a file alone.
func TestRingSnaplenAndOversize(t *testing.T) {
	dir := t.TempDir()
	r := mustOpenRing(t, RingOptions{Dir: dir, Snaplen: 700, FileSize: 600})
	for i := 0; i < 3; i++ {
		mustWrite(t, r, pkt{t: t0.Add(time.Duration(i) * time.Second), proto: 6, src: hostA, dst: hostB, size: 1000, seq: i})
	}
	r.Close()
	files := ringFiles(t, dir)
	if len(files) != 3 {
		t.Fatalf("%d files, want one per packet", len(files))
	}
	for i, f := range files {
		p, _ := readPackets(t, f)
		full := (pkt{proto: 6, src: hostA, dst: hostB, size: 1000, seq: i}).frame()
		if len(p) != 1 || !bytes.Equal(p[0].Data, full[:700]) || p[0].OrigLen != 1000 || fileSize(t, f) != 24+16+700 {
			t.Errorf("%s: %d packets, %d bytes", f, len(p), fileSize(t, f))
		}
	}
}

// TestRingRestart: a ring opened on a directory with files of an earlier
// run goes on numbering after them and counts them in its budget.
func TestRingRestart(t *testing.T) {
	dir := t.TempDir()
	o := RingOptions{Dir: dir, Files: 3, Rotate: time.Minute}
	write := func(r *Ring, from, n int) {
		for i := from; i < from+n; i++ {
			mustWrite(t, r, pkt{t: t0.Add(time.Duration(i) * time.Minute), proto: 17, src: hostA, dst: hostB, size: 100, seq: i})
		}
	}
	r := mustOpenRing(t, o)
	write(r, 0, 5)
	r.Close()
	os.WriteFile(filepath.Join(dir, "other_00001_20070221091354.pcap"), nil, 0o644) // another prefix: not ours
	r = mustOpenRing(t, o)
	if f := r.FileFor(t0.Add(4 * time.Minute)); filepath.Base(f) != "xdpsensor_00005_20070221091754.pcap" {
		t.Errorf("FileFor of the earlier run's last packet: %q", f)
	}
	write(r, 5, 2)
	r.Close()
	var names []string
	for _, f := range ringFiles(t, dir) {
		names = append(names, filepath.Base(f))
	}
	want := "[other_00001_20070221091354.pcap xdpsensor_00005_20070221091754.pcap xdpsensor_00006_20070221091854.pcap xdpsensor_00007_20070221091954.pcap]"
	if fmt.Sprint(names) != want {
		t.Errorf("files %v\nwant %s", names, want)
	}
}

// TestRingPcapngRoomForStats: the interface statistics written at close
// count in FileSize.
func TestRingPcapngRoomForStats(t *testing.T) {
	p := func(i int) pkt {
		return pkt{t: t0.Add(time.Duration(i) * time.Second), proto: 6, src: hostA, dst: hostB, size: 200, seq: i, iface: "eth0"}
	}
	dir := t.TempDir()
	r := mustOpenRing(t, RingOptions{Dir: dir, Format: "pcapng"})
	mustWrite(t, r, p(0))
	r.Close()
	one := fileSize(t, ringFiles(t, dir)[0]) // headers + a packet + statistics
	const epb, isb = 32 + 200, 64
	limit := one + 3*epb - isb/2 // room for 4 packets, not for 4 and the statistics
	dir = t.TempDir()
	r = mustOpenRing(t, RingOptions{Dir: dir, Format: "pcapng", FileSize: limit})
	for i := 0; i < 8; i++ {
		mustWrite(t, r, p(i))
	}
	r.Close()
	want := []int{3, 3, 2}
	files := ringFiles(t, dir)
	if len(files) != len(want) {
		t.Fatalf("%d files", len(files))
	}
	for i, f := range files {
		if n, _ := readPackets(t, f); fileSize(t, f) > limit || len(n) != want[i] {
			t.Errorf("%s: %d bytes (limit %d), %d packets (want %d)", f, fileSize(t, f), limit, len(n), want[i])
		}
	}
}

package capture

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"
)

// trafficMix is packets of several flows over time: flow 11 (TCP
// A:2253 <-> B:6667 both ways), flow 22 (UDP C:5353 -> B:53), flow 33 (TCP
// over IPv6 D:40000 -> D:443), and packets in no flow (UDP C -> A port 53).
func trafficMix(n int) []pkt {
	var ps []pkt
	for i := 0; i < n; i++ {
		p := pkt{t: t0.Add(time.Duration(i) * 250 * time.Millisecond).Add(time.Duration(i) * time.Nanosecond), seq: i, size: 200 + i%300,
			iface: []string{"eth0", "eth1"}[i%2]}
		switch i % 5 {
		case 0, 3:
			p.flow, p.proto, p.src, p.dst, p.sp, p.dp = 11, 6, hostA, hostB, 2253, 6667
			if i%5 == 3 {
				p.src, p.dst, p.sp, p.dp = hostB, hostA, 6667, 2253
			}
		case 1:
			p.flow, p.proto, p.src, p.dst, p.sp, p.dp = 22, 17, hostC, hostB, 5353, 53
		case 2:
			p.flow, p.proto, p.src, p.dst, p.sp, p.dp = 33, 6, hostD, hostD, 40000, 443
		case 4:
			p.proto, p.src, p.dst, p.sp, p.dp = 17, hostC, hostA, 1024, 53
		}
		ps = append(ps, p)
	}
	return ps
}

// writeRing writes ps into a ring in dir; it returns the ring (still open
// unless closed) and the packets with the times the files keep.
func writeRing(t *testing.T, o RingOptions, ps []pkt, close bool) (*Ring, []pkt) {
	t.Helper()
	r := mustOpenRing(t, o)
	out := make([]pkt, len(ps))
	for i, p := range ps {
		mustWrite(t, r, p)
		if o.Format != "pcapng" {
			p.t = p.t.Truncate(time.Microsecond)
		}
		out[i] = p
	}
	if close {
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	} else if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	return r, out
}

type carved struct {
	t     time.Time
	data  []byte
	orig  int
	iface string
}

// carve runs Carve and reads its output back with pcapgo.
func carve(t *testing.T, dir string, f Filter, format string) []carved {
	t.Helper()
	var buf bytes.Buffer
	n, err := Carve(dir, f, &buf, format, nil)
	if err != nil {
		t.Fatalf("carve %+v: %v", f, err)
	}
	var out []carved
	var next func() ([]byte, gopacket.CaptureInfo, error)
	var ng *pcapgo.NgReader
	if format == "pcapng" {
		ng, err = pcapgo.NewNgReader(&buf, pcapgo.DefaultNgReaderOptions)
		next = ng.ReadPacketData
	} else {
		var pr *pcapgo.Reader
		pr, err = pcapgo.NewReader(&buf)
		next = pr.ReadPacketData
	}
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		c := carved{t: ci.Timestamp, data: data, orig: ci.Length}
		if ng != nil {
			intf, _ := ng.Interface(ci.InterfaceIndex)
			c.iface = intf.Name
		}
		out = append(out, c)
	}
	if n != len(out) {
		t.Errorf("Carve said %d packets, the output has %d", n, len(out))
	}
	return out
}

func expectCarved(t *testing.T, what string, got []carved, all []pkt, keep func(p pkt) bool, ifaces bool) {
	t.Helper()
	var want []pkt
	for _, p := range all {
		if keep(p) {
			want = append(want, p)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d packets, want %d", what, len(got), len(want))
		return
	}
	if len(want) == 0 {
		t.Errorf("%s: a test that selects nothing", what)
	}
	for i, w := range want {
		g := got[i]
		if !g.t.Equal(w.t) || !bytes.Equal(g.data, w.frame()) || g.orig != max(w.size, len(w.frame())) || ifaces && g.iface != w.iface {
			t.Errorf("%s: packet %d is %v %d bytes %q, want packet %d of %v %q", what, i, g.t, len(g.data), g.iface, w.seq, w.t, w.iface)
			return
		}
	}
}

func TestCarveFilters(t *testing.T) {
	for _, format := range []string{"pcap", "pcapng"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			_, ps := writeRing(t, RingOptions{Dir: dir, FileSize: 16 << 10, Format: format}, trafficMix(400), true)
			if n := len(ringFiles(t, dir)); n < 8 {
				t.Fatalf("only %d files", n)
			}
			ng := format == "pcapng"
			cases := []struct {
				name string
				f    Filter
				keep func(p pkt) bool
			}{
				{"all", Filter{}, func(p pkt) bool { return true }},
				{"flow 11", Filter{FlowIDs: []uint64{11}}, func(p pkt) bool { return p.flow == 11 }},
				{"flows 22 and 33", Filter{FlowIDs: []uint64{33, 22}}, func(p pkt) bool { return p.flow == 22 || p.flow == 33 }},
				{"host C", Filter{Host: hostC}, func(p pkt) bool { return p.src == hostC || p.dst == hostC }},
				{"host A mapped", Filter{Host: netip.AddrFrom16(hostA.As16())}, func(p pkt) bool { return p.src == hostA || p.dst == hostA }},
				{"host D", Filter{Host: hostD}, func(p pkt) bool { return p.flow == 33 }},
				{"port 53", Filter{Port: 53}, func(p pkt) bool { return p.dp == 53 }},
				{"port 2253", Filter{Port: 2253}, func(p pkt) bool { return p.flow == 11 }},
				{"udp", Filter{Proto: 17}, func(p pkt) bool { return p.proto == 17 }},
				{"host A tcp 6667", Filter{Host: hostA, Proto: 6, Port: 6667}, func(p pkt) bool { return p.flow == 11 }},
				{"host B udp", Filter{Host: hostB, Proto: 17}, func(p pkt) bool { return p.flow == 22 }},
				{"time", Filter{From: ps[101].t, To: ps[180].t}, func(p pkt) bool { return p.seq >= 101 && p.seq <= 180 }},
				{"time and flow", Filter{FlowIDs: []uint64{11}, From: ps[101].t, To: ps[180].t}, func(p pkt) bool { return p.seq >= 101 && p.seq <= 180 && p.flow == 11 }},
				{"from", Filter{From: ps[390].t}, func(p pkt) bool { return p.seq >= 390 }},
				{"to", Filter{To: ps[3].t}, func(p pkt) bool { return p.seq <= 3 }},
			}
			for _, c := range cases {
				expectCarved(t, c.name, carve(t, dir, c.f, format), ps, c.keep, ng)
				if format == "pcap" {
					expectCarved(t, c.name+" to pcapng", carve(t, dir, c.f, "pcapng"), ps, c.keep, false)
				}
			}
			for _, f := range []Filter{{FlowIDs: []uint64{44}}, {Host: hostB, Proto: 1}, {Port: 443, Proto: 17}, {To: t0.Add(-time.Second)}} {
				if got := carve(t, dir, f, format); len(got) != 0 {
					t.Errorf("%+v: %d packets, want none", f, len(got))
				}
			}
		})
	}
}

// TestCarveOpenFile: packets of the file being written (no index yet)
// are found, after Flush; a flow id there is matched by the 5-tuple the
// closed files' indexes or the hints give.
func TestCarveOpenFile(t *testing.T) {
	dir := t.TempDir()
	ps := trafficMix(200)
	r, ps := writeRing(t, RingOptions{Dir: dir, FileSize: 16 << 10}, ps, false)
	defer r.Close()
	files := ringFiles(t, dir)
	last := files[len(files)-1]
	if _, err := ReadIndex(last); err == nil {
		t.Fatal("the open file has an index")
	}
	expectCarved(t, "flow 11", carve(t, dir, Filter{FlowIDs: []uint64{11}}, "pcap"), ps, func(p pkt) bool { return p.flow == 11 }, false)
	expectCarved(t, "host C", carve(t, dir, Filter{Host: hostC}, "pcap"), ps, func(p pkt) bool { return p.src == hostC || p.dst == hostC }, false)

	// Flow 99 is only in the open file: its packets are found with a hint.
	late := pkt{t: ps[199].t.Add(time.Second), flow: 99, proto: 6, src: hostC, dst: hostB, sp: 7777, dp: 80, size: 90, seq: 1000}
	mustWrite(t, r, late)
	back := late
	back.src, back.dst, back.sp, back.dp, back.seq, back.t = hostB, hostC, 80, 7777, 1001, late.t.Add(time.Millisecond)
	mustWrite(t, r, back)
	other := late // same addresses, another port: not the flow
	other.sp, other.seq, other.t = 7778, 1002, back.t.Add(time.Millisecond)
	mustWrite(t, r, other)
	r.Flush()
	all := append(ps, late, back, other)
	if got := carve(t, dir, Filter{FlowIDs: []uint64{99}}, "pcap"); len(got) != 0 {
		t.Errorf("flow 99 without hints: %d packets", len(got))
	}
	hints := map[uint64]FlowTuple{99: {Proto: 6, Src: hostB, Dst: hostC, SrcPort: 80, DstPort: 7777}}
	expectCarved(t, "flow 99 with a hint", carve(t, dir, Filter{FlowIDs: []uint64{99}, FlowHints: hints}, "pcap"), all,
		func(p pkt) bool { return p.seq == 1000 || p.seq == 1001 }, false)
	// A half record at the end of the open file (a write in progress) ends the scan cleanly.
	fd, _ := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	fd.Write(make([]byte, 20))
	fd.Close()
	expectCarved(t, "host C, half record", carve(t, dir, Filter{Host: hostC}, "pcap"), all, func(p pkt) bool { return p.src == hostC || p.dst == hostC }, false)
}

// TestCarveMerge: two rings (two prefixes) in one directory, interleaved
// in time, come out as one capture in time order.
func TestCarveMerge(t *testing.T) {
	dir := t.TempDir()
	a, b := trafficMix(300), trafficMix(300)
	for i := range b {
		b[i].t = b[i].t.Add(125 * time.Millisecond)
		b[i].seq += 300
	}
	_, a = writeRing(t, RingOptions{Dir: dir, Prefix: "east", FileSize: 8 << 10, Format: "pcapng"}, a, true)
	_, b = writeRing(t, RingOptions{Dir: dir, Prefix: "west", FileSize: 8 << 10, Format: "pcapng"}, b, false)
	all := append(append([]pkt(nil), a...), b...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].t.Before(all[j].t) })
	expectCarved(t, "both rings", carve(t, dir, Filter{}, "pcapng"), all, func(pkt) bool { return true }, true)
	expectCarved(t, "both rings, flow 22", carve(t, dir, Filter{FlowIDs: []uint64{22}}, "pcap"), all, func(p pkt) bool { return p.flow == 22 }, false)
}

// TestCarveSkipsFiles: files whose index rules them out are not opened;
// files without a usable index are scanned.
func TestCarveSkipsFiles(t *testing.T) {
	dir := t.TempDir()
	var ps []pkt
	for i := 0; i < 200; i++ { // 20 packets a file, flow = file number
		p := pkt{t: t0.Add(time.Duration(i) * time.Second), flow: uint64(i/20 + 1), proto: 6, src: hostA, dst: hostB, sp: 1000, dp: uint16(i / 20), size: 300, seq: i}
		if i == 45 || i == 150 {
			p.src, p.flow = hostC, 0
		}
		ps = append(ps, p)
	}
	r, ps := writeRing(t, RingOptions{Dir: dir, FileSize: 20*316 + 24}, ps, true)
	files := r.Files()
	if len(files) != 10 {
		t.Fatalf("%d files", len(files))
	}
	var mu sync.Mutex
	var opened []string
	openCaptureFile = func(name string) (*os.File, error) {
		mu.Lock()
		opened = append(opened, filepath.Base(name))
		mu.Unlock()
		return os.Open(name)
	}
	defer func() { openCaptureFile = os.Open }()
	check := func(what string, f Filter, wantFiles []int, wantPkts func(p pkt) bool) {
		t.Helper()
		opened = nil
		expectCarved(t, what, carve(t, dir, f, "pcap"), ps, wantPkts, false)
		var want []string
		for _, i := range wantFiles {
			want = append(want, filepath.Base(files[i]))
		}
		if strings.Join(opened, " ") != strings.Join(want, " ") {
			t.Errorf("%s: opened %v, want %v", what, opened, want)
		}
	}
	check("flow 4", Filter{FlowIDs: []uint64{4}}, []int{3}, func(p pkt) bool { return p.flow == 4 })
	check("host C", Filter{Host: hostC}, []int{2, 7}, func(p pkt) bool { return p.src == hostC })
	check("port 5", Filter{Port: 5}, []int{5}, func(p pkt) bool { return p.dp == 5 })
	check("time", Filter{From: ps[85].t, To: ps[95].t}, []int{4}, func(p pkt) bool { return p.seq >= 85 && p.seq <= 95 })
	opened = nil
	if got := carve(t, dir, Filter{Host: hostD}, "pcap"); len(got) != 0 || len(opened) != 0 {
		t.Errorf("host D: %d packets, opened %v", len(got), opened)
	}
	// A lost and a damaged index: those files are scanned (opened twice:
	// their header first, to know the timestamp precision).
	os.Remove(IndexPath(files[6]))
	os.WriteFile(IndexPath(files[8]), []byte("XDPIDX1\ngarbage"), 0o644)
	sixth, eighth := filepath.Base(files[6]), filepath.Base(files[8])
	opened = nil
	expectCarved(t, "host C, two unindexed files", carve(t, dir, Filter{Host: hostC}, "pcap"), ps, func(p pkt) bool { return p.src == hostC }, false)
	if fmt.Sprint(opened) != fmt.Sprint([]string{sixth, eighth, filepath.Base(files[2]), sixth, filepath.Base(files[7]), eighth}) {
		t.Errorf("opened %v", opened)
	}
	// No index lists flow 9 (file 8's is damaged): without a hint for its
	// 5-tuple no file can be searched for it, and none is opened.
	opened = nil
	if got := carve(t, dir, Filter{FlowIDs: []uint64{9}}, "pcap"); len(got) != 0 || len(opened) != 0 {
		t.Errorf("flow 9 without tuple: %d packets, opened %v", len(got), opened)
	}
	expectCarved(t, "flow 9 with hint", carve(t, dir, Filter{FlowIDs: []uint64{9}, FlowHints: map[uint64]FlowTuple{9: {Proto: 6, Src: hostA, Dst: hostB, SrcPort: 1000, DstPort: 8}}}, "pcap"),
		ps, func(p pkt) bool { return p.flow == 9 }, false)
}

func TestCarveProgressAndErrors(t *testing.T) {
	dir := t.TempDir()
	writeRing(t, RingOptions{Dir: dir, FileSize: 64 << 10}, trafficMix(3000), true)
	var last, total int64
	calls := 0
	n, err := Carve(dir, Filter{}, io.Discard, "pcap", func(d, tot int64) {
		if d < last || d > tot {
			t.Errorf("progress %d of %d after %d", d, tot, last)
		}
		last, total = d, tot
		calls++
	})
	if err != nil || n != 3000 {
		t.Fatalf("carve: %d %v", n, err)
	}
	if last != total || total == 0 || calls < 3 {
		t.Errorf("progress ended at %d of %d after %d calls", last, total, calls)
	}
	if _, err := Carve(t.TempDir(), Filter{}, io.Discard, "pcap", nil); err == nil || !strings.Contains(err.Error(), "no pcap ring files") {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := Carve(dir, Filter{}, io.Discard, "erf", nil); err == nil {
		t.Error("format erf accepted")
	}
	// No packet: still a valid, empty capture.
	var buf bytes.Buffer
	if n, err := Carve(dir, Filter{Proto: 132}, &buf, "pcap", nil); err != nil || n != 0 || buf.Len() != 24 {
		t.Errorf("empty carve: %d %v, %d bytes", n, err, buf.Len())
	}
}

// TestCarveWhileWriting carves again and again while the ring writes,
// flushes, rotates and deletes: every carve succeeds and returns packets
// in time order, byte for byte as written.
func TestCarveWhileWriting(t *testing.T) {
	dir := t.TempDir()
	r := mustOpenRing(t, RingOptions{Dir: dir, Files: 4, FileSize: 64 << 10})
	ps := trafficMix(6000)
	byTime := map[time.Time]pkt{}
	for _, p := range ps {
		byTime[p.t.Truncate(time.Microsecond)] = p
	}
	done := make(chan error)
	go func() {
		for i, p := range ps {
			if _, err := r.Write(p.record()); err != nil {
				done <- err
				return
			}
			if i%50 == 0 {
				if err := r.Flush(); err != nil {
					done <- err
					return
				}
			}
			_ = r.Stats()
		}
		done <- r.Close()
	}()
	// Whether a carve made while writing finds packets depends on how far
	// the writer got, so those carves are checked only for what they hold.
	// The last carve runs after Close and sees the ring as it stays: its
	// count is checked exactly against the files read directly, below.
	carves, nonEmpty, last := 0, 0, -1
	for running := true; running; carves++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		default:
		}
		var buf bytes.Buffer
		n, err := Carve(dir, Filter{Host: hostC}, &buf, "pcap", nil)
		if err != nil {
			if running && strings.Contains(err.Error(), "no pcap ring files") {
				continue
			}
			t.Fatalf("carve %d: %v", carves, err)
		}
		rd, err := pcapgo.NewReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		var prev time.Time
		got := 0
		for {
			data, ci, err := rd.ReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			w, ok := byTime[ci.Timestamp]
			if !ok || !bytes.Equal(data, w.frame()) || ci.Timestamp.Before(prev) || w.src != hostC && w.dst != hostC {
				t.Fatalf("carve %d: packet at %v is not one written, or out of order", carves, ci.Timestamp)
			}
			prev = ci.Timestamp
			got++
		}
		if n != got {
			t.Fatalf("carve %d: Carve said %d packets, the output has %d", carves, n, got)
		}
		if got > 0 {
			nonEmpty++
		}
		last = got
	}
	t.Logf("%d carves ran while writing, %d found packets", carves, nonEmpty)

	// The ring keeps the newest packets: those in its files, read here
	// without Carve, are a run of ps up to the last one written, and the
	// last carve holds exactly their host C packets.
	var oldest time.Time
	kept := 0
	for _, f := range ringFiles(t, dir) {
		pkts, truncated := readPackets(t, f)
		if truncated {
			t.Fatalf("%s: truncated after Close", f)
		}
		for _, p := range pkts {
			if oldest.IsZero() || p.Time.Before(oldest) {
				oldest = p.Time
			}
			kept++
		}
	}
	wantKept, wantC := 0, 0
	for _, p := range ps {
		if p.t.Truncate(time.Microsecond).Before(oldest) {
			continue
		}
		wantKept++
		if p.src == hostC || p.dst == hostC {
			wantC++
		}
	}
	if kept == 0 || kept == len(ps) || kept != wantKept {
		t.Fatalf("the ring's files hold %d packets from %v on, want %d (some, not all %d written)", kept, oldest, wantKept, len(ps))
	}
	if last != wantC || wantC == 0 {
		t.Errorf("the carve after Close found %d host C packets, want %d", last, wantC)
	}
}

package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/loader"
)

// The session sensors and flow exporters an analyst would run instead of
// xdpsensor, given the same frames: Argus (argus-server), softflowd
// (NetFlow), pmacct's pmacctd, and tcpdump for scale. Each is judged on
// the packets it turned into session records per second: what its own
// records count, so a tool that drops frames gets the rate it recorded,
// and its loss is what it did not record. make bench installs them
// (scripts/bootstrap.sh).
//
// Defaults read before running them: argus reads /etc/argus.conf (an
// output file under /var/log, 5 s status records) unless -X, and listens
// on TCP 561 unless -P 0; softflowd tracks 8192 flows by default (given
// 2× the flows here, as the sensor's table is), writes its pid and control
// socket under /run (moved to the run's directory) and exports NetFlow to
// a collector we run on loopback; pmacctd's Debian config daemonizes and
// reads lo (ours is written per run: print plugin, 5-tuple aggregation,
// a large core-to-plugin queue).

const (
	peerPackets = 1_000_000
	peerFlows   = 65536
	// peerActive flows are open at once: each flow's 15 or 16 packets
	// come 4096 packets (4 ms) apart, as a link carrying a thousand new
	// connections a second would show them.
	peerActive = 4096
)

// peerTools says which peers are installed; make bench installs them.
func needPeers(tb testing.TB, tools ...string) {
	tb.Helper()
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			tb.Fatalf("%s is not installed: make bench installs the peers (scripts/bootstrap.sh)", t)
		}
	}
}

// writePeerCapture writes the offline benchmark's capture: packets TCP
// frames of 64 to 254 bytes in flows conversations (a handshake, then data
// both ways), gap apart; one flow in 256 goes to the listed address.
// active flows are open at a time, served round-robin, each replaced by
// the next when it has sent its share: a flow's packets come active
// packets apart (active = flows: every flow open from start to end).
func writePeerCapture(tb testing.TB, path string, packets, flows, active int, gap time.Duration) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	w.Write(hdr)
	base := time.Date(2007, 2, 21, 10, 0, 0, 0, time.UTC).Unix()
	frame := make([]byte, 254)
	rec := make([]byte, 16)
	seed := uint32(12345)
	// Each side's next sequence number: segments follow each other and
	// acknowledge what the peer sent, as a real stack's do.
	next := make([][2]uint32, flows)
	for i := range next {
		next[i] = [2]uint32{1000, 500000}
	}
	// Each flow's share: packets/flows, the first ones one more.
	share := func(f int) int {
		n := packets / flows
		if f < packets%flows {
			n++
		}
		return n
	}
	type open struct{ flow, round int }
	slots := make([]open, active)
	started := 0
	for i := range slots {
		slots[i] = open{flow: started}
		started++
	}
	for i, slot := 0, 0; i < packets; slot = (slot + 1) % active {
		if slots[slot].flow < 0 {
			continue
		}
		flow, round := slots[slot].flow, slots[slot].round
		if slots[slot].round++; slots[slot].round == share(flow) {
			slots[slot] = open{flow: -1}
			if started < flows {
				slots[slot] = open{flow: started}
				started++
			}
		}
		seed = seed*1664525 + 1013904223
		payload := 10 + int(seed>>8)%191 // frames of 64..254 bytes
		client := [4]byte{198, 51, 100, byte(flow >> 8)}
		server := [4]byte{203, 0, 113, byte(flow % 200)}
		if flow%256 == 255 {
			server = [4]byte{203, 0, 113, 66} // listed
		}
		cport, sport := uint16(1024+flow&0xff), uint16(443)
		flags := byte(0x18) // PSH ACK
		switch round {
		case 0:
			flags, payload = 0x02, 0 // SYN, padded to the minimum frame
		case 1:
			flags, payload = 0x12, 0
		case 2:
			flags = 0x10
		}
		fromServer := round%2 == 1
		n := max(54+payload, 64)
		fr := frame[:n]
		clear(fr)
		copy(fr[0:], []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00})
		ip := fr[14:34]
		ip[0], ip[8], ip[9] = 0x45, 64, 6
		binary.BigEndian.PutUint16(ip[2:], uint16(40+payload))
		binary.BigEndian.PutUint16(ip[4:], uint16(i))
		src, dst, sp, dp := client, server, cport, sport
		if fromServer {
			src, dst, sp, dp = server, client, sport, cport
		}
		copy(ip[12:], src[:])
		copy(ip[16:], dst[:])
		binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
		tcp := fr[34:54]
		binary.BigEndian.PutUint16(tcp[0:], sp)
		binary.BigEndian.PutUint16(tcp[2:], dp)
		me, peer := 0, 1
		if fromServer {
			me, peer = 1, 0
		}
		binary.BigEndian.PutUint32(tcp[4:], next[flow][me])
		if flags != 0x02 {
			binary.BigEndian.PutUint32(tcp[8:], next[flow][peer])
		}
		next[flow][me] += uint32(payload)
		if flags&0x02 != 0 {
			next[flow][me]++ // a SYN counts one
		}
		tcp[12], tcp[13] = 0x50, flags
		binary.BigEndian.PutUint16(tcp[14:], 64240)
		ts := base*1_000_000 + int64(i)*gap.Microseconds()
		binary.LittleEndian.PutUint32(rec[0:], uint32(ts/1_000_000))
		binary.LittleEndian.PutUint32(rec[4:], uint32(ts%1_000_000))
		binary.LittleEndian.PutUint32(rec[8:], uint32(n))
		binary.LittleEndian.PutUint32(rec[12:], uint32(n))
		w.Write(rec)
		w.Write(fr)
		i++
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i < len(h); i += 2 {
		if i == 10 {
			continue
		}
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

var (
	peerCaptureOnce sync.Once
	peerCapturePath string
	openCaptureOnce sync.Once
	openCapturePath string
	hourCaptureOnce sync.Once
	hourCapturePath string
	sensorBinOnce   sync.Once
	sensorBinPath   string
)

// peerCapture is the offline capture, written once per process.
func peerCapture(tb testing.TB) string {
	peerCaptureOnce.Do(func() {
		dir, err := os.MkdirTemp("", "xdpsensor-peers-")
		if err != nil {
			tb.Fatal(err)
		}
		peerCapturePath = filepath.Join(dir, "flows.pcap")
		writePeerCapture(tb, peerCapturePath, peerPackets, peerFlows, peerActive, time.Microsecond)
	})
	return peerCapturePath
}

// allOpenCapture is the offline capture's frames with all 65,536 flows
// open from start to end (each flow's packets 65,536 apart): the worst
// case for every tool's flow table and the CPU's caches.
func allOpenCapture(tb testing.TB) string {
	openCaptureOnce.Do(func() {
		openCapturePath = filepath.Join(filepath.Dir(peerCapture(tb)), "flows-all-open.pcap")
		writePeerCapture(tb, openCapturePath, peerPackets, peerFlows, peerFlows, time.Microsecond)
	})
	return openCapturePath
}

// hourCapture is the offline capture's frames 3.6 ms apart: an hour of
// traffic, each flow's packets 14.7 s apart, so that flows end by their
// idle timeout while the capture goes on, as in a capture ring's files.
func hourCapture(tb testing.TB) string {
	hourCaptureOnce.Do(func() {
		hourCapturePath = filepath.Join(filepath.Dir(peerCapture(tb)), "flows-hour.pcap")
		writePeerCapture(tb, hourCapturePath, peerPackets, peerFlows, peerActive, 3600*time.Microsecond)
	})
	return hourCapturePath
}

// sensorBin is xdpsensor built as an operator runs it.
func sensorBin(tb testing.TB) string {
	sensorBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "xdpsensor-bin-")
		if err != nil {
			tb.Fatal(err)
		}
		sensorBinPath = filepath.Join(dir, "xdpsensor")
		if out, err := exec.Command("go", "build", "-o", sensorBinPath, "../cmd/xdpsensor").CombinedOutput(); err != nil {
			tb.Fatalf("building xdpsensor: %v\n%s", err, out)
		}
	})
	return sensorBinPath
}

// sessionRun is what one tool made of the frames it was given.
type sessionRun struct {
	recorded uint64 // packets its session records count
	records  uint64
	drops    int64 // what the tool itself says it dropped, -1: it says nothing
}

func reportSessions(b *testing.B, took time.Duration, offered int, r sessionRun) {
	b.ReportMetric(float64(r.recorded)/took.Seconds()/1e6, "rec-Mpps")
	b.ReportMetric(100*(1-float64(r.recorded)/float64(offered)), "%lost")
	b.ReportMetric(float64(r.records), "records")
	if r.drops >= 0 {
		b.ReportMetric(float64(r.drops), "tool-drops")
	}
}

// ---- Reading each tool's records -----------------------------------------

// eveFlowPackets sums the packets of eve.json's flow records.
func eveFlowPackets(tb testing.TB, path string) sessionRun {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var r sessionRun
	r.drops = -1
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes(), []byte(`"event_type":"flow"`)) {
			continue
		}
		var l struct {
			Flow struct {
				ToServer uint64 `json:"pkts_toserver"`
				ToClient uint64 `json:"pkts_toclient"`
			} `json:"flow"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			tb.Fatal(err)
		}
		r.recorded += l.Flow.ToServer + l.Flow.ToClient
		r.records++
	}
	return r
}

// argusPackets sums the packets of an argus file's flow records (its
// management records apart).
func argusPackets(tb testing.TB, path string) sessionRun {
	out, err := exec.Command("ra", "-X", "-n", "-c", ",", "-r", path, "-s", "pkts", "-", "not", "man").Output()
	if err != nil {
		tb.Fatalf("ra: %v", err)
	}
	var r sessionRun
	for _, l := range strings.Split(string(out), "\n") {
		if v, err := strconv.ParseUint(strings.TrimSpace(l), 10, 64); err == nil {
			r.recorded += v
			r.records++
		}
	}
	// Its loss is what its records do not count: argus writes its
	// capture's drop counters only into periodic management records.
	r.drops = -1
	return r
}

// pmacctPackets sums the PACKETS column of pmacct's print plugin CSV.
func pmacctPackets(tb testing.TB, path string) sessionRun {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatalf("pmacctd wrote nothing: %v", err)
	}
	defer f.Close()
	rd := csv.NewReader(f)
	rd.FieldsPerRecord = -1
	head, err := rd.Read()
	if err != nil {
		tb.Fatal(err)
	}
	col := -1
	for i, h := range head {
		if h == "PACKETS" {
			col = i
		}
	}
	if col < 0 {
		tb.Fatalf("pmacctd CSV without PACKETS: %v", head)
	}
	r := sessionRun{drops: -1}
	for {
		rec, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		v, _ := strconv.ParseUint(rec[col], 10, 64)
		r.recorded += v
		r.records++
	}
	return r
}

// netflowCollector receives NetFlow v5 on loopback and sums its records'
// packets. Started in a network namespace it listens there.
type netflowCollector struct {
	conn             *net.UDPConn
	packets, records atomic.Uint64
	done             chan struct{}
}

func startCollector(tb testing.TB, ns string) *netflowCollector {
	c := &netflowCollector{done: make(chan struct{})}
	listen := func() (err error) {
		c.conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		return err
	}
	var err error
	if ns != "" {
		sh(tb, "ip", "-n", ns, "link", "set", "lo", "up")
		err = loader.InNetns(ns, listen)
	} else {
		err = listen()
	}
	if err != nil {
		tb.Fatalf("collector: %v", err)
	}
	// Export bursts must not overflow the socket.
	if raw, err := c.conn.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 64<<20) })
	}
	go func() {
		defer close(c.done)
		buf := make([]byte, 65536)
		for {
			n, err := c.conn.Read(buf)
			if err != nil {
				return
			}
			p := buf[:n]
			if n < 24 || binary.BigEndian.Uint16(p) != 5 {
				continue
			}
			count := int(binary.BigEndian.Uint16(p[2:]))
			for i := 0; i < count && 24+48*(i+1) <= n; i++ {
				c.packets.Add(uint64(binary.BigEndian.Uint32(p[24+48*i+16:])))
				c.records.Add(1)
			}
		}
	}()
	tb.Cleanup(func() { c.conn.Close(); <-c.done })
	return c
}

func (c *netflowCollector) addr() string { return c.conn.LocalAddr().String() }

// settle waits until the collector has heard nothing new for a while.
func (c *netflowCollector) settle() sessionRun {
	last := c.records.Load()
	for quiet := 0; quiet < 5; {
		time.Sleep(100 * time.Millisecond)
		if n := c.records.Load(); n == last {
			quiet++
		} else {
			last, quiet = n, 0
		}
	}
	return sessionRun{recorded: c.packets.Load(), records: c.records.Load(), drops: -1}
}

// ---- Offline ------------------------------------------------------------

func runTimed(tb testing.TB, cmd *exec.Cmd) time.Duration {
	tb.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out.String())
	}
	return time.Since(start)
}

func pmacctConfig(tb testing.TB, dir, source string, live bool) string {
	// Offline its cache is written once, at the end of the file; live
	// every second, so that a SIGINT finds little left to write.
	key, refresh := "pcap_savefile", 3600
	if live {
		key, refresh = "pcap_interface", 1
	}
	conf := fmt.Sprintf(`daemonize: false
pidfile: %[1]s/pmacctd.pid
logfile: %[1]s/pmacctd.log
%[2]s: %[3]s
promisc: false
propagate_signals: true
aggregate: src_host, dst_host, src_port, dst_port, proto
plugins: print
print_output: csv
print_output_file: %[1]s/flows.csv
print_refresh_time: %[4]d
print_output_file_append: true
print_cache_entries: 131101
plugin_pipe_size: 268435456
plugin_buffer_size: 262144
`, dir, key, source, refresh)
	path := filepath.Join(dir, "pmacctd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

func listFile(tb testing.TB, dir string) string {
	path := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(path, []byte(listedDst.String()+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// BenchmarkReplayStartup is `xdpsensor replay` of a 4-frame capture: what
// every replay pays before its first frame (the program verified, the
// maps made, the outputs opened) and after its last.
func BenchmarkReplayStartup(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Fatal("needs root")
	}
	bin := sensorBin(b)
	var spent time.Duration
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		spent += runTimed(b, exec.Command(bin, "replay", "-b", listFile(b, dir), "-o", filepath.Join(dir, "out"), "../testdata/backscatter.pcap"))
	}
	b.ReportMetric(float64(spent.Milliseconds())/float64(b.N), "ms")
}

// BenchmarkOffline: each tool reads the same capture of 1M frames in 64K
// TCP flows and writes its session records; wall time of the process, as
// an analyst runs it.
func BenchmarkOffline(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Fatal("needs root")
	}
	needPeers(b, "argus", "ra", "softflowd", "pmacctd", "tcpdump")
	cap := peerCapture(b)
	bin := sensorBin(b)
	for _, c := range []struct {
		name string
		run  func(b *testing.B, dir string) (time.Duration, sessionRun)
	}{
		{"xdpsensor-replay", func(b *testing.B, dir string) (time.Duration, sessionRun) {
			took := runTimed(b, exec.Command(bin, "replay", "-b", listFile(b, dir), "-o", filepath.Join(dir, "out"), cap))
			return took, eveFlowPackets(b, filepath.Join(dir, "out", "eve.json"))
		}},
		{"xdpsensor-replay-all-open", func(b *testing.B, dir string) (time.Duration, sessionRun) {
			took := runTimed(b, exec.Command(bin, "replay", "-b", listFile(b, dir), "-o", filepath.Join(dir, "out"), allOpenCapture(b)))
			return took, eveFlowPackets(b, filepath.Join(dir, "out", "eve.json"))
		}},
		{"softflowd-all-open", func(b *testing.B, dir string) (time.Duration, sessionRun) {
			col := startCollector(b, "")
			took := runTimed(b, exec.Command("softflowd", "-d", "-r", allOpenCapture(b), "-n", col.addr(), "-v", "5", "-m", strconv.Itoa(2*peerFlows),
				"-p", filepath.Join(dir, "softflowd.pid"), "-c", "none"))
			return took, col.settle()
		}},
		{"xdpsensor-replay-hour", func(b *testing.B, dir string) (time.Duration, sessionRun) {
			took := runTimed(b, exec.Command(bin, "replay", "-b", listFile(b, dir), "-o", filepath.Join(dir, "out"), hourCapture(b)))
			return took, eveFlowPackets(b, filepath.Join(dir, "out", "eve.json"))
		}},
		{"argus-hour", func(b *testing.B, dir string) (time.Duration, sessionRun) {
			out := filepath.Join(dir, "flows.argus")
			took := runTimed(b, exec.Command("argus", "-X", "-P", "0", "-r", hourCapture(b), "-w", out))
			return took, argusPackets(b, out)
		}},
		{"softflowd-hour", func(b *testing.B, dir string) (time.Duration, sessionRun) {
			col := startCollector(b, "")
			took := runTimed(b, exec.Command("softflowd", "-d", "-r", hourCapture(b), "-n", col.addr(), "-v", "5", "-m", strconv.Itoa(2*peerFlows),
				"-p", filepath.Join(dir, "softflowd.pid"), "-c", "none"))
			return took, col.settle()
		}},
		{"xdpsensor-replay-per-frame", func(b *testing.B, dir string) (time.Duration, sessionRun) {
			took := runTimed(b, exec.Command(bin, "replay", "--per-frame", "-b", listFile(b, dir), "-o", filepath.Join(dir, "out"), cap))
			return took, eveFlowPackets(b, filepath.Join(dir, "out", "eve.json"))
		}},
		{"argus", func(b *testing.B, dir string) (time.Duration, sessionRun) {
			out := filepath.Join(dir, "flows.argus")
			took := runTimed(b, exec.Command("argus", "-X", "-P", "0", "-r", cap, "-w", out))
			return took, argusPackets(b, out)
		}},
		{"softflowd", func(b *testing.B, dir string) (time.Duration, sessionRun) {
			col := startCollector(b, "")
			// -c none: with a control socket, softflowd 1.1.0 reading a
			// file blocks in accept() before its first packet.
			took := runTimed(b, exec.Command("softflowd", "-d", "-r", cap, "-n", col.addr(), "-v", "5", "-m", strconv.Itoa(2*peerFlows),
				"-p", filepath.Join(dir, "softflowd.pid"), "-c", "none"))
			return took, col.settle()
		}},
		{"pmacctd", func(b *testing.B, dir string) (time.Duration, sessionRun) {
			start := time.Now()
			runTimed(b, exec.Command("pmacctd", "-f", pmacctConfig(b, dir, cap, false)))
			// The core exits at the end of the file; its print plugin
			// writes the records after.
			waitPmacctPurged(b, dir, true)
			return time.Since(start), pmacctPackets(b, filepath.Join(dir, "flows.csv"))
		}},
		{"tcpdump", func(b *testing.B, dir string) (time.Duration, sessionRun) {
			took := runTimed(b, exec.Command("tcpdump", "-n", "-r", cap, "-w", os.DevNull))
			return took, sessionRun{recorded: peerPackets, drops: -1} // no session records: it reads and writes every frame
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var took time.Duration
			var last sessionRun
			for i := 0; i < b.N; i++ {
				t, r := c.run(b, b.TempDir())
				took += t
				last = r
			}
			took /= time.Duration(b.N)
			b.ReportMetric(float64(took.Milliseconds()), "ms")
			reportSessions(b, took, peerPackets, last)
		})
	}
}

// ---- Live ---------------------------------------------------------------

// liveTool runs a peer inside the lab's namespace on its receiving veth
// while the generator sends, stops it, and reads its records.
func liveTool(b *testing.B, frame []byte, start func(e *liveEnv, dir string) (cmd *exec.Cmd, beforeStop func(), read func() sessionRun)) {
	e := newLiveEnv(b, true)
	dir := b.TempDir()
	cmd, beforeStop, read := start(e, dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	}()
	time.Sleep(time.Second) // opened its capture
	select {
	case err := <-exited:
		b.Fatalf("%s exited: %v\n%s", cmd.Args[0], err, out.String())
	default:
	}
	gen := e.generator(b, false)
	var took time.Duration
	for i := 0; i < b.N; i++ {
		took += e.send(b, gen, frame, liveFrames)
	}
	// What the kernel queued for it is not lost: give it (and its child
	// processes: pmacctd's plugins) time to catch up.
	waitIdle(cmd.Process.Pid, 20*time.Second)
	for _, child := range children(cmd.Process.Pid) {
		waitIdle(child, 20*time.Second)
	}
	stopped := false
	if beforeStop != nil {
		beforeStop()
		// It stops itself (softflowd, asked through its control socket:
		// a signal during its shutdown would make it exit at once,
		// exporting nothing).
		select {
		case <-exited:
			stopped = true
		case <-time.After(30 * time.Second):
		}
	}
	if !stopped {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
			b.Fatalf("%s did not stop on SIGINT\n%s", cmd.Args[4], out.String())
		}
	}
	r := read()
	if r.records == 0 {
		logs, _ := exec.Command("sh", "-c", "cat "+dir+"/*.log 2>/dev/null | tail -20").Output()
		b.Logf("%s recorded nothing; it said:\n%s\n%s", cmd.Args[4], out.String(), logs)
	}
	report(b, took, liveFrames*b.N)
	reportSessions(b, took, liveFrames*b.N, r)
}

// children are pid's child processes.
func children(pid int) []int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	var out []int
	for _, f := range strings.Fields(string(data)) {
		if c, err := strconv.Atoi(f); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// waitIdle waits until pid has used no CPU for 300 ms, or limit passes.
func waitIdle(pid int, limit time.Duration) {
	cpu := func() uint64 {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
		u, _ := strconv.ParseUint(f[11], 10, 64)
		s, _ := strconv.ParseUint(f[12], 10, 64)
		return u + s
	}
	deadline := time.Now().Add(limit)
	last := cpu()
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		now := cpu()
		if now == last {
			return
		}
		last = now
	}
}

func benchArgusLive(b *testing.B, frame []byte) {
	needPeers(b, "argus", "ra")
	var path string
	liveTool(b, frame, func(e *liveEnv, dir string) (*exec.Cmd, func(), func() sessionRun) {
		path = filepath.Join(dir, "flows.argus")
		cmd := exec.Command("ip", "netns", "exec", e.ns, "argus", "-X", "-P", "0", "-i", e.rcv, "-w", path)
		return cmd, nil, func() sessionRun { return argusPackets(b, path) }
	})
}

func benchSoftflowdLive(b *testing.B, frame []byte) {
	needPeers(b, "softflowd")
	liveTool(b, frame, func(e *liveEnv, dir string) (*exec.Cmd, func(), func() sessionRun) {
		col := startCollector(b, e.ns)
		ctl := filepath.Join(dir, "softflowd.ctl")
		cmd := exec.Command("ip", "netns", "exec", e.ns, "softflowd", "-d", "-i", e.rcv, "-n", col.addr(), "-v", "5",
			"-m", strconv.Itoa(2*liveFlows), "-B", strconv.Itoa(64<<20),
			"-p", filepath.Join(dir, "softflowd.pid"), "-c", ctl)
		drops := int64(-1)
		before := func() {
			// Its own count of what libpcap dropped.
			out, _ := exec.Command("softflowctl", "-c", ctl, "statistics").CombinedOutput()
			os.WriteFile(filepath.Join(dir, "softflowctl.log"), out, 0o644)
			if m := regexp.MustCompile(`Packets dropped by libpcap: (\d+)`).FindSubmatch(out); m != nil {
				drops, _ = strconv.ParseInt(string(m[1]), 10, 64)
			}
			// softflowd 1.1.0 opens libpcap without immediate mode and
			// waits in poll(2) for a packet: a signal alone does not end
			// it on a quiet interface, its control socket does (and it
			// exports every flow on the way out, as on SIGINT).
			exec.Command("softflowctl", "-c", ctl, "shutdown").Run()
		}
		return cmd, before, func() sessionRun {
			r := col.settle()
			r.drops = drops
			return r
		}
	})
}

func benchPmacctLive(b *testing.B, frame []byte) {
	needPeers(b, "pmacctd")
	liveTool(b, frame, func(e *liveEnv, dir string) (*exec.Cmd, func(), func() sessionRun) {
		cmd := exec.Command("ip", "netns", "exec", e.ns, "pmacctd", "-f", pmacctConfig(b, dir, e.rcv, true))
		return cmd, nil, func() sessionRun {
			waitPmacctPurged(b, dir, false)
			if _, err := os.Stat(filepath.Join(dir, "flows.csv")); err != nil {
				return sessionRun{drops: pmacctDrops(filepath.Join(dir, "pmacctd.log"))} // it wrote no record
			}
			r := pmacctPackets(b, filepath.Join(dir, "flows.csv"))
			r.drops = pmacctDrops(filepath.Join(dir, "pmacctd.log"))
			return r
		}
	})
}

// waitPmacctPurged waits until pmacctd's print plugin has written its
// cache out for the last time: offline (once) its only purge, at the end
// of the file; live, the one after the core exits, then nothing more.
func waitPmacctPurged(tb testing.TB, dir string, once bool) {
	deadline := time.Now().Add(2 * time.Minute)
	last, quiet := -1, 0
	for quiet < 20 { // 400 ms without a new purge
		if once && last > 0 {
			return
		}
		data, _ := os.ReadFile(filepath.Join(dir, "pmacctd.log"))
		n := bytes.Count(data, []byte("Purging cache - END"))
		switch {
		case n > 0 && n == last:
			quiet++
		default:
			last, quiet = n, 0
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pmacctd's print plugin wrote nothing:\n%s", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pmacctDrops reads the drops pmacctd logs at exit, -1 when it says none.
func pmacctDrops(log string) int64 {
	data, err := os.ReadFile(log)
	if err != nil {
		return -1
	}
	m := regexp.MustCompile(`(\d+) packets dropped`).FindSubmatch(data)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return v
}

package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpsensor/xdpsensor/bench/afsensor"
	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/userspace/pipeline"
)

// Live throughput: a generator (BPF_PROG_TEST_RUN with live frames,
// XDP_REDIRECT out of a veth) feeds the receiver under test on the peer.
// Method: the generator thread is pinned to one core, and the receiving
// veth's NAPI runs on that same core (the redirect schedules it there), so
// the generator can never outrun the receiver inside the kernel: the wall
// time per frame is the whole pipeline's cost, and the receiver's share is
// that minus the generator alone. Userspace consumers (the sensor's daemon,
// tcpdump, the AF_PACKET sensor) run on the other core; what they could not
// keep up with is reported as loss.

const (
	liveFrames   = 2_000_000
	liveFlows    = 65536
	listedEvery  = 1000 // one frame in a thousand goes to a listed address
	genCPU       = 1
	bpfLiveFrame = 1 << 1 // BPF_F_TEST_XDP_LIVE_FRAMES
)

var (
	listedDst = netip.MustParseAddr("203.0.113.66")
	plainDst  = netip.MustParseAddr("198.51.100.20")
)

type liveEnv struct {
	ns       string // network namespace name
	gen, rcv string // veth ends: the generator sends out of gen
	genIdx   int
}

func sh(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newLiveEnv(b testing.TB, gro bool) *liveEnv {
	e := &liveEnv{ns: fmt.Sprintf("xsb%d", os.Getpid()%100000), gen: "gen0", rcv: "rcv0"}
	exec.Command("ip", "netns", "del", e.ns).Run()
	sh(b, "ip", "netns", "add", e.ns)
	b.Cleanup(func() { exec.Command("ip", "netns", "del", e.ns).Run() })
	// Nothing but the generator's frames: no IPv6 link-local chatter.
	sh(b, "ip", "netns", "exec", e.ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	sh(b, "ip", "-n", e.ns, "link", "add", e.gen, "type", "veth", "peer", "name", e.rcv)
	sh(b, "ip", "-n", e.ns, "link", "set", e.gen, "up")
	sh(b, "ip", "-n", e.ns, "link", "set", e.rcv, "up")
	// A veth takes redirected frames only when its peer runs XDP or GRO.
	state := "off"
	if gro {
		state = "on"
	}
	sh(b, "ip", "netns", "exec", e.ns, "ethtool", "-K", e.rcv, "gro", state)
	loader.InNetns(e.ns, func() error {
		l, err := netlink.LinkByName(e.gen)
		if err == nil {
			e.genIdx = l.Attrs().Index
		}
		return err
	})
	return e
}

// generator loads the generator program aimed at the env's veth.
func (e *liveEnv) generator(b testing.TB, drop bool, vars ...map[string]uint32) *ebpf.Program {
	spec, err := LoadGen()
	if err != nil {
		b.Fatal(err)
	}
	be := func(a netip.Addr) uint32 { return binary.NativeEndian.Uint32(a.AsSlice()) }
	set := map[string]uint32{"gen_ifindex": uint32(e.genIdx), "gen_flows": liveFlows,
		"gen_listed_every": listedEvery, "gen_listed_dst": be(listedDst), "gen_plain_dst": be(plainDst)}
	for _, more := range vars {
		for k, v := range more {
			set[k] = v
		}
	}
	for k, v := range set {
		if err := spec.Variables[k].Set(v); err != nil {
			b.Fatal(err)
		}
	}
	var objs GenObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		b.Fatalf("%+v", err)
	}
	b.Cleanup(func() { objs.Close() })
	if drop {
		return objs.GenDrop
	}
	return objs.GenRedirect
}

// send runs n frames through the generator on genCPU, inside the env's
// namespace, and returns the wall time.
func (e *liveEnv) send(b testing.TB, prog *ebpf.Program, frame []byte, n int) time.Duration {
	var took time.Duration
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // left locked: the thread dies with the goroutine
		var set unix.CPUSet
		set.Set(genCPU)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			done <- err
			return
		}
		done <- loader.InNetns(e.ns, func() error {
			start := time.Now()
			_, err := prog.Run(&ebpf.RunOptions{Data: frame, Repeat: uint32(n), Flags: bpfLiveFrame})
			took = time.Since(start)
			return err
		})
	}()
	if err := <-done; err != nil {
		b.Fatalf("generator: %v", err)
	}
	return took
}

func liveFrame(size int) []byte {
	return Frame{Src: "192.0.2.10", Dst: plainDst.String(), SrcPort: 1024, DstPort: 443, Flags: "A", Payload: max(size-54, 0)}.Build()
}

func report(b *testing.B, took time.Duration, n int) {
	ns := float64(took.Nanoseconds()) / float64(n)
	b.ReportMetric(ns, "ns/pkt")
	b.ReportMetric(1000/ns, "Mpps")
}

func BenchmarkLive(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Fatal("needs root")
	}
	for _, size := range []int{64, 1500} {
		frame := liveFrame(size)
		sz := fmt.Sprintf("%dB", size)
		b.Run("generator-alone/"+sz, func(b *testing.B) {
			e := newLiveEnv(b, false)
			gen := e.generator(b, true)
			var took time.Duration
			for i := 0; i < b.N; i++ {
				took += e.send(b, gen, frame, liveFrames)
			}
			report(b, took, liveFrames*b.N)
		})
		b.Run("bare-xdp-drop/"+sz, func(b *testing.B) {
			benchFloorReceiver(b, frame, func(f *FloorsObjects) *ebpf.Program { return f.BareDrop })
		})
		b.Run("floor-parse+hash-update/"+sz, func(b *testing.B) {
			benchFloorReceiver(b, frame, func(f *FloorsObjects) *ebpf.Program { return f.ParseHashUpdate })
		})
		// The same, keeping each flow's last-seen time as a sensor must.
		b.Run("floor-parse+hash-update+clock/"+sz, func(b *testing.B) {
			benchFloorReceiver(b, frame, func(f *FloorsObjects) *ebpf.Program { return f.ParseHashUpdateClock })
		})
		b.Run("xdpsensor/"+sz, func(b *testing.B) { benchSensor(b, frame) })
		b.Run("nftables-set/"+sz, func(b *testing.B) { benchNft(b, frame) })
		b.Run("tcpdump/"+sz, func(b *testing.B) { benchTcpdump(b, frame) })
		b.Run("af_packet-go/"+sz, func(b *testing.B) { benchAF(b, frame) })
		b.Run("argus/"+sz, func(b *testing.B) { benchArgusLive(b, frame) })
		b.Run("softflowd/"+sz, func(b *testing.B) { benchSoftflowdLive(b, frame) })
		b.Run("pmacctd/"+sz, func(b *testing.B) { benchPmacctLive(b, frame) })
	}
}

// benchFloorReceiver attaches one of the floor programs to the receiver.
func benchFloorReceiver(b *testing.B, frame []byte, pick func(*FloorsObjects) *ebpf.Program) {
	e := newLiveEnv(b, false)
	spec, err := LoadFloors()
	if err != nil {
		b.Fatal(err)
	}
	spec.Maps["floor_flows"].MaxEntries = 2 * liveFlows
	if err := spec.Variables["floor_verdict"].Set(uint32(1)); err != nil { // XDP_DROP: a monitor port
		b.Fatal(err)
	}
	var floors FloorsObjects
	if err := spec.LoadAndAssign(&floors, nil); err != nil {
		b.Fatal(err)
	}
	defer floors.Close()
	var l link.Link
	if err := loader.InNetns(e.ns, func() (err error) {
		nl, _ := netlink.LinkByName(e.rcv)
		l, err = link.AttachXDP(link.XDPOptions{Program: pick(&floors), Interface: nl.Attrs().Index, Flags: link.XDPDriverMode})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	gen := e.generator(b, false)
	e.send(b, gen, frame, liveFlows) // pre-fill
	var took time.Duration
	for i := 0; i < b.N; i++ {
		took += e.send(b, gen, frame, liveFrames)
	}
	report(b, took, liveFrames*b.N)
}

func benchSensor(b *testing.B, frame []byte) {
	e := newLiveEnv(b, false)
	dir := b.TempDir()
	rules := filepath.Join(dir, "list.txt")
	os.WriteFile(rules, []byte(listedDst.String()+"\n"), 0o644)
	pin := "/sys/fs/bpf/xdpsensor-bench-" + e.ns
	b.Cleanup(func() { loader.Unpin(pin) })
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		_, err := pipeline.Live(ctx, pipeline.LiveConfig{
			Config: pipeline.Config{Blocklists: []string{rules}, OutDir: filepath.Join(dir, "out"),
				FlowTableSize: 2 * liveFlows, RingSize: 16 << 20, Logger: benchLogger(b)},
			Interfaces: []string{e.rcv}, Netns: e.ns, MonitorPort: true, PinDir: pin,
			XDPMode: loader.XDPNative, Ready: func() { close(ready) },
		})
		done <- err
	}()
	select {
	case <-ready:
	case err := <-done:
		b.Fatalf("sensor: %+v", err)
	}
	maps, err := loader.OpenPinned(pin)
	if err != nil {
		b.Fatal(err)
	}
	defer maps.Close()
	gen := e.generator(b, false)
	e.send(b, gen, frame, liveFlows) // pre-fill: every flow exists before measuring
	time.Sleep(200 * time.Millisecond)
	before, _ := maps.ReadStats()
	var took time.Duration
	for i := 0; i < b.N; i++ {
		took += e.send(b, gen, frame, liveFrames)
	}
	time.Sleep(300 * time.Millisecond) // the daemon drains the last events
	after, _ := maps.ReadStats()
	cancel()
	if err := <-done; err != nil {
		b.Fatalf("sensor: %+v", err)
	}
	sent := uint64(liveFrames * b.N)
	if got := after.Packets - before.Packets; got != sent {
		b.Errorf("the sensor counted %d of %d frames", got, sent)
	}
	listed := sent / listedEvery
	b.ReportMetric(float64(after.LostEvents-before.LostEvents), "lost-events")
	b.ReportMetric(float64(listed-(after.Alerts-before.Alerts)), "missed-alerts")
	report(b, took, int(sent))
}

func benchNft(b *testing.B, frame []byte) {
	e := newLiveEnv(b, true)
	var set strings.Builder
	set.WriteString(listedDst.String())
	for _, entry := range benchList().Entries[3:] {
		set.WriteString(", " + entry.Prefix.String())
	}
	ruleset := fmt.Sprintf(`table netdev xsbench {
	set bl { type ipv4_addr; flags interval; auto-merge; elements = { %s } }
	chain in { type filter hook ingress device %s priority 0; ip daddr @bl counter; }
}`, set.String(), e.rcv)
	f := filepath.Join(b.TempDir(), "rules.nft")
	os.WriteFile(f, []byte(ruleset), 0o644)
	sh(b, "ip", "netns", "exec", e.ns, "nft", "-f", f)
	gen := e.generator(b, false)
	e.send(b, gen, frame, liveFlows)
	var took time.Duration
	for i := 0; i < b.N; i++ {
		took += e.send(b, gen, frame, liveFrames)
	}
	out := sh(b, "ip", "netns", "exec", e.ns, "nft", "list", "chain", "netdev", "xsbench", "in")
	m := regexp.MustCompile(`counter packets (\d+)`).FindStringSubmatch(out)
	matched, _ := strconv.ParseUint(m[1], 10, 64)
	want := uint64((liveFrames*b.N+liveFlows)/listedEvery + 1)
	if matched+1 < want || matched > want+1 {
		b.Errorf("nftables matched %d, want about %d", matched, want)
	}
	report(b, took, liveFrames*b.N)
}

func benchTcpdump(b *testing.B, frame []byte) {
	e := newLiveEnv(b, true)
	out := filepath.Join(b.TempDir(), "tcpdump.pcap")
	var stderr bytes.Buffer
	td := exec.Command("ip", "netns", "exec", e.ns, "tcpdump", "-n", "-i", e.rcv, "-B", "65536", "-w", out)
	td.Stderr = &stderr
	if err := td.Start(); err != nil {
		b.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	gen := e.generator(b, false)
	var took time.Duration
	for i := 0; i < b.N; i++ {
		took += e.send(b, gen, frame, liveFrames)
	}
	time.Sleep(500 * time.Millisecond)
	td.Process.Signal(unix.SIGINT)
	td.Wait()
	m := regexp.MustCompile(`(\d+) packets captured[\s\S]*?(\d+) packets dropped by kernel`).FindStringSubmatch(stderr.String())
	if m == nil {
		b.Fatalf("tcpdump said: %s", stderr.String())
	}
	captured, _ := strconv.ParseFloat(m[1], 64)
	dropped, _ := strconv.ParseFloat(m[2], 64)
	b.ReportMetric(100*dropped/(captured+dropped), "%lost")
	report(b, took, liveFrames*b.N)
}

func benchAF(b *testing.B, frame []byte) {
	e := newLiveEnv(b, true)
	var s *afsensor.Sensor
	if err := loader.InNetns(e.ns, func() (err error) {
		s, err = afsensor.Open(e.rcv, []netip.Addr{listedDst})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	gen := e.generator(b, false)
	var took time.Duration
	for i := 0; i < b.N; i++ {
		took += e.send(b, gen, frame, liveFrames)
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	<-done
	drops, _ := s.Drops()
	b.ReportMetric(100*float64(drops)/float64(liveFrames*b.N), "%lost")
	report(b, took, liveFrames*b.N)
}

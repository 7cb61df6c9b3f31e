package loader

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	ciliumringbuf "github.com/cilium/ebpf/ringbuf"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

func TestPinDirOutsideBPFFS(t *testing.T) {
	dir := t.TempDir() + "/pins"
	_, err := Load(Config{PinDir: dir, FlowTableSize: 64, RingSize: 4096})
	if err == nil || !strings.Contains(err.Error(), "is not on a bpffs mount: mount one with `mount -t bpf bpf") {
		t.Fatalf("error %v", err)
	}
}

func TestVerifierRejectionShowsTheLog(t *testing.T) {
	// A program reading an uninitialised register: the verifier says so.
	_, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Reg(asm.R0, asm.R5),
			asm.Return(),
		},
	})
	if err == nil {
		t.Fatal("the verifier accepted a read of an uninitialised register")
	}
	msg := fmt.Sprint(explainLoadError(err, Config{}))
	for _, want := range []string{"loading objects: the kernel verifier rejected the program", "R5 !read_ok"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func TestAttachUnknownInterface(t *testing.T) {
	h := newHarness(t, Config{})
	_, err := h.s.Attach("xsnosuch0", XDPAuto)
	if err == nil || err.Error() != `interface "xsnosuch0": no such interface (see `+"`ip link`)" {
		t.Fatalf("error %v", err)
	}
}

func TestIncompatiblePinnedMapIsExplained(t *testing.T) {
	pin := "/sys/fs/bpf/xdpsensor-compat-" + strings.ReplaceAll(t.Name(), "/", "_")
	t.Cleanup(func() { Unpin(pin) })
	s, err := Load(Config{PinDir: pin, FlowTableSize: 1024, RingSize: 4096})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	s.Close()
	_, err = Load(Config{PinDir: pin, FlowTableSize: 2048, RingSize: 4096})
	if err == nil || !strings.Contains(err.Error(), "does not fit this build or configuration") || !strings.Contains(err.Error(), "xdpsensor detach --pin-dir "+pin) {
		t.Fatalf("error %v", err)
	}
}

// The daemon starts over with a pinned map that no longer fits, and says
// which and what is lost; the rest are kept.
func TestIncompatiblePinnedMapReplacedWithWarning(t *testing.T) {
	pin := "/sys/fs/bpf/xdpsensor-compat2-" + strings.ReplaceAll(t.Name(), "/", "_")
	t.Cleanup(func() { Unpin(pin) })
	s, err := Load(Config{PinDir: pin, FlowTableSize: 1024, FlowTableSizeV6: 256, FlowExtraSize: 4096, RingSize: 4096})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	bl, err := blocklistmaps.New(s.Maps(), s.Config.PinDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bl.Replace(simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.66")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Load(Config{PinDir: pin, FlowTableSize: 2048, FlowTableSizeV6: 256, FlowExtraSize: 4096, RingSize: 4096, ReplaceIncompatible: true})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer s.Close()
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "pinned map flows_v4 no longer fits") || !strings.Contains(s.Warnings[0], "the flows it held are not written") {
		t.Fatalf("warnings %q", s.Warnings)
	}
	if s.Objects.FlowsV4.MaxEntries() != 2048 {
		t.Fatalf("flows_v4 has %d entries", s.Objects.FlowsV4.MaxEntries())
	}
	// The blocklist survived: its maps were compatible and kept.
	if bl, err = blocklistmaps.New(s.Maps(), s.Config.PinDir); err != nil {
		t.Fatal(err)
	}
	snap, err := bl.Snapshot()
	if err != nil || len(snap.Entries) != 1 {
		t.Fatalf("blocklist after the restart: %v %+v", err, snap)
	}
}

// Maps replaced because they no longer fit are counted, once no program
// writes to them: the open flows of the flow tables, the unread records
// of the event ring and the unread frames of the capture ring, exactly.
func TestReplacedMapsCountWhatTheyHeld(t *testing.T) {
	pin := fmt.Sprintf("/sys/fs/bpf/xdpsensor-compat3-%d", os.Getpid())
	t.Cleanup(func() { Unpin(pin) })
	h := openHarness(t, Config{PinDir: pin, FlowTableSize: 1024, FlowTableSizeV6: 256, FlowExtraSize: 4096, RingSize: 1 << 16, CaptureRingSize: 1 << 16})
	h.block(simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.66"))
	if err := h.s.SetCapture(CaptureSettings{Mode: CaptureListed}); err != nil {
		t.Fatal(err)
	}
	// 7 IPv4 and 2 IPv6 flows nobody lists; 3 to the listed address, each
	// an alert (an event record) and a captured frame.
	for i := 0; i < 7; i++ {
		h.run(newTCPConv("192.0.2.10", "198.51.100.20", uint16(40000+i), 80).seg(0, event.TCPSyn, 0))
	}
	for i := 0; i < 2; i++ {
		h.run(frameSpec{v6: &ip6{src: "2001:db8::10", dst: "2001:db8::20", proto: 6},
			l4: tcpSeg{sport: uint16(41000 + i), dport: 80, flags: event.TCPSyn, seq: 1, win: 65535}}.build())
	}
	for i := 0; i < 3; i++ {
		h.run(newTCPConv("192.0.2.10", "203.0.113.66", uint16(42000+i), 6667).seg(0, event.TCPSyn, 0))
	}
	if st := h.stats(); st.FlowsNew != 12 || st.Alerts != 3 || st.CapturePackets != 3 {
		t.Fatalf("kernel: %d flows, %d alerts, %d frames captured; want 12, 3, 3", st.FlowsNew, st.Alerts, st.CapturePackets)
	}
	h.close()

	// Other sizes of both flow tables and both rings: all four replaced.
	s, err := Load(Config{PinDir: pin, FlowTableSize: 2048, FlowTableSizeV6: 512, FlowExtraSize: 4096, RingSize: 1 << 17, CaptureRingSize: 1 << 17,
		ReplayClock: true, ReplaceIncompatible: true})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer s.Close()
	up, lines := s.CountReplaced()
	if up != (UpgradeLosses{Flows: 12, Events: 3, Frames: 3}) {
		t.Errorf("counted %+v, want 12 flows, 3 events, 3 frames", up)
	}
	want := []string{
		"pinned map capture (replaced: it no longer fit) held 3 unread frames (",
		"pinned map events (replaced: it no longer fit) held 3 unread records (",
		"pinned map flows_v4 (replaced: it no longer fit) held 10 open flows: lost, never written (flows_lost_upgrade)",
		"pinned map flows_v6 (replaced: it no longer fit) held 2 open flows: lost, never written (flows_lost_upgrade)",
	}
	if len(lines) != len(want) {
		t.Fatalf("lines %q", lines)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %q, want it to start %q", lines[i], want[i])
		}
	}
	if up, lines := s.CountReplaced(); up != (UpgradeLosses{}) || lines != nil {
		t.Errorf("second count %+v %q, want nothing", up, lines)
	}
}

// A start whose new maps cannot be made (here a flow table the kernel
// refuses before allocating anything: more buckets than a u32 of bytes
// holds, E2BIG) after the old ones were unpinned puts the old ones back:
// nothing replaced, nothing lost, and the next start with fitting sizes
// finds what they hold.
func TestFailedReplaceRestoresThePins(t *testing.T) {
	pin := fmt.Sprintf("/sys/fs/bpf/xdpsensor-compat4-%d", os.Getpid())
	t.Cleanup(func() { Unpin(pin) })
	cfg := Config{PinDir: pin, FlowTableSize: 1024, FlowTableSizeV6: 256, FlowExtraSize: 4096, RingSize: 1 << 16}
	h := openHarness(t, cfg)
	h.block(simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.66"))
	h.run(newTCPConv("192.0.2.10", "203.0.113.66", 42000, 6667).seg(0, event.TCPSyn, 0))
	h.close()

	big := cfg
	big.FlowTableSize, big.AllocFlowsOnDemand, big.ReplaceIncompatible = 1<<30, true, true
	if s, err := Load(big); err == nil {
		s.Close()
		t.Fatal("a flow table of 2^30 entries loaded")
	} else if !strings.Contains(err.Error(), "argument list too long") {
		t.Fatalf("load: %v, want E2BIG", err)
	}
	cfg.ReplayClock = true // as openHarness: only the program differs
	s, err := Load(cfg)    // no ReplaceIncompatible: every map must fit
	if err != nil {
		t.Fatalf("the old maps are not back: %+v", err)
	}
	defer s.Close()
	h = &harness{t: t, s: s}
	if h.rd, err = ciliumringbuf.NewReader(s.Objects.Events); err != nil {
		t.Fatal(err)
	}
	defer h.rd.Close()
	if alerts, _ := h.events(); len(alerts) != 1 {
		t.Errorf("%d alerts in the restored ring, want the 1 left unread", len(alerts))
	}
	if n := len(h.flows()); n != 1 {
		t.Errorf("%d flows in the restored table, want 1", n)
	}
}

package loader

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
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

package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xdpsensor/xdpsensor/loader"
)

// vethNetns makes a network namespace with a veth pair xa/xb, removed at
// the end, and returns its name.
func vethNetns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("needs root (make test runs as root)")
	}
	ns := fmt.Sprintf("xsr%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	addVeth(t, ns)
	return ns
}

func addVeth(t *testing.T, ns string) {
	t.Helper()
	for _, args := range [][]string{
		{"-n", ns, "link", "add", "xa", "type", "veth", "peer", "name", "xb"},
		{"-n", ns, "link", "set", "xa", "up"},
		{"-n", ns, "link", "set", "xb", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
}

// xdpAttached reports whether ifname in ns has an XDP program.
func xdpAttached(ns, ifname string) bool {
	on := false
	loader.InNetns(ns, func() error {
		l, err := netlink.LinkByName(ifname)
		on = err == nil && l.Attrs().Xdp != nil && l.Attrs().Xdp.Attached
		return nil
	})
	return on
}

// syncBuffer is a log sink the test reads while the sensor writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLiveFailsBeforeAttaching: a read-only --out and a --metrics-addr in
// use fail the run before the program is attached or anything pinned.
func TestLiveFailsBeforeAttaching(t *testing.T) {
	ns := vethNetns(t)
	ro := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(ro, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,mode=0700,size=64k", "tmpfs", ro).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", ro).Run() })
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	pin := fmt.Sprintf("/sys/fs/bpf/xdpsensor-test-fail%d", os.Getpid())
	t.Cleanup(func() { loader.Unpin(pin) })
	for _, tc := range []struct {
		name, out, metrics, want string
	}{
		{"read-only out", ro, "", "output directory " + ro + " cannot be written: read-only file system"},
		{"metrics address in use", t.TempDir(), busy.Addr().String(), "--metrics-addr: listen tcp " + busy.Addr().String() + ": bind: address already in use"},
	} {
		_, err := Live(context.Background(), LiveConfig{
			Config:     Config{OutDir: tc.out, FlowTableSize: 1024, RingSize: 1 << 16, Capture: CaptureConfig{Mode: loader.CaptureNone}},
			Interfaces: []string{"xa"}, Netns: ns, PinDir: pin, MetricsAddr: tc.metrics, KeepAttached: true,
		})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v\nwant %s", tc.name, err, tc.want)
		}
		if xdpAttached(ns, "xa") {
			t.Errorf("%s: the program is attached after the failed run", tc.name)
		}
		if _, err := os.Stat(pin); !os.IsNotExist(err) {
			t.Errorf("%s: %s left behind (%v)", tc.name, pin, err)
		}
	}
}

// TestLiveReattachesInterfaceThatReturns: a watched interface that is
// deleted is logged; when it is created again the program is attached to
// it again, and that is logged too.
func TestLiveReattachesInterfaceThatReturns(t *testing.T) {
	ns := vethNetns(t)
	pin := fmt.Sprintf("/sys/fs/bpf/xdpsensor-test-back%d", os.Getpid())
	t.Cleanup(func() { loader.Unpin(pin) })
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := Live(ctx, LiveConfig{
			Config: Config{OutDir: t.TempDir(), FlowTableSize: 1024, RingSize: 1 << 16, Capture: CaptureConfig{Mode: loader.CaptureNone},
				Logger: slog.New(slog.NewTextHandler(&logs, nil))},
			Interfaces: []string{"xa"}, Netns: ns, PinDir: pin, Ready: func() { close(ready) },
		})
		done <- err
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("sensor: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("sensor not ready")
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10 s\n%s", what, logs.String())
			}
		}
	}
	if out, err := exec.Command("ip", "-n", ns, "link", "del", "xa").CombinedOutput(); err != nil {
		t.Fatalf("ip link del: %v %s", err, out)
	}
	waitFor("the disappearance logged", func() bool {
		return strings.Contains(logs.String(), `level=ERROR msg="watched interface disappeared: nothing is monitored on it until it comes back" interface=xa`)
	})
	addVeth(t, ns)
	waitFor("the program attached again", func() bool { return xdpAttached(ns, "xa") })
	if !strings.Contains(logs.String(), `msg="watched interface is back: program attached again" interface=xa`) {
		t.Errorf("the re-attachment is not logged:\n%s", logs.String())
	}
	stopSensor(t, cancel, done, 15*time.Second)
	if xdpAttached(ns, "xa") {
		t.Error("still attached after the sensor stopped")
	}
}

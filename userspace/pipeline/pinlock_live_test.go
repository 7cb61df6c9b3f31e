package pipeline

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/loader/pinlock"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/classification"
)

// TestLiveStartupWaitsForThePinLock: a `blocklist load` holds the pin
// directory's lock when a sensor starts on it. The start-up's writes to
// the config entry (tunnel ports, network variables, alert mode, capture
// settings) wait for the lock, then go on top of the load's: the
// generation the load set stays (moved on by two for the network
// variables, same slot), its list stays live, and the start-up's
// settings are there too.
func TestLiveStartupWaitsForThePinLock(t *testing.T) {
	l := startLab(t, "l")
	span := l.env["span_iface"]
	if err := os.MkdirAll(l.pinDir, 0o700); err != nil {
		t.Fatal(err)
	}
	unlock, err := pinlock.Lock(l.pinDir)
	if err != nil {
		t.Fatal(err)
	}
	held := true
	defer func() {
		if held {
			unlock()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := Live(ctx, LiveConfig{
			Config: Config{OutDir: l.outDir, FlowTableSize: 1024, RingSize: 1 << 20, VXLANPort: 8472,
				Capture: CaptureConfig{Mode: loader.CaptureAll, RingSize: 1 << 20}},
			Interfaces: []string{span}, MonitorPort: true, PinDir: l.pinDir,
			Ready: func() { close(ready) },
		})
		done <- err
	}()
	// The start-up loads the program, then waits for the lock: bounded.
	deadline := time.Now().Add(30 * time.Second)
	for lockWaiters(t, l.pinDir) == 0 {
		select {
		case <-ready:
			t.Fatal("the sensor started while the test held the pin directory's lock")
		case err := <-done:
			t.Fatalf("sensor stopped while starting: %+v", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the start-up did not wait for the pin directory's lock within 30 s")
		}
	}

	// Meanwhile, what `blocklist load` does under the lock.
	maps, err := loader.OpenPinned(l.pinDir)
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	list, err := blocklist.LoadContext(context.Background(), []string{l.rules}, blocklist.Options{Classes: classification.Standard()})
	if err != nil {
		t.Fatal(err)
	}
	bl, err := blocklistmaps.New(maps, l.pinDir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := bl.Replace(list)
	if err != nil {
		t.Fatal(err)
	}
	held = false
	unlock()

	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("sensor stopped while starting: %+v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the sensor did not start within 30 s of the lock's release")
	}
	cfg, err := maps.ReadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Generation != st.Generation+2 || cfg.VxlanPort != 8472 || cfg.CaptureMode != uint8(abi.BpfCaptureModeCAPTURE_ALL) {
		t.Errorf("config: generation %d (the load's %d, +2 for the network variables), vxlan port %d, capture mode %d; want both runs' writes",
			cfg.Generation, st.Generation, cfg.VxlanPort, cfg.CaptureMode)
	}
	snap, err := bl.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Entries) == 0 || len(snap.Entries) != st.ExactV4+st.ExactV6+st.PrefixV4+st.PrefixV6 {
		t.Errorf("live list has %d entries, the load installed %+v", len(snap.Entries), st)
	}
	stopSensor(t, cancel, done, 15*time.Second)
}

// lockWaiters counts this process's flock(2) waiters on dir in
// /proc/locks ("N: -> FLOCK ADVISORY WRITE PID MAJ:MIN:INODE 0 EOF").
func lockWaiters(t *testing.T, dir string) int {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	data, err := os.ReadFile("/proc/locks")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 7 && f[1] == "->" && f[2] == "FLOCK" && f[5] == strconv.Itoa(os.Getpid()) && f[6] == id {
			n++
		}
	}
	return n
}

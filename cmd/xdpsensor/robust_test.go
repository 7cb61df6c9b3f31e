package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	sharedBinOnce sync.Once
	sharedBinDir  string
	sharedBinErr  error
)

// TestMain removes the binary sharedBinary built.
func TestMain(m *testing.M) {
	code := m.Run()
	if sharedBinDir != "" {
		os.RemoveAll(sharedBinDir)
	}
	os.Exit(code)
}

// sharedBinary builds xdpsensor once for the tests that only run commands.
func sharedBinary(t *testing.T) string {
	t.Helper()
	sharedBinOnce.Do(func() {
		if sharedBinDir, sharedBinErr = os.MkdirTemp("", "xdpsensor-bin"); sharedBinErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(sharedBinDir, "xdpsensor"), ".").CombinedOutput()
		if err != nil {
			sharedBinErr = err
			t.Logf("%s", out)
		}
	})
	if sharedBinErr != nil {
		t.Fatalf("build: %v", sharedBinErr)
	}
	return filepath.Join(sharedBinDir, "xdpsensor")
}

// TestBlocklistLoadHonoursSignals: `blocklist load` of a FIFO whose
// writer never writes stops on SIGTERM (and on SIGINT), at once.
func TestBlocklistLoadHonoursSignals(t *testing.T) {
	bin := sharedBinary(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "feed.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// A writer that holds the FIFO open and never writes.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(bin, "blocklist", "load", "--pin-dir", filepath.Join(dir, "nopins"), fifo)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%v: exit 0", sig)
			}
			if !strings.Contains(stderr.String(), "reading "+fifo+": context canceled") {
				t.Errorf("%v: stderr %q, want it to name the file it was reading", sig, stderr.String())
			}
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("%v: blocklist load still running 5 s later", sig)
		}
	}
}

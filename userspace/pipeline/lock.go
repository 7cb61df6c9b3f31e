package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockDaemon makes sure one daemon at a time drains a pin directory's
// rings: two would steal each other's events. The lock is a file under
// /run (bpffs holds only BPF objects) and dies with the process.
func lockDaemon(pinDir string) (unlock func(), err error) {
	dir := "/run/xdpsensor"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	name := strings.ReplaceAll(strings.Trim(filepath.Clean(pinDir), "/"), "/", "_") + ".lock"
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(path)
		f.Close()
		return nil, fmt.Errorf("another xdpsensor run (pid %s) is using %s: stop it first, or give this one its own --pin-dir",
			strings.TrimSpace(string(owner)), pinDir)
	}
	f.Truncate(0)
	f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	return func() { f.Close() }, nil
}

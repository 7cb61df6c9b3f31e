package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/xdpsensor/xdpsensor/loader/sidecar"
)

// lockDir holds the daemons' lock files (bpffs holds only BPF objects).
const lockDir = sidecar.Dir

// lockDaemon makes sure one daemon at a time drains a pin directory's
// rings: two would steal each other's events. The lock is a file under
// /run that dies with the process, keyed on the pin directory itself
// (its device and inode), not on the path as typed: "../x", a symlink or
// a doubled slash name the same directory and share one lock, while
// /sys/fs/bpf/a_b and /sys/fs/bpf/a/b do not. A pin directory on a
// mounted bpffs that does not exist yet is created (root-only) so that it
// has an inode to key on; unlock removes it again if it is still empty.
func lockDaemon(pinDir string) (unlock func(), err error) {
	canon, err := canonicalPath(pinDir)
	if err != nil {
		return nil, fmt.Errorf("pin directory %s: %w", pinDir, err)
	}
	created := false
	if _, err := os.Stat(canon); errors.Is(err, fs.ErrNotExist) && isBPFFS(filepath.Dir(canon)) {
		if err := os.Mkdir(canon, 0o700); err == nil {
			created = true
		}
	}
	path, ok := sidecar.Path(canon, "lock")
	if !ok {
		// Not there yet (bpffs not mounted: the loader mounts it): the
		// canonical path, escaped so that distinct paths stay distinct.
		path = filepath.Join(lockDir, "lock-path"+strings.NewReplacer("%", "%25", "/", "%2F").Replace(canon))
	}
	removeCreated := func() {
		if created {
			os.Remove(canon) // only if still empty: pins stay
		}
	}
	if err := os.MkdirAll(lockDir, 0o700); err != nil {
		removeCreated()
		return nil, fmt.Errorf("creating %s: %w", lockDir, err)
	}
	var f *os.File
	for {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			removeCreated()
			return nil, fmt.Errorf("opening %s: %w", path, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			owner, _ := os.ReadFile(path)
			pid, _, _ := strings.Cut(strings.TrimSpace(string(owner)), " ")
			f.Close()
			return nil, fmt.Errorf("another xdpsensor run (pid %s) is using %s: stop it first, or give this one its own --pin-dir",
				pid, canon)
		}
		// The holder before us removes the file when it unlocks: when
		// that happened between our open and our lock, we hold a file no
		// one else finds, so start over.
		var held, named unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(path, &named) == nil && held.Ino == named.Ino {
			break
		}
		f.Close()
	}
	f.Truncate(0)
	f.WriteString(strconv.Itoa(os.Getpid()) + " " + canon + "\n")
	return func() {
		os.Remove(path) // while still locked: see above
		f.Close()
		removeCreated()
	}, nil
}

// LockDaemon takes pinDir's one-daemon lock, as `run` does (tests, tools
// that must not run beside a daemon).
func LockDaemon(pinDir string) (unlock func(), err error) { return lockDaemon(pinDir) }

// canonicalPath makes p absolute and resolves the symlinks of its longest
// existing prefix.
func canonicalPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	cur, rest := abs, ""
	for {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest), nil
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs, nil
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// DaemonPID returns the pid of the run holding pinDir's lock, 0 if none.
func DaemonPID(pinDir string) int {
	canon, err := canonicalPath(pinDir)
	if err != nil {
		return 0
	}
	path, ok := sidecar.Path(canon, "lock")
	if !ok {
		return 0
	}
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) == nil {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return 0 // nobody holds it
	}
	owner, _ := os.ReadFile(path)
	pid, _, _ := strings.Cut(strings.TrimSpace(string(owner)), " ")
	n, _ := strconv.Atoi(pid)
	if n == 0 {
		n = -1 // held, pid unknown
	}
	return n
}

func isBPFFS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && uint32(st.Type) == unix.BPF_FS_MAGIC
}

package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLockKeyedOnCanonicalPinDir: every spelling of one pin directory
// (relative, "..", doubled slashes, a symlink) meets the first daemon's
// lock; a_b and a/b are different directories with locks of their own.
func TestLockKeyedOnCanonicalPinDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (make test runs as root)")
	}
	base := fmt.Sprintf("xs-lock-%d", os.Getpid())
	pin := "/sys/fs/bpf/" + base
	t.Cleanup(func() {
		os.Remove(pin + "/b")
		os.Remove(pin)
		os.Remove(pin + "_b")
	})
	unlock, err := lockDaemon(pin)
	if err != nil {
		t.Fatal(err)
	}
	cwd, _ := os.Getwd()
	rel, _ := filepath.Rel(cwd, pin)
	link := filepath.Join(t.TempDir(), "pins")
	os.Symlink(pin, link)
	for _, alias := range []string{rel, "/sys/fs/bpf/../bpf/" + base, "/sys/fs//bpf/" + base + "/", link} {
		u, err := lockDaemon(alias)
		if err == nil {
			u()
			t.Errorf("%s passed the lock %s holds", alias, pin)
			continue
		}
		if want := fmt.Sprintf("another xdpsensor run (pid %d) is using %s", os.Getpid(), pin); !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", alias, err, want)
		}
	}
	if pid := DaemonPID(rel); pid != os.Getpid() {
		t.Errorf("DaemonPID(%s) = %d, want %d", rel, pid, os.Getpid())
	}
	// Distinct directories whose old lock names were both "sys_fs_bpf_X_b".
	u1, err := lockDaemon(pin + "_b")
	if err != nil {
		t.Fatalf("%s_b: %v", pin, err)
	}
	u2, err := lockDaemon(pin + "/b")
	if err != nil {
		t.Fatalf("%s/b: %v", pin, err)
	}
	u2()
	u1()
	unlock()
	if _, err := os.Stat(pin); !os.IsNotExist(err) {
		t.Errorf("the empty pin directory the lock created is still there: %v", err)
	}
	if pid := DaemonPID(pin); pid != 0 {
		t.Errorf("DaemonPID after unlock = %d", pid)
	}
}

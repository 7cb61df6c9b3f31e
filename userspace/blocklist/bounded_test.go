package blocklist

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// TestLoadBoundedRead: a device that never ends is refused by name once
// it passes the size limit, and so is a regular file over it.
func TestLoadBoundedRead(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.txt")
	os.WriteFile(big, []byte(strings.Repeat("192.0.2.1\n", 200_000)), 0o644)
	for path, want := range map[string]string{
		"/dev/zero": "/dev/zero: cannot read: more than the 1 MiB a blocklist may hold: not a blocklist",
		big:         big + ": cannot read: 2000000 bytes is more than a blocklist may hold (1 MiB)",
	} {
		_, err := Load([]string{path}, Options{MaxFileSize: 1 << 20})
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
}

// TestLoadContextFIFO: a FIFO with no writer reads as empty at once; one
// whose writer never writes is given up when the context ends.
func TestLoadContextFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "feed")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if l, err := Load([]string{fifo}, Options{}); err != nil || len(l.Entries) != 0 {
		t.Errorf("a FIFO with no writer: %v", err)
	}
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = LoadContext(ctx, []string{fifo}, Options{})
	if err == nil || err.Error() != "reading "+fifo+": context deadline exceeded" || time.Since(start) > 2*time.Second {
		t.Errorf("LoadContext of a silent FIFO: %v after %v", err, time.Since(start))
	}
}

// TestLongBadTokenIsCut: a 3 MB bad token is quoted in part, with the
// line and the reason kept.
func TestLongBadTokenIsCut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.txt")
	os.WriteFile(path, []byte("192.0.2.1\n"+strings.Repeat("é", 1_500_000)+"\n"), 0o644)
	_, err := Load([]string{path}, Options{Format: FormatPlain})
	if err == nil {
		t.Fatal("a bad token loaded")
	}
	msg := err.Error()
	if len(msg) > 600 || !strings.HasPrefix(msg, path+":2: ") || !strings.Contains(msg, "bytes cut]") || !utf8.ValidString(msg) {
		t.Errorf("%d bytes: %.300q", len(msg), msg)
	}
}

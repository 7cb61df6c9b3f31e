package console

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// collect polls f and returns the lines it handed on.
func collect(t *testing.T, f *follower) []string {
	t.Helper()
	var got []string
	if err := f.poll(func(lines []byte) {
		got = append(got, strings.Split(strings.TrimSuffix(string(lines), "\n"), "\n")...)
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func want(t *testing.T, step string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%s: got %q, want %q", step, got, want)
	}
}

// Every complete line once, in order: across appends, a line written in
// two parts, a SIGHUP/logrotate rename, a copytruncate and an overlong line.
func TestFollower(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "eve.json")
	f := newFollower(path, 64)
	defer f.close()

	want(t, "no file yet", collect(t, f))
	appendTo(t, path, "a\nb\n")
	want(t, "first lines", collect(t, f), "a", "b")
	want(t, "nothing new", collect(t, f))

	appendTo(t, path, "c1")
	want(t, "half a line", collect(t, f))
	appendTo(t, path, "c2\nd\n")
	want(t, "its end", collect(t, f), "c1c2", "d")

	// logrotate renames; the sensor writes its last records to the old
	// file, then (SIGHUP) reopens the path.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path+".1", "e\n")
	want(t, "renamed, not reopened", collect(t, f), "e")
	appendTo(t, path+".1", "f\n")
	appendTo(t, path, "g\n")
	want(t, "reopened", collect(t, f), "f", "g")

	// copytruncate: the file is emptied in place and written again.
	appendTo(t, path, "g2\n")
	want(t, "more", collect(t, f), "g2")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, "h\n")
	want(t, "truncated", collect(t, f), "h")

	// A line longer than the limit is dropped, the next one kept.
	appendTo(t, path, strings.Repeat("x", 50))
	want(t, "long, partial", collect(t, f))
	appendTo(t, path, strings.Repeat("x", 50)+"\ni\n")
	want(t, "long line dropped", collect(t, f), "i")
}

package outfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestReopenAfterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "eve.json")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]byte("one\n")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]byte("two\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{path + ".1": "one\n", path: "two\n"} {
		got, err := os.ReadFile(name)
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, %v; want 0640", st.Mode().Perm(), err)
	}
	if err := w.Write([]byte("three\n")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

// TestSmallBacklogHealthyDiskLosesNothing: a backlog below the 64 KiB
// write buffer bounds only what a failing Writer keeps; on a disk that
// takes every write, a round of records larger than the backlog is
// written whole, none lost.
func TestSmallBacklogHealthyDiskLosesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eve.json")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const size, total = 1000, 40
	w.SetMaxPending(16 << 10)
	for seq := 0; seq < total; seq++ {
		if err := w.Write(record(seq, size)); err != nil {
			t.Fatalf("Write %d: %v", seq, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.RecordsLost != 0 || st.WriteErrors != 0 || st.Failing || st.Pending != 0 {
		t.Fatalf("stats after a round of %d records on a healthy disk: %+v; want 0 lost, 0 errors, 0 pending", total, st)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	seqs := wholeLines(t, path, size)
	if len(seqs) != total {
		t.Fatalf("%d records on disk, want %d", len(seqs), total)
	}
	for i, seq := range seqs {
		if seq != i {
			t.Fatalf("record %d on disk is seq %d", i, seq)
		}
	}
}

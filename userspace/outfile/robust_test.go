package outfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of the given size on a new directory and
// unmounts it at the end; it skips the test when not root.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "mode=0700,size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		if exec.Command("umount", dir).Run() != nil {
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// fill writes a file until the disk is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte("f"), 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// record is line number seq, padded to size bytes with its newline.
func record(seq, size int) []byte {
	b := []byte(fmt.Sprintf("{\"seq\":%d,\"pad\":\"", seq))
	b = append(b, bytes.Repeat([]byte("p"), size-len(b)-3)...)
	return append(b, "\"}\n"...)
}

// wholeLines returns the seq of every line of path, failing on a torn one.
func wholeLines(t *testing.T, path string, size int) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("%s ends in half a line: ...%q", path, b[max(0, len(b)-40):])
	}
	var seqs []int
	for i, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		var seq int
		if _, err := fmt.Sscanf(l, "{\"seq\":%d,", &seq); err != nil || len(l)+1 != size {
			t.Fatalf("%s line %d torn (%d bytes): %.60q", path, i+1, len(l)+1, l)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

// TestDiskFullKeepsRecordsAndResumes: on a full disk, Write and Flush
// return no error, the file keeps only whole records, the retry buffer
// keeps what fits and counts the rest as lost, and everything kept is
// written, in order, once space returns.
func TestDiskFullKeepsRecordsAndResumes(t *testing.T) {
	dir := mountTmpfs(t, "128k")
	path := filepath.Join(dir, "eve.json")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.now = func() time.Time { return clock }
	const size, total = 1000, 400
	w.SetMaxPending(100 * size)
	fill(t, filepath.Join(dir, "filler"))
	os.Truncate(filepath.Join(dir, "filler"), 120<<10) // 8 KiB free: a write is cut short
	for seq := 0; seq < total; seq++ {
		if err := w.Write(record(seq, size)); err != nil {
			t.Fatalf("Write %d: %v", seq, err)
		}
		if seq%50 == 49 {
			if err := w.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			clock = clock.Add(300 * time.Millisecond)
		}
	}
	st := w.Stats()
	onDisk := wholeLines(t, path, size)
	if st.WriteErrors == 0 || !st.Failing || !errors.Is(st.LastError, syscall.ENOSPC) {
		t.Fatalf("stats on a full disk: %+v", st)
	}
	if st.RecordsLost == 0 || st.Pending == 0 {
		t.Fatalf("want records kept and lost: %+v", st)
	}
	if got := len(onDisk) + st.Pending + int(st.RecordsLost); got != total {
		t.Fatalf("%d on disk + %d pending + %d lost = %d, want %d", len(onDisk), st.Pending, st.RecordsLost, got, total)
	}
	// Space returns: the next Flush after the retry interval writes all.
	clock = clock.Add(time.Second)
	w.Flush() // fails: the disk is still full
	os.Remove(filepath.Join(dir, "filler"))
	if err := w.Flush(); err != nil || w.Stats().Pending == 0 {
		t.Fatalf("Flush within the retry interval wrote: %v %+v", err, w.Stats())
	}
	clock = clock.Add(time.Second)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	st2 := w.Stats()
	if st2.Failing || st2.Pending != 0 || st2.RecordsLost != st.RecordsLost {
		t.Fatalf("after space returned: %+v", st2)
	}
	all := wholeLines(t, path, size)
	if len(all) != total-int(st.RecordsLost) {
		t.Fatalf("%d records on disk, want %d", len(all), total-int(st.RecordsLost))
	}
	for i := 1; i < len(all); i++ {
		if all[i] <= all[i-1] {
			t.Fatalf("record %d after %d: out of order or twice", all[i], all[i-1])
		}
	}
}

// TestOpenCutsTornTail: a file that ends in half a line (a crash) is cut
// back to its last newline, so the next record starts on its own line.
func TestOpenCutsTornTail(t *testing.T) {
	for name, tc := range map[string]struct{ before, want string }{
		"torn":         {"{\"a\":1}\n{\"b\":", "{\"a\":1}\n{\"c\":3}\n"},
		"whole":        {"{\"a\":1}\n", "{\"a\":1}\n{\"c\":3}\n"},
		"only partial": {"{\"b\":", "{\"c\":3}\n"},
		"long tail":    {"{\"a\":1}\n" + strings.Repeat("x", 200<<10), "{\"a\":1}\n{\"c\":3}\n"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "eve.json")
			os.WriteFile(path, []byte(tc.before), 0o640)
			w, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte("{\"c\":3}\n"))
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(path); string(got) != tc.want {
				t.Errorf("got %.80q, want %q", got, tc.want)
			}
		})
	}
}

// TestKilledWriterLeavesWholeLines kills a writer with SIGKILL in the
// middle of writing, five times: every restart finds (after Open) only
// whole lines, and appends whole lines.
func TestKilledWriterLeavesWholeLines(t *testing.T) {
	if os.Getenv("OUTFILE_KILL_HELPER") != "" {
		killHelper(os.Getenv("OUTFILE_KILL_HELPER"))
		return
	}
	path := filepath.Join(t.TempDir(), "eve.json")
	for run := 0; run < 5; run++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriterLeavesWholeLines$")
		cmd.Env = append(os.Environ(), "OUTFILE_KILL_HELPER="+path, "OUTFILE_KILL_RUN="+strconv.Itoa(run))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(150+run*37) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		// The next run opens the file as the daemon would.
		w, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		wholeLines(t, path, 4096)
	}
	if n := len(wholeLines(t, path, 4096)); n == 0 {
		t.Fatal("the helper wrote nothing")
	}
}

// killHelper writes 4 KiB records in 1 MiB writes until killed (about
// 50 MB/s: the kill lands in a write often enough, the files stay small).
func killHelper(path string) {
	w, err := Open(path)
	if err != nil {
		os.Exit(2)
	}
	run, _ := strconv.Atoi(os.Getenv("OUTFILE_KILL_RUN"))
	for seq := run * 1_000_000; ; seq++ {
		w.Write(record(seq, 4096))
		if seq%256 == 255 {
			w.Flush()
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestReopenFailureKeepsWriting: a SIGHUP reopen that cannot open the
// path keeps writing to the old file, and a later Flush reopens it.
func TestReopenFailureKeepsWriting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "eve.json")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.now = func() time.Time { return clock }
	w.Write(record(1, 100))
	os.Rename(path, path+".1")
	os.Mkdir(path, 0o700) // the path cannot be opened as a file
	if err := w.Reopen(); err == nil {
		t.Fatal("Reopen onto a directory succeeded")
	}
	if err := w.Write(record(2, 100)); err != nil {
		t.Fatalf("Write after a failed reopen: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := wholeLines(t, path+".1", 100); fmt.Sprint(got) != "[1]" {
		t.Fatalf("old file %v, want [1] (the failed reopen's flush is still within the retry interval)", got)
	}
	os.Remove(path)
	clock = clock.Add(time.Second)
	w.Write(record(3, 100))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	old, cur := wholeLines(t, path+".1", 100), wholeLines(t, path, 100)
	if fmt.Sprint(old) != "[1 2 3]" && fmt.Sprint(old)+fmt.Sprint(cur) != "[1 2][3]" {
		t.Fatalf("old file %v, new file %v: want every record once, in order", old, cur)
	}
	if w.Generation() != 1 {
		t.Errorf("generation %d, want 1", w.Generation())
	}
}

// TestOpenRefusesSymlink: an output name planted as a symlink is never
// followed, whatever it points to.
func TestOpenRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("precious\n"), 0o600)
	for _, name := range []string{"eve.json", "conn.log", "alert.fast"} {
		path := filepath.Join(dir, name)
		os.Symlink(target, path)
		w, err := Open(path)
		if err == nil {
			w.Write([]byte("attack\n"))
			w.Close()
			t.Errorf("%s: opened through a symlink", name)
		} else if !strings.Contains(err.Error(), "symlink") {
			t.Errorf("%s: %v, want it to say symlink", name, err)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Errorf("target changed: %q", b)
	}
	if st, _ := os.Stat(target); st.Mode().Perm() != 0o600 {
		t.Errorf("target mode changed: %v", st.Mode())
	}
}

// TestOpenRefusesDirWritableByOthers: a directory another user owns and
// others can write to is refused; root's or ours is fine.
func TestOpenRefusesDirWritableByOthers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	dir := filepath.Join(t.TempDir(), "out")
	os.Mkdir(dir, 0o777)
	os.Chmod(dir, 0o777)
	os.Chown(dir, 4242, 4242)
	_, err := Open(filepath.Join(dir, "eve.json"))
	if err == nil || !strings.Contains(err.Error(), "writable by others") || !strings.Contains(err.Error(), "uid 4242") {
		t.Fatalf("Open in a dir of uid 4242 mode 0777: %v", err)
	}
	os.Chmod(dir, 0o755) // owned by another user but only it writes: our choice to write there is the operator's
	w, err := Open(filepath.Join(dir, "eve.json"))
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	os.Chown(dir, 0, 0)
	os.Chmod(dir, 0o1777) // root's sticky /tmp-like directory
	w, err = Open(filepath.Join(dir, "conn.log"))
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
}

// TestOpenTightensModeAndRefusesFIFO: an existing world-readable output is
// made 0640; a FIFO planted under the name is refused at once.
func TestOpenTightensModeAndRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "eve.json")
	os.WriteFile(path, nil, 0o666)
	os.Chmod(path, 0o666)
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
	fifo := filepath.Join(dir, "alert.fast")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Open(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("opened a FIFO")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Open of a FIFO hangs")
	}
}

// TestOpenOnFullDisk: a restart on a disk too full to create the file
// does not fail: the Writer counts the error, keeps the records and
// creates the file once it can.
func TestOpenOnFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(dir, 0o700)
	// Room for the root directory and one file: no inode for eve.json.
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "mode=0700,size=64k,nr_inodes=2", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "eve.json")
	w, err := Open(path)
	if err != nil {
		t.Fatalf("Open on a full disk: %v", err)
	}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.now = func() time.Time { return clock }
	if err := w.Write(record(1, 100)); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if st := w.Stats(); st.WriteErrors != 1 || !st.Failing || st.Pending != 1 || !errors.Is(st.LastError, syscall.ENOSPC) {
		t.Fatalf("stats: %+v", st)
	}
	os.Remove(filler)
	clock = clock.Add(time.Second)
	w.Flush()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := wholeLines(t, path, 100); fmt.Sprint(got) != "[1]" {
		t.Errorf("records %v, want [1]", got)
	}
}

// TestOpenRetryingCreatesTheFileLater: a file OpenRetrying cannot
// create (a directory in the way) keeps the records, counts the failure,
// and is created by a Flush at least a second later, once it can be:
// every record once, and no switch of files (no second header block).
func TestOpenRetryingCreatesTheFileLater(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tunnel.log")
	os.Mkdir(path, 0o700)
	w := OpenRetrying(path)
	clock := time.Now() // the failed create was stamped with the real clock, before
	w.now = func() time.Time { return clock }
	if st := w.Stats(); st.WriteErrors != 1 || !st.Failing || !errors.Is(st.LastError, syscall.EISDIR) || st.Path != path {
		t.Fatalf("stats after a failed create: %+v", st)
	}
	w.Write(record(1, 100))
	w.Write(record(2, 100))
	os.Remove(path)
	w.Flush() // within the retry interval: no new attempt
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("created within the retry interval: %v", err)
	}
	clock = clock.Add(time.Second)
	w.Flush()
	if st := w.Stats(); st.Failing || st.Pending != 0 || st.WriteErrors != 1 || st.RecordsLost != 0 {
		t.Fatalf("stats after the retry: %+v", st)
	}
	if w.Generation() != 0 {
		t.Errorf("generation %d: a first file created late is no switch", w.Generation())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := wholeLines(t, path, 100); fmt.Sprint(got) != "[1 2]" {
		t.Errorf("records %v, want [1 2]", got)
	}
}

// TestOpenRetryingNeverCreatedCountsLost: records of a file that could
// never be created are lost at Close, counted, and Close says so.
func TestOpenRetryingNeverCreatedCountsLost(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tunnel.log")
	os.Mkdir(path, 0o700)
	w := OpenRetrying(path)
	for i := 1; i <= 3; i++ {
		w.Write(record(i, 100))
	}
	err := w.Close()
	if err == nil || !strings.Contains(err.Error(), "tunnel.log: 3 records could not be written") || !errors.Is(err, syscall.EISDIR) {
		t.Fatalf("Close: %v", err)
	}
	if st := w.Stats(); st.RecordsLost != 3 {
		t.Errorf("records lost %d, want 3", st.RecordsLost)
	}
}

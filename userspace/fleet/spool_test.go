package fleet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func readAll(t *testing.T, s *spool) []spoolRecord {
	t.Helper()
	var out []spoolRecord
	for {
		rec, ok, err := s.next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, rec)
	}
}

func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	return m
}

// Records come back in order across segments; acked segments go; a new
// spool on the same directory resumes after the acked cursor.
func TestSpoolOrderAckResume(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20) // 64 KiB segments
	if err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("x", 1000)
	const n = 300 // ~300 KB: five segments
	for i := range n {
		if ok, err := s.appendRecord("xdpsensor.a.flow", fmt.Sprintf("a/flow/%d", i), []byte(payload)); !ok || err != nil {
			t.Fatalf("append %d: %v %v", i, ok, err)
		}
	}
	// Finished segments are readable at once, the current one's buffered
	// tail after a flush.
	got := readAll(t, s)
	if len(got) == 0 || len(got) >= n {
		t.Fatalf("read %d records before the flush, want those of the finished segments", len(got))
	}
	s.flush()
	got = append(got, readAll(t, s)...)
	if len(got) != n {
		t.Fatalf("read %d records, want %d", len(got), n)
	}
	for i, r := range got {
		if r.subject != "xdpsensor.a.flow" || r.msgID != fmt.Sprintf("a/flow/%d", i) || string(r.data) != payload {
			t.Fatalf("record %d: %q %q %d bytes", i, r.subject, r.msgID, len(r.data))
		}
	}
	segs := len(spoolFiles(t, dir))
	if segs < 4 {
		t.Fatalf("%d segments, want several", segs)
	}
	s.ack(got[199].end)
	if err := s.saveCursor(); err != nil {
		t.Fatal(err)
	}
	if left := len(spoolFiles(t, dir)); left >= segs {
		t.Fatalf("%d segments after acking 200 of 300 records, want fewer than %d", left, segs)
	}
	s.close()

	s2, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.close()
	again := readAll(t, s2)
	if len(again) != 100 || again[0].msgID != "a/flow/200" || again[99].msgID != "a/flow/299" {
		t.Fatalf("after reopening: %d records from %q, want the 100 from a/flow/200", len(again), again[0].msgID)
	}
	// New records go after them.
	s2.appendRecord("xdpsensor.a.alert", "a/alert/1", []byte("{}"))
	s2.flush()
	if more := readAll(t, s2); len(more) != 1 || more[0].msgID != "a/alert/1" {
		t.Fatalf("after the old records: %+v", more)
	}
}

// A full spool refuses records and counts them; acking frees room.
func TestSpoolLimit(t *testing.T) {
	s, err := openSpool(t.TempDir(), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	rec := []byte(strings.Repeat("y", 1000)) // 1000 + len("s") + len("id-NNN") + 3 bytes a line
	accepted := 0
	for i := range 100 {
		ok, err := s.appendRecord("s", fmt.Sprintf("id-%03d", i), rec)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			accepted++
		}
	}
	const line = 1000 + 1 + 6 + 3
	if want := (64 << 10) / line; accepted != want {
		t.Fatalf("accepted %d records, want %d (64 KiB of %d-byte lines)", accepted, want, line)
	}
	appended, dropped := s.counts()
	if appended != uint64(accepted) || dropped != uint64(100-accepted) {
		t.Fatalf("counts: %d appended, %d dropped", appended, dropped)
	}
	if s.bytes() > 64<<10 {
		t.Fatalf("spool holds %d bytes, over its limit", s.bytes())
	}
}

// A line torn by a crash (no newline, and the writer moved on) is
// skipped; the records around it are read.
func TestSpoolTornLine(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "0000000000000001.spool"), []byte("s a/1 {}\ns a/2 {\"tor"), 0o640)
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	s.appendRecord("s", "a/3", []byte("{}"))
	s.flush()
	got := readAll(t, s)
	if len(got) != 2 || got[0].msgID != "a/1" || got[1].msgID != "a/3" {
		t.Fatalf("read %+v, want a/1 and a/3", got)
	}
}

// A spool whose disk fills drops and counts what it cannot write, never
// fails its writer, and resumes (within a second) once acked segments
// free the space.
func TestSpoolDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("mounting a tmpfs needs root (make test runs as root)")
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(dir, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		if exec.Command("umount", dir).Run() != nil {
			exec.Command("umount", "-l", dir).Run()
		}
	})
	s, err := openSpool(dir, 16<<20) // the limit is not what stops it: the disk is
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	rec := []byte(strings.Repeat("z", 1000))
	const n = 400 // 400 KB into 256 KiB
	for i := range n {
		if _, err := s.appendRecord("s", fmt.Sprintf("id-%03d", i), rec); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if i%10 == 9 {
			s.flush()
		}
	}
	s.flush()
	appended, dropped := s.counts()
	if appended+dropped != n || dropped == 0 || appended < 200 || !errors.Is(s.lastError(), syscall.ENOSPC) {
		t.Fatalf("%d appended, %d dropped, last error %v: want a full disk", appended, dropped, s.lastError())
	}
	got := readAll(t, s)
	if uint64(len(got)) != appended {
		t.Fatalf("read back %d records, %d were counted as written", len(got), appended)
	}
	for i, r := range got {
		if r.msgID != fmt.Sprintf("id-%03d", i) || len(r.data) != 1000 {
			t.Fatalf("record %d: %q, %d bytes", i, r.msgID, len(r.data))
		}
	}

	// Everything read is acked: its segments go, and appending resumes.
	s.ack(got[len(got)-1].end)
	time.Sleep(1100 * time.Millisecond)
	if ok, err := s.appendRecord("s", "after", []byte("{}")); !ok || err != nil {
		t.Fatalf("after space came back: %v %v", ok, err)
	}
	s.flush()
	if more := readAll(t, s); len(more) != 1 || more[0].msgID != "after" {
		t.Fatalf("after space came back: read %+v", more)
	}
}

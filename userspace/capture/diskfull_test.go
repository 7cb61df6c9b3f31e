package capture

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of the given size (mount options) on a new
// directory, skipping the test if that is not possible (not root).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(dir, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		if exec.Command("umount", dir).Run() != nil {
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// TestRingDiskFull fills a 256 KiB tmpfs: the ring pauses with the error,
// drops and counts packets, keeps every file readable, and resumes by
// itself (at most once a second) when space comes back.
func TestRingDiskFull(t *testing.T) {
	for _, format := range []string{"pcap", "pcapng"} {
		t.Run(format, func(t *testing.T) {
			dir := mountTmpfs(t, "256k")
			r := mustOpenRing(t, RingOptions{Dir: dir, FileSize: 64 << 10, Format: format})
			t.Cleanup(func() { r.Close() }) // before the unmount
			clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			r.now = func() time.Time { return clock }
			seq, failed := 0, 0
			write := func() error {
				p := pkt{t: t0.Add(time.Duration(seq) * time.Millisecond), flow: uint64(seq%7 + 1), proto: 6, src: hostA, dst: hostB, sp: 2253, dp: 6667, size: 1000, seq: seq, iface: "eth0"}
				seq++
				_, err := r.Write(p.record())
				if err != nil {
					failed++
				}
				return err
			}
			// Fill the disk.
			var err error
			for i := 0; i < 1000 && err == nil; i++ {
				err = write()
			}
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			st := r.Stats()
			if !st.Paused || !errors.Is(st.LastError, syscall.ENOSPC) {
				t.Fatalf("after ENOSPC: %+v", st)
			}
			checkFiles(t, r, dir)
			// Paused: packets are dropped and counted, no retry within a second.
			before := st.Dropped
			for i := 0; i < 25; i++ {
				if err := write(); !errors.Is(err, ErrPaused) {
					t.Fatalf("write while paused: %v", err)
				}
				clock = clock.Add(30 * time.Millisecond)
			}
			st = r.Stats()
			if st.Dropped != before+25 || !st.Paused {
				t.Fatalf("paused: %+v", st)
			}
			// Still full a second later: one retry, still paused.
			clock = clock.Add(time.Second)
			if err := write(); err == nil || !r.Stats().Paused {
				t.Fatalf("retry on a full disk: %v %+v", err, r.Stats())
			}
			checkFiles(t, r, dir)
			// Delete the oldest file: after a second the ring writes again.
			files := r.Files()
			removed, _ := readPackets(t, files[0])
			os.Remove(files[0])
			os.Remove(IndexPath(files[0]))
			if err := write(); !errors.Is(err, ErrPaused) {
				t.Fatalf("retried before a second: %v", err)
			}
			clock = clock.Add(time.Second)
			if err := write(); err != nil {
				t.Fatalf("after freeing space: %v", err)
			}
			if r.Stats().Paused {
				t.Fatal("still paused")
			}
			// Fill again, then enlarge the file system.
			err = nil
			for i := 0; i < 1000 && err == nil; i++ {
				err = write()
			}
			if !r.Stats().Paused {
				t.Fatalf("not paused after filling again: %v", err)
			}
			if out, err := exec.Command("mount", "-o", "remount,size=2M", dir).CombinedOutput(); err != nil {
				t.Fatalf("remount: %v %s", err, out)
			}
			clock = clock.Add(time.Second)
			for i := 0; i < 500; i++ {
				if err := write(); err != nil {
					t.Fatalf("after enlarging, packet %d: %v", i, err)
				}
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			st = r.Stats()
			// Dropped: the failed writes and the buffered packets cut off.
			if st.Paused || st.Dropped < uint64(failed) || st.Packets+st.Dropped != uint64(seq) {
				t.Errorf("stats %+v; %d writes failed of %d", st, failed, seq)
			}
			n := checkFiles(t, r, dir)
			for _, f := range ringFiles(t, dir) {
				if _, err := ReadIndex(f); err != nil {
					t.Errorf("after resuming, a file without index: %v", err)
				}
			}
			// Every packet counted as written is on disk, but the removed file's.
			if n != int(st.Packets)-len(removed) {
				t.Errorf("%d packets on disk, %d written, %d removed", n, st.Packets, len(removed))
			}
		})
	}
}

// checkFiles reads every file of the ring: complete records only, and as
// many packets as its index says (when it has one). It returns the packets.
func checkFiles(t *testing.T, r *Ring, dir string) int {
	t.Helper()
	total := 0
	for _, f := range ringFiles(t, dir) {
		p, trunc := readPackets(t, f)
		if trunc {
			t.Errorf("%s ends in a half record", f)
		}
		if end, complete, err := lastCompleteRecord(f); err != nil || !complete || end != fileSize(t, f) {
			t.Errorf("%s: last complete record ends at %d of %d (%v)", f, end, fileSize(t, f), err)
		}
		if ix, err := ReadIndex(f); err == nil && ix.Packets != len(p) {
			t.Errorf("%s: %d packets, index says %d", f, len(p), ix.Packets)
		}
		total += len(p)
	}
	return total
}

// TestRingStoredAfterAShortWrite: Write names the open file while the
// packet is still in the buffer; the write that fills the disk takes the
// packets it cut short back out of the file. Stored tells exactly which
// made it: those it says are stored are the packets the files hold, the
// rest were counted as dropped. A packet still buffered is written out
// to find out.
func TestRingStoredAfterAShortWrite(t *testing.T) {
	for _, format := range []string{"pcap", "pcapng"} {
		t.Run(format, func(t *testing.T) {
			dir := mountTmpfs(t, "256k")
			r := mustOpenRing(t, RingOptions{Dir: dir, Format: format})
			t.Cleanup(func() { r.Close() }) // before the unmount
			// Larger than the disk, smaller than the write buffer: every
			// Write returns a file until the buffer is written out.
			var frames []Frame
			for seq := 0; seq < 300; seq++ {
				p := pkt{t: t0.Add(time.Duration(seq) * time.Millisecond), flow: 1, proto: 6, src: hostA, dst: hostB, sp: 2253, dp: 6667, size: 1000, seq: seq}
				f, err := r.WriteFrame(p.record())
				if err != nil || f.Path == "" {
					t.Fatalf("write %d (in the buffer): %v", seq, err)
				}
				frames = append(frames, f)
			}
			if !r.Stored(frames[0]) {
				t.Fatal("the first packet is not stored")
			}
			st := r.Stats()
			if !st.Paused || st.Dropped == 0 || st.Packets+st.Dropped != 300 {
				t.Fatalf("after writing out onto a full disk: %+v", st)
			}
			onDisk := map[uint32]bool{}
			for _, f := range ringFiles(t, dir) {
				pkts, _ := readPackets(t, f)
				for _, p := range pkts {
					onDisk[binary.BigEndian.Uint32(p.Data[54:58])] = true
				}
			}
			stored := 0
			for seq, f := range frames {
				if r.Stored(f) != onDisk[uint32(seq)] {
					t.Errorf("packet %d: Stored %v, in the file %v", seq, r.Stored(f), onDisk[uint32(seq)])
				}
				if r.Stored(f) {
					stored++
				}
			}
			if stored != int(st.Packets) || stored != len(onDisk) {
				t.Errorf("%d stored, %d on disk, %d counted written", stored, len(onDisk), st.Packets)
			}
			if (Frame{}).Path != "" || r.Stored(Frame{}) {
				t.Error("the zero Frame (a packet Write dropped) is stored")
			}
		})
	}
}

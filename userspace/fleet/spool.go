package fleet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The spool is the publisher's queue: every event is appended to it by
// the ring drain (a buffered file append, never a network wait), and the
// sender reads it back in order, publishes, and moves the acked cursor
// when JetStream acks. While the server is away the spool grows, bounded
// by its size limit; what does not fit is dropped and counted. The cursor
// is on disk, so what a stopped sensor had not sent goes out on its next
// start.
//
// Files: NNNNNNNNNNNNNNNN.spool segments, one record a line
// ("<subject> <msg-id> <EVE JSON>\n"; EVE JSON has no raw newlines), and
// "acked" ("<segment> <offset>\n": everything before it was acked).

const (
	segmentSuffix = ".spool"
	cursorFile    = "acked"
)

// spoolPos is a place in the spool: a segment and a byte offset in it.
type spoolPos struct {
	seg uint64
	off int64
}

func (p spoolPos) before(q spoolPos) bool {
	return p.seg < q.seg || (p.seg == q.seg && p.off < q.off)
}

// spoolRecord is one spooled event.
type spoolRecord struct {
	subject string
	msgID   string
	data    []byte
	end     spoolPos // just after the record
}

type spool struct {
	dir     string
	limit   int64 // bytes of every segment together
	segSize int64 // a new segment starts past this

	mu       sync.Mutex
	total    int64  // bytes in segments on disk or buffered
	wseg     uint64 // the segment being written
	wsize    int64
	wf       *os.File
	bw       *bufio.Writer
	dirty    bool  // buffered bytes not yet written to the file
	ackedOff int64 // acked bytes of the cursor's segment
	dropped  uint64
	appended uint64
	// What a write error may lose: the lengths of the records appended
	// since the last flush, and the file's size at that flush.
	pendingLens []int64
	flushedSize int64
	closed      bool
	lastErr     error // the last write error
	failedAt    time.Time
	sizes       map[uint64]int64 // segment -> bytes, for the total when deleted

	// The reader's state; only the sender goroutine touches it.
	rpos    spoolPos
	lastEnd map[uint64]int64 // segments read to their end: where their last record ends
	rf      *os.File
	rbuf    *bufio.Reader
	acked   spoolPos // last persisted cursor
}

// openSpool opens (creating it) the spool in dir. Segments before the
// acked cursor are removed; the reader starts at the cursor; the writer
// starts a new segment, so a line torn by a crash is never appended to.
func openSpool(dir string, limit int64) (*spool, error) {
	if limit <= 0 {
		limit = DefaultSpoolSize
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating the spool: %w", err)
	}
	s := &spool{dir: dir, limit: limit, segSize: min(max(limit/16, 64<<10), 16<<20), sizes: map[uint64]int64{}, lastEnd: map[uint64]int64{}}
	cur, err := readCursor(filepath.Join(dir, cursorFile))
	if err != nil {
		return nil, err
	}
	segs, err := s.segments()
	if err != nil {
		return nil, err
	}
	var last uint64
	for _, seg := range segs {
		last = max(last, seg)
		if seg < cur.seg {
			os.Remove(s.segPath(seg))
			continue
		}
		st, err := os.Stat(s.segPath(seg))
		if err != nil {
			return nil, fmt.Errorf("reading the spool: %w", err)
		}
		s.sizes[seg] = st.Size()
		s.total += st.Size()
	}
	if len(s.sizes) == 0 {
		cur = spoolPos{seg: last + 1} // nothing pending: start clean
	} else if _, ok := s.sizes[cur.seg]; !ok {
		// The cursor's segment is gone (removed after it was acked to its
		// end): start at the first one left.
		first := slices.Min(slices.Collect(maps.Keys(s.sizes)))
		cur = spoolPos{seg: first}
	}
	s.rpos, s.acked, s.ackedOff = cur, cur, cur.off
	s.wseg = max(last+1, cur.seg)
	if err := s.openWriter(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *spool) segPath(seg uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016d%s", seg, segmentSuffix))
}

func (s *spool) segments() ([]uint64, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("reading the spool: %w", err)
	}
	var segs []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(name, 10, 64); err == nil {
			segs = append(segs, n)
		}
	}
	slices.Sort(segs)
	return segs, nil
}

func readCursor(path string) (spoolPos, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return spoolPos{}, nil
	}
	if err != nil {
		return spoolPos{}, fmt.Errorf("reading the spool cursor: %w", err)
	}
	var p spoolPos
	if _, err := fmt.Sscanf(string(data), "%d %d", &p.seg, &p.off); err != nil {
		// A damaged cursor re-sends the whole spool: duplicates the
		// stream drops, rather than events lost.
		return spoolPos{}, nil
	}
	return p, nil
}

// openWriter creates segment wseg; mu held or not yet shared.
func (s *spool) openWriter() error {
	f, err := os.OpenFile(s.segPath(s.wseg), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("spool: %w", err)
	}
	s.wf, s.wsize, s.flushedSize = f, st.Size(), st.Size()
	if _, ok := s.sizes[s.wseg]; !ok {
		s.sizes[s.wseg] = st.Size()
		s.total += st.Size()
	}
	if s.bw == nil {
		s.bw = bufio.NewWriterSize(f, 64<<10)
	} else {
		s.bw.Reset(f)
	}
	return nil
}

// appendRecord adds one record, or counts it dropped: the spool is full,
// or its disk failed (then the records not yet written out are dropped
// too, and a new segment is tried a second later). It never waits for
// anything but the local file, and a disk problem is never the drain's
// error: eve.json and the other outputs go on.
func (s *spool) appendRecord(subject, msgID string, data []byte) (bool, error) {
	n := int64(len(subject) + len(msgID) + len(data) + 3)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, errors.New("spool closed")
	}
	if s.wf == nil && !s.reopen() {
		s.dropped++
		return false, nil
	}
	if s.total+n > s.limit {
		s.dropped++
		return false, nil
	}
	if s.wsize > 0 && s.wsize+n > s.segSize {
		if err := s.rotate(); err != nil {
			s.fail(err)
			s.dropped++
			return false, nil
		}
	}
	s.bw.WriteString(subject)
	s.bw.WriteByte(' ')
	s.bw.WriteString(msgID)
	s.bw.WriteByte(' ')
	s.bw.Write(data)
	if err := s.bw.WriteByte('\n'); err != nil {
		s.fail(err)
		s.dropped++
		return false, nil
	}
	s.wsize += n
	s.total += n
	s.sizes[s.wseg] += n
	s.appended++
	s.pendingLens = append(s.pendingLens, n)
	s.dirty = true
	return true, nil
}

// fail gives the current segment up after a write error; mu held. Of
// the records buffered since the last flush, those the file holds whole
// stay (the reader gets them); the rest are dropped and counted, and a
// line they tore is skipped by the reader. Appending resumes in a new
// segment.
func (s *spool) fail(err error) {
	s.lastErr, s.failedAt = err, time.Now()
	if s.wf != nil {
		size := s.flushedSize
		if st, err := s.wf.Stat(); err == nil {
			size = st.Size()
		}
		kept, end := 0, s.flushedSize
		for _, n := range s.pendingLens {
			if end+n > size {
				break
			}
			end += n
			kept++
		}
		lost := uint64(len(s.pendingLens) - kept)
		s.dropped += lost
		s.appended -= lost
		s.total += size - s.sizes[s.wseg]
		s.sizes[s.wseg] = size
		s.wf.Close()
		s.wf = nil
		s.wseg++
	}
	s.pendingLens, s.dirty = s.pendingLens[:0], false
}

// reopen starts a new segment after a failure, at most once a second;
// mu held.
func (s *spool) reopen() bool {
	if time.Since(s.failedAt) < time.Second {
		return false
	}
	if err := s.openWriter(); err != nil {
		s.fail(err)
		return false
	}
	return true
}

// rotate finishes the current segment and starts the next; mu held.
func (s *spool) rotate() error {
	if err := s.bw.Flush(); err != nil {
		return err
	}
	s.pendingLens = s.pendingLens[:0]
	s.wf.Close()
	s.wf = nil
	s.wseg++
	return s.openWriter()
}

// flush writes buffered records to the file, where the reader sees them.
// A write error drops them (counted) instead of failing the caller.
func (s *spool) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wf == nil || !s.dirty {
		return
	}
	if err := s.bw.Flush(); err != nil {
		s.fail(err)
		return
	}
	s.pendingLens, s.flushedSize, s.dirty = s.pendingLens[:0], s.wsize, false
}

// lastError is the last write error, nil when there was none.
func (s *spool) lastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

func (s *spool) writeSeg() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wseg
}

// next reads the record at the reader's position; ok is false when
// nothing complete is there yet. Sender goroutine only.
func (s *spool) next() (rec spoolRecord, ok bool, err error) {
	for {
		if s.rf == nil {
			f, err := os.Open(s.segPath(s.rpos.seg))
			if errors.Is(err, os.ErrNotExist) {
				if s.rpos.seg < s.writeSeg() {
					s.rpos = spoolPos{seg: s.rpos.seg + 1}
					continue
				}
				return rec, false, nil
			}
			if err != nil {
				return rec, false, fmt.Errorf("spool: %w", err)
			}
			if _, err := f.Seek(s.rpos.off, io.SeekStart); err != nil {
				f.Close()
				return rec, false, fmt.Errorf("spool: %w", err)
			}
			s.rf = f
			if s.rbuf == nil {
				s.rbuf = bufio.NewReaderSize(f, 256<<10)
			} else {
				s.rbuf.Reset(f)
			}
		}
		line, err := s.rbuf.ReadBytes('\n')
		if err == nil {
			s.rpos.off += int64(len(line))
			rec, ok := parseRecord(line[:len(line)-1])
			if !ok {
				continue // not ours: skip the line rather than stall
			}
			rec.end = s.rpos
			return rec, true, nil
		}
		if !errors.Is(err, io.EOF) {
			return rec, false, fmt.Errorf("spool: %w", err)
		}
		// At the end of what is written. The writer may still be in this
		// segment (come back later), or have moved on: then one more read
		// settles it, as nothing is written here after a rotation.
		s.unread(len(line))
		if s.rpos.seg >= s.writeSeg() {
			return rec, false, nil
		}
		line, err = s.rbuf.ReadBytes('\n')
		if err == nil {
			s.unread(len(line))
			continue
		}
		// The segment is done (a partial last line was torn by a crash or
		// a full disk): once its last record is acked it can go.
		s.rf.Close()
		s.rf = nil
		s.lastEnd[s.rpos.seg] = s.rpos.off
		s.rpos = spoolPos{seg: s.rpos.seg + 1}
	}
}

// unread puts the reader back n bytes (a partial line it consumed) by
// reopening at its position.
func (s *spool) unread(n int) {
	if n == 0 {
		return
	}
	s.rf.Seek(s.rpos.off, io.SeekStart)
	s.rbuf.Reset(s.rf)
}

func parseRecord(line []byte) (spoolRecord, bool) {
	subj, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return spoolRecord{}, false
	}
	id, data, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return spoolRecord{}, false
	}
	return spoolRecord{subject: string(subj), msgID: string(id), data: data}, true
}

// ack records that everything up to p was acked: whole segments before
// it are removed, and p's own when p is its last record and the reader is
// done with it (their bytes free spool space, and disk, at once: a full
// disk cannot wedge the spool). The cursor file is written by saveCursor.
func (s *spool) ack(p spoolPos) {
	if !s.acked.before(p) {
		return
	}
	if end, done := s.lastEnd[p.seg]; done && p.off >= end {
		p = spoolPos{seg: p.seg + 1}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for seg := s.acked.seg; seg < p.seg; seg++ {
		os.Remove(s.segPath(seg))
		s.total -= s.sizes[seg]
		delete(s.sizes, seg)
		delete(s.lastEnd, seg)
	}
	s.acked, s.ackedOff = p, p.off
}

// saveCursor persists the acked position (write and rename: a crash
// leaves the old cursor or the new one).
func (s *spool) saveCursor() error {
	tmp := filepath.Join(s.dir, cursorFile+".tmp")
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", s.acked.seg, s.acked.off), 0o640); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, cursorFile)); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// bytes is what the spool holds that JetStream has not acked.
func (s *spool) bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total - s.ackedOff
}

func (s *spool) counts() (appended, dropped uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appended, s.dropped
}

func (s *spool) isDirty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dirty
}

// close flushes and closes the writer and the reader.
func (s *spool) close() error {
	s.mu.Lock()
	var err error
	s.closed = true
	if s.wf != nil {
		err = s.bw.Flush()
		if cerr := s.wf.Close(); err == nil {
			err = cerr
		}
		s.wf = nil
	}
	s.mu.Unlock()
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
	return err
}

// Package outfile is the one file writer under the output encoders (EVE,
// Snort text, Zeek): a file opened for appending (mode 0640), written a
// whole record at a time, flushed once per drain round, reopened on SIGHUP
// (after logrotate moved it away) and closed once. What a full disk or a
// crash in the middle of a line does to an output file is decided here,
// once for every format:
//
//   - A failed write never reaches the encoder or the pipeline: the
//     records stay in a bounded retry buffer and are written when space
//     returns; what does not fit is counted as lost. Stats reports both.
//   - A file never keeps half a record: a short write is cut back to its
//     last whole record, and a file that a crash (SIGKILL) left ending in
//     half a line is cut back to its last newline when it is opened.
//   - An output file is opened relative to its directory without
//     following symlinks, in a directory no other user can write to.
package outfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// ErrClosed is returned by every call on a closed Writer.
var ErrClosed = errors.New("output file closed")

// bufSize is how much a Writer gathers before writing it out.
const bufSize = 64 << 10

// DefaultMaxPending bounds the bytes of records a Writer keeps while its
// file cannot be written (disk full): past it, new records are counted as
// lost.
const DefaultMaxPending = 8 << 20

// retryInterval is how often a failing Writer tries again.
const retryInterval = time.Second

// Stats are a Writer's failure counters since it was made.
type Stats struct {
	Path        string // the file, "" over an io.Writer
	WriteErrors uint64 // failed writes (and opens) of the file
	RecordsLost uint64 // records dropped: the retry buffer was full, or Close could not write them
	Pending     int    // records waiting to be written
	Failing     bool   // the last write (or reopen) failed
	LastError   error  // the last failure, nil if none
}

// Reporter is an output that reports its Writer's counters (the EVE,
// Snort and Zeek writers).
type Reporter interface {
	OutputStats() Stats
}

// Writer buffers whole records (one or more complete lines each) for a
// file or any io.Writer. It is meant for one goroutine.
type Writer struct {
	path string   // "" over a caller's io.Writer: nothing to reopen
	dir  *os.File // the file's directory, opened once
	f    *os.File // nil while a file could not be opened
	w    io.Writer
	// buf holds whole records; ends[i] is where record i ends in buf.
	buf        []byte
	ends       []int
	maxPending int

	stats     Stats
	lastTry   time.Time
	reopenDue bool // a reopen failed (or the first open): try again
	gen       int  // files switched to so far
	closed    bool
	now       func() time.Time
}

// New returns a Writer over w. Close closes w when w is an io.Closer.
func New(w io.Writer) *Writer {
	return &Writer{w: w, maxPending: DefaultMaxPending, now: time.Now}
}

// Open opens the file at path for appending, creating it with mode 0640
// (an existing file's mode is tightened to 0640). The directory must
// exist and be writable by no other user than root or us; path itself
// must not be a symlink. A file left ending in half a line is cut back
// to its last newline. A disk too full to create the file is not an
// error: the Writer counts a write error and keeps trying.
func Open(path string) (*Writer, error) {
	dir, err := OpenDir(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	w := &Writer{path: path, dir: dir, maxPending: DefaultMaxPending, now: time.Now}
	f, err := w.openFile()
	switch {
	case err == nil:
		w.setFile(f)
	case isNoSpace(err):
		w.fail(err)
		w.reopenDue = true
	default:
		dir.Close()
		return nil, err
	}
	return w, nil
}

// OpenRetrying opens path as Open does, for an output created in the
// middle of a run (tunnel.log, on its first line): there, failing to
// create the file (a directory or a permission in the way, too many open
// files) must not stop the sensor and its other outputs. Such a failure
// is treated as a full disk is: the Writer keeps its records (up to the
// backlog, past it they are counted lost), counts the failure, tries
// again at most once a second, and Stats says why.
func OpenRetrying(path string) *Writer {
	w := &Writer{path: path, maxPending: DefaultMaxPending, now: time.Now}
	w.tryReopen() // a failure is in w.stats
	return w
}

// OpenDir opens an output directory after checking that no other user
// can plant files in it: a directory writable by its group or by anyone
// must belong to root or to us.
func OpenDir(path string) (*os.File, error) {
	d, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(d.Fd()), &st); err != nil {
		d.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := CheckDirOwner(path, &st); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// CheckDirOwner refuses a directory that another user could write to.
func CheckDirOwner(path string, st *unix.Stat_t) error {
	me := uint32(os.Geteuid())
	if st.Mode&0o022 != 0 && st.Uid != 0 && st.Uid != me {
		return fmt.Errorf("output directory %s is writable by others (mode %#o) and belongs to uid %d, not root or us: "+
			"another user could plant links there; use a directory only root can write (chmod go-w)", path, st.Mode&0o7777, st.Uid)
	}
	return nil
}

// openFile opens w.path relative to w.dir, never through a symlink, and
// makes sure it is a regular file of mode 0640 at most.
func (w *Writer) openFile() (*os.File, error) {
	if w.dir == nil {
		// OpenRetrying could not open the directory either (EMFILE).
		d, err := OpenDir(filepath.Dir(w.path))
		if err != nil {
			return nil, err
		}
		w.dir = d
	}
	name := filepath.Base(w.path)
	// O_NONBLOCK: a FIFO planted under our name must not hang us.
	fd, err := unix.Openat(int(w.dir.Fd()), name,
		unix.O_RDWR|unix.O_APPEND|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0o640)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("%s is a symlink: refusing to write through it (remove it)", w.path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", w.path, err)
	}
	f := os.NewFile(uintptr(fd), w.path)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", w.path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file: refusing to write to it", w.path)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", w.path, err)
	}
	if st.Mode&0o7777&^0o640 != 0 {
		if err := unix.Fchmod(fd, 0o640); err != nil {
			f.Close()
			return nil, fmt.Errorf("tightening the mode of %s: %w", w.path, err)
		}
	}
	if err := cutTornTail(f, st.Size); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: cutting a half-written last line: %w", w.path, err)
	}
	return f, nil
}

func (w *Writer) setFile(f *os.File) {
	w.f, w.w = f, f
}

// cutTornTail cuts a file that does not end in a newline (a write cut
// by SIGKILL or a crash) back to just after its last newline, so that
// the next record starts on a line of its own.
func cutTornTail(f *os.File, size int64) error {
	if size == 0 {
		return nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	buf := make([]byte, 64<<10)
	end := size
	for end > 0 {
		start := max(end-int64(len(buf)), 0)
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil {
			return err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] == '\n' {
				return f.Truncate(start + int64(i) + 1)
			}
		}
		end = start
	}
	return f.Truncate(0)
}

// SetMaxPending sets how many bytes of records the Writer keeps while its
// file cannot be written (DefaultMaxPending).
func (w *Writer) SetMaxPending(n int) { w.maxPending = n }

// Write buffers one record: whole lines, ending in a newline. A write
// error is not returned: the records are kept (up to the retry bound) and
// retried, or counted as lost; Stats tells.
func (w *Writer) Write(record []byte) error {
	if w.closed {
		return ErrClosed
	}
	// A healthy Writer writes out before the buffer passes either bound:
	// a backlog smaller than bufSize must not drop records the disk
	// would take. Only a failing Writer drops, once the backlog is full.
	if len(w.buf)+len(record) > min(bufSize, w.maxPending) && !w.stats.Failing {
		w.writeOut()
	}
	if len(w.buf) > 0 && len(w.buf)+len(record) > w.maxPending {
		w.stats.RecordsLost++
		return nil
	}
	w.buf = append(w.buf, record...)
	w.ends = append(w.ends, len(w.buf))
	return nil
}

// Closed reports whether Close was called.
func (w *Writer) Closed() bool { return w.closed }

// Stats returns the Writer's failure counters.
func (w *Writer) Stats() Stats {
	st := w.stats
	st.Path = w.path
	st.Pending = len(w.ends)
	return st
}

// Flush writes out the buffered records. A failing Writer tries at most
// once a second; failures are counted, not returned.
func (w *Writer) Flush() error {
	if w.closed {
		return ErrClosed
	}
	if w.stats.Failing && w.now().Sub(w.lastTry) < retryInterval {
		return nil
	}
	if w.reopenDue {
		w.writeOut() // what belongs to the old file, if it takes it
		w.tryReopen()
	}
	w.writeOut()
	return nil
}

// Generation counts the files the Writer switched to (Reopen, or a retry
// after a failed one): a format with a header block starts a new one.
func (w *Writer) Generation() int { return w.gen }

// writeOut writes the buffer in one write. A short write keeps the whole
// records it carried and cuts a partial one off the file again.
func (w *Writer) writeOut() {
	if len(w.buf) == 0 {
		return
	}
	if w.w == nil {
		return // no file yet: the reopen failed
	}
	w.lastTry = w.now()
	n, err := w.w.Write(w.buf)
	if err == nil && n < len(w.buf) {
		err = io.ErrShortWrite
	}
	if err == nil {
		w.buf, w.ends = w.buf[:0], w.ends[:0]
		w.stats.Failing = false
		return
	}
	w.fail(err)
	whole := 0 // records wholly written
	for whole < len(w.ends) && w.ends[whole] <= n {
		whole++
	}
	kept := 0
	if whole > 0 {
		kept = w.ends[whole-1]
	}
	if n > kept && w.f != nil {
		// Half a record reached the file: take it back.
		var st unix.Stat_t
		if serr := unix.Fstat(int(w.f.Fd()), &st); serr == nil {
			if terr := w.f.Truncate(st.Size - int64(n-kept)); terr != nil {
				w.fail(terr)
			}
		}
	}
	w.buf = w.buf[:copy(w.buf, w.buf[kept:])]
	w.ends = w.ends[:copy(w.ends, w.ends[whole:])]
	for i := range w.ends {
		w.ends[i] -= kept
	}
}

func (w *Writer) fail(err error) {
	w.stats.WriteErrors++
	w.stats.Failing = true
	w.stats.LastError = err
	w.lastTry = w.now()
}

// Reopen opens the path again and switches to it: after logrotate moved
// the file away, writing goes on in a new one. When the path cannot be
// opened the Writer keeps writing to the file it has, retries the reopen
// with every Flush (at most once a second), and Reopen returns why.
func (w *Writer) Reopen() error {
	if w.path == "" {
		return errors.New("reopening an output that is not a file")
	}
	if w.closed {
		return ErrClosed
	}
	w.writeOut() // what belongs to the old file
	if err := w.tryReopen(); err != nil {
		return fmt.Errorf("reopening %s (still writing to the file it had): %w", w.path, err)
	}
	return nil
}

func (w *Writer) tryReopen() error {
	f, err := w.openFile()
	if err != nil {
		w.reopenDue = true
		w.fail(err)
		return err
	}
	if w.f != nil {
		w.f.Close()
		// A switch from one file to another; a first file that could
		// only be opened late is not one (its header is in the buffer).
		w.gen++
	}
	w.setFile(f)
	w.reopenDue = false
	return nil
}

// Close writes out what it can and closes the file (or the underlying
// writer if it is an io.Closer). Records it cannot write are counted as
// lost and make Close return an error. Closing twice returns ErrClosed.
func (w *Writer) Close() error {
	if w.closed {
		return ErrClosed
	}
	if w.reopenDue {
		w.tryReopen()
	}
	w.writeOut()
	w.closed = true
	var err error
	if n := len(w.ends); n > 0 {
		w.stats.RecordsLost += uint64(n)
		err = fmt.Errorf("%s: %d records could not be written: %w", w.name(), n, w.stats.LastError)
		w.buf, w.ends = nil, nil
	}
	if c, ok := w.w.(io.Closer); ok {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	if w.dir != nil {
		w.dir.Close()
	}
	return err
}

func (w *Writer) name() string {
	if w.path == "" {
		return "output"
	}
	return filepath.Base(w.path)
}

func isNoSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}

package console

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// follower reads a file of lines that the sensor appends to and that
// SIGHUP/logrotate replaces (rename, then the sensor reopens the path) or
// truncates (copytruncate). Each complete line is handed on once, in
// order: a replaced file is read to its end before the new one is opened.
// A truncation is seen when the file is found shorter than what was read,
// so one that is written back past that size between two polls is missed
// (tail -F has the same blind spot); the sensor's SIGHUP reopen has none.
type follower struct {
	path     string
	maxLine  int // a longer line is dropped, not buffered without bound
	f        *os.File
	dev, ino uint64
	off      int64  // bytes of f read
	partial  []byte // the last line, until its newline comes
	skipping bool   // inside a line longer than maxLine
	buf      []byte
}

func newFollower(path string, maxLine int) *follower {
	return &follower{path: path, maxLine: maxLine, buf: make([]byte, 1<<20)}
}

// poll reads what was written since the last call and calls fn with
// runs of complete lines, each ending in '\n'. A file that does not exist
// (yet) is not an error: the sensor may not have written it.
func (fl *follower) poll(fn func(lines []byte)) error {
	for range 2 { // the open file, then at most one replacement
		if fl.f == nil {
			f, err := os.Open(fl.path)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			st, err := f.Stat()
			if err != nil {
				f.Close()
				return err
			}
			fl.f, fl.off, fl.partial, fl.skipping = f, 0, fl.partial[:0], false
			fl.dev, fl.ino = fileID(st)
		}
		if err := fl.drain(fn); err != nil {
			return err
		}
		st, err := os.Stat(fl.path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // renamed away, not yet reopened: the old file may still grow
		}
		if err != nil {
			return err
		}
		if dev, ino := fileID(st); dev != fl.dev || ino != fl.ino {
			// Replaced. The sensor flushed the old file before reopening;
			// read what it added since the drain above, then switch.
			if err := fl.drain(fn); err != nil {
				return err
			}
			fl.f.Close()
			fl.f = nil
			continue
		}
		if st.Size() < fl.off { // truncated in place
			if _, err := fl.f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			fl.off, fl.partial, fl.skipping = 0, fl.partial[:0], false
			return fl.drain(fn)
		}
		return nil
	}
	return nil
}

// drain reads f to its current end.
func (fl *follower) drain(fn func(lines []byte)) error {
	for {
		n, err := fl.f.Read(fl.buf)
		if n > 0 {
			fl.off += int64(n)
			fl.take(fl.buf[:n], fn)
		}
		if err == io.EOF || n == 0 && err == nil {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// take hands on the complete lines of b (after what was left over).
func (fl *follower) take(b []byte, fn func(lines []byte)) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if fl.skipping {
			if i < 0 {
				return
			}
			fl.skipping, b = false, b[i+1:]
			continue
		}
		last := bytes.LastIndexByte(b, '\n')
		if last < 0 {
			if len(fl.partial)+len(b) > fl.maxLine {
				fl.partial, fl.skipping = fl.partial[:0], true
				return
			}
			fl.partial = append(fl.partial, b...)
			return
		}
		if len(fl.partial) > 0 {
			if len(fl.partial)+i+1 <= fl.maxLine {
				fl.partial = append(fl.partial, b[:i+1]...)
				fn(fl.partial)
			}
			fl.partial = fl.partial[:0]
			b = b[i+1:]
			continue
		}
		fn(b[:last+1])
		b = b[last+1:]
	}
}

func (fl *follower) close() {
	if fl.f != nil {
		fl.f.Close()
		fl.f = nil
	}
}

func fileID(st fs.FileInfo) (dev, ino uint64) {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(s.Dev), s.Ino
	}
	return 0, 0
}

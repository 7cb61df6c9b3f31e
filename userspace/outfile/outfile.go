// Package outfile is the one file writer under the output encoders (EVE,
// Snort text, Zeek): a file opened for appending (mode 0640), written a
// whole record at a time through a buffer, flushed once per drain round,
// reopened on SIGHUP (after logrotate moved it away) and closed once.
// What a full disk or a crash in the middle of a line does to an output
// file is decided here, once for every format.
package outfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrClosed is returned by every call on a closed Writer.
var ErrClosed = errors.New("output file closed")

// bufSize is the size of the output buffer.
const bufSize = 64 << 10

// Writer buffers whole records (one or more complete lines each) for a
// file or any io.Writer. It is meant for one goroutine.
type Writer struct {
	path   string // "" over a caller's io.Writer: nothing to reopen
	bw     *bufio.Writer
	closer io.Closer // the underlying writer, when it is one
	closed bool
}

// New returns a Writer over w. Close closes w when w is an io.Closer.
func New(w io.Writer) *Writer {
	c, _ := w.(io.Closer)
	return &Writer{bw: bufio.NewWriterSize(w, bufSize), closer: c}
}

// Open opens the file at path for appending, creating it with mode 0640.
func Open(path string) (*Writer, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	w := New(f)
	w.path = path
	return w, nil
}

func openFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
}

// Write buffers one record: whole lines, ending in a newline.
func (w *Writer) Write(record []byte) error {
	if w.closed {
		return ErrClosed
	}
	_, err := w.bw.Write(record)
	return err
}

// Closed reports whether Close was called (or a Reopen failed).
func (w *Writer) Closed() bool { return w.closed }

// Flush writes out the buffered records.
func (w *Writer) Flush() error {
	if w.closed {
		return ErrClosed
	}
	return w.bw.Flush()
}

// Reopen flushes and closes the file and opens its path again: after
// logrotate moved the file away, writing goes on in a new one. When the
// path cannot be opened the Writer stays closed.
func (w *Writer) Reopen() error {
	if w.path == "" {
		return errors.New("reopening an output that is not a file")
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", w.path, err)
	}
	f, err := openFile(w.path)
	if err != nil {
		return fmt.Errorf("reopening %s: %w", w.path, err)
	}
	w.bw.Reset(f)
	w.closer = f
	w.closed = false
	return nil
}

// Close flushes the Writer and closes the underlying writer if it is an
// io.Closer. Closing twice returns ErrClosed.
func (w *Writer) Close() error {
	if w.closed {
		return ErrClosed
	}
	w.closed = true
	err := w.bw.Flush()
	if w.closer != nil {
		if cerr := w.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

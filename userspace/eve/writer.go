// Package eve writes alerts and flow records as Suricata's EVE JSON: one
// JSON object a line, with Suricata's field names, shapes and order, so
// that tools reading Suricata's eve.json read ours. Fields Suricata does
// not have are named xdpsensor_* (and tcp.flag_counts).
package eve

import (
	"bufio"
	"errors"
	"io"
	"os"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// Options configure a Writer.
type Options struct {
	// SensorName is written as `host` (Suricata's sensor-name); omitted
	// when empty.
	SensorName string
	// CompressIPv6 writes IPv6 addresses in RFC 5952 form (2001:db8::1),
	// as Suricata's eve-log ipv6-compress option does. By default they are
	// written as Suricata writes them by default: all eight groups, four
	// digits each (2001:0db8:0000:0000:0000:0000:0000:0001).
	CompressIPv6 bool
	// ReferenceSystems maps reference system names (lower case) to URL
	// prefixes, as Suricata's reference.config does; nil means
	// DefaultReferenceSystems.
	ReferenceSystems map[string]string
}

// bufSize is the size of the Writer's output buffer.
const bufSize = 64 << 10

var errClosed = errors.New("eve: writer closed")

// Writer writes events to an io.Writer as EVE JSON lines, buffered. It
// implements event.Sink and is meant for one goroutine.
type Writer struct {
	bw     *bufio.Writer
	closer io.Closer // the underlying writer, when it is one
	opts   Options
	line   []byte // reused encoding buffer
	closed bool
}

var _ event.Sink = (*Writer)(nil)

// NewWriter returns a Writer writing to w. Close closes w when w is an
// io.Closer.
func NewWriter(w io.Writer, opts Options) *Writer {
	c, _ := w.(io.Closer)
	return &Writer{
		bw:     bufio.NewWriterSize(w, bufSize),
		closer: c,
		opts:   opts,
		line:   make([]byte, 0, 2048),
	}
}

// Open opens (creating it with mode 0640 if needed) the file at path for
// appending, as for DIR/eve.json, and returns a Writer to it.
func Open(path string, opts Options) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	return NewWriter(f, opts), nil
}

// WriteAlert writes a's alert record.
func (w *Writer) WriteAlert(a *event.Alert) error {
	if w.closed {
		return errClosed
	}
	w.line = append(appendAlert(w.line[:0], a, &w.opts), '\n')
	_, err := w.bw.Write(w.line)
	return err
}

// WriteFlow writes f's flow record.
func (w *Writer) WriteFlow(f *event.Flow) error {
	if w.closed {
		return errClosed
	}
	w.line = append(appendFlow(w.line[:0], f, &w.opts), '\n')
	_, err := w.bw.Write(w.line)
	return err
}

// Flush writes out the buffered records.
func (w *Writer) Flush() error {
	if w.closed {
		return errClosed
	}
	return w.bw.Flush()
}

// Close flushes the Writer and closes the underlying writer if it is an
// io.Closer. Closing twice returns an error.
func (w *Writer) Close() error {
	if w.closed {
		return errClosed
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

// Package eve writes alerts and flow records as Suricata's EVE JSON: one
// JSON object a line, with Suricata's field names, shapes and order, so
// that tools reading Suricata's eve.json read ours. Fields Suricata does
// not have are named xdpsensor_*. Reader is the one
// reader of what was written (carve, sessions, a restart's skip list).
package eve

import (
	"io"

	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/outfile"
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
	// Workers encodes records in this many goroutines, a batch each,
	// written in order (0 or 1: in the caller's goroutine). Events handed
	// to a Writer must then stay unchanged until its next Flush.
	Workers int
}

// Writer writes events as EVE JSON lines through an outfile.Writer. It
// implements event.Sink and is meant for one goroutine.
type Writer struct {
	out  *outfile.Writer
	opts Options
	line []byte // reused encoding buffer
	memo memo
	enc  *parallel // Options.Workers > 1
}

var _ event.Sink = (*Writer)(nil)

// NewWriter returns a Writer writing to w. Close closes w when w is an
// io.Closer.
func NewWriter(w io.Writer, opts Options) *Writer {
	return newWriter(outfile.New(w), opts)
}

func newWriter(out *outfile.Writer, opts Options) *Writer {
	w := &Writer{out: out, opts: opts, line: make([]byte, 0, 2048)}
	if opts.Workers > 1 {
		w.enc = newParallel(out, &w.opts, opts.Workers)
	}
	return w
}

// Open opens (creating it with mode 0640 if needed) the file at path for
// appending, as for DIR/eve.json, and returns a Writer to it.
func Open(path string, opts Options) (*Writer, error) {
	out, err := outfile.Open(path)
	if err != nil {
		return nil, err
	}
	return newWriter(out, opts), nil
}

// WriteAlert writes a's alert record.
func (w *Writer) WriteAlert(a *event.Alert) error {
	if w.enc != nil {
		return w.enc.queue(queued{alert: a})
	}
	w.line = append(appendAlert(w.line[:0], a, &w.opts, &w.memo), '\n')
	return w.out.Write(w.line)
}

// WriteFlow writes f's flow record.
func (w *Writer) WriteFlow(f *event.Flow) error {
	if w.enc != nil {
		return w.enc.queue(queued{flow: f})
	}
	w.line = append(appendFlow(w.line[:0], f, &w.opts, &w.memo), '\n')
	return w.out.Write(w.line)
}

// Flush writes out the buffered records.
func (w *Writer) Flush() error {
	w.sync()
	return w.out.Flush()
}

// sync waits for the records being encoded and writes them.
func (w *Writer) sync() {
	if w.enc != nil {
		w.enc.sync()
	}
}

// Reopen starts writing a new file at the same path (SIGHUP).
func (w *Writer) Reopen() error {
	w.sync()
	return w.out.Reopen()
}

// OutputStats reports the records the file could not take (outfile.Reporter).
func (w *Writer) OutputStats() outfile.Stats { return w.out.Stats() }

// SetMaxPending bounds the bytes kept while the file cannot be written.
func (w *Writer) SetMaxPending(n int) { w.out.SetMaxPending(n) }

// Close flushes the Writer and closes the underlying writer if it is an
// io.Closer. Closing twice returns an error.
func (w *Writer) Close() error {
	if w.enc != nil {
		w.enc.stop()
		w.enc = nil
	}
	return w.out.Close()
}

package zeek

import (
	"errors"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/outfile"
)

// logFile is one Zeek log file as Zeek's ASCII writer keeps it: a header
// block (#fields, #types, #open) before the first line and #close after
// the last, or neither in JSON. Every log xdpsensor writes (conn.log,
// tunnel.log) is one.
type logFile struct {
	path   string // Zeek's Log::Stream path: "conn", "tunnel"
	fields []string
	types  []string
	opts   Options

	// create makes the file on first need (nil: out is given). A lazy
	// log (tunnel.log) has no file until its first line, as Zeek creates
	// a log on its first write; a log with out given from the start
	// (conn.log) gets its header block even when no line comes.
	create     func() (*outfile.Writer, error)
	out        *outfile.Writer
	maxPending int
	open       time.Time
	started    bool
	gen        int // the outfile generation our header block was written to
	closed     bool
}

func (l *logFile) now() time.Time {
	t := time.Now()
	if l.opts.Now != nil {
		t = l.opts.Now()
	}
	loc := l.opts.Location
	if loc == nil {
		loc = time.Local
	}
	return t.In(loc)
}

// start makes the file if need be and writes the header block once per
// block.
func (l *logFile) start() error {
	if l.closed {
		return outfile.ErrClosed
	}
	if l.out == nil {
		out, err := l.create()
		if err != nil {
			return err
		}
		if l.maxPending > 0 {
			out.SetMaxPending(l.maxPending)
		}
		l.out, l.gen, l.open = out, out.Generation(), l.now()
	}
	if l.gen != l.out.Generation() {
		// The file was switched (a reopen retried after a failed
		// SIGHUP): the new file needs its own header block.
		l.gen, l.open, l.started = l.out.Generation(), l.now(), false
	}
	if l.started {
		return nil
	}
	l.started = true
	if l.opts.JSON {
		return nil // JSON logs have no header
	}
	return l.out.Write(LogHeader(l.path, l.fields, l.types, l.open))
}

// write writes lines (each ending in a newline).
func (l *logFile) write(lines []byte) error {
	if err := l.start(); err != nil {
		return err
	}
	return l.out.Write(lines)
}

// exists reports whether the file is there to be written (a lazy log
// before its first line is not).
func (l *logFile) exists() bool { return l.out != nil }

// Flush writes out the buffered lines, and the header block of a log that
// exists but had none yet.
func (l *logFile) Flush() error {
	if !l.exists() {
		return nil
	}
	if err := l.start(); err != nil {
		return err
	}
	return l.out.Flush()
}

// finish ends the block: the header if no line came, then #close.
func (l *logFile) finish() error {
	if err := l.start(); err != nil {
		return err
	}
	if l.opts.JSON {
		return nil
	}
	return l.out.Write([]byte("#close\t" + stamp(l.now()) + "\n"))
}

// Reopen ends the block (#close) and starts a new file at the same path
// with its own header block (SIGHUP).
func (l *logFile) Reopen() error {
	if !l.exists() {
		return nil
	}
	if err := l.finish(); err != nil {
		return err
	}
	err := l.out.Reopen()
	// Reopened or not, the next line starts a new block: in the new file,
	// or after #close in the old one, which is still written to.
	l.gen, l.open, l.started = l.out.Generation(), l.now(), false
	return err
}

// OutputStats reports the lines the file could not take (outfile.Reporter).
func (l *logFile) OutputStats() outfile.Stats {
	if !l.exists() {
		return outfile.Stats{}
	}
	return l.out.Stats()
}

// SetMaxPending bounds the bytes kept while the file cannot be written.
func (l *logFile) SetMaxPending(n int) {
	l.maxPending = n
	if l.exists() {
		l.out.SetMaxPending(n)
	}
}

// Close writes #close and closes the file, if there is one. Closing
// twice returns an error.
func (l *logFile) Close() error {
	if l.closed {
		return outfile.ErrClosed
	}
	if !l.exists() {
		l.closed = true
		return nil
	}
	err := l.finish()
	l.closed = true
	return errors.Join(err, l.out.Close())
}

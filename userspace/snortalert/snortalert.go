// Package snortalert writes alerts as Snort 2.9's alert_fast and
// alert_full output plugins do, byte for byte, so that tools and analysts
// reading Snort's alert files (and the "alert" file of `snort -A full`)
// read ours.
//
// The formats follow Snort 2.9.19's source (spo_alert_fast.c,
// spo_alert_full.c, log_text.c, util.c:ts_print, decode.c), including its
// double spaces, trailing spaces and quirks; the package's tests name the
// Snort source line each piece of the layout comes from. Two things differ
// by default, both settable:
//
//   - Time stamps are written in UTC, as with Snort's -U: sensors run in
//     UTC. Options.Location selects another zone (time.Local for Snort's
//     default local time).
//   - The reference systems are those of Snort's default
//     etc/reference.config (DefaultReferenceSystems).
//
// The header fields the kernel decoded (event.Packet) give the IP, TCP and
// port values. What Snort prints beyond them — IP and TCP options, ICMP
// identifiers and quoted datagrams, IPv6 extension-header quirks, the
// Ethernet header of -e — is decoded from the captured frame
// (event.Packet.Data) the way Snort's decoder reads it; without Data those
// parts are left out.
//
// Where Snort's output depends on its build or run-time configuration,
// the package assumes a Linux/x86 build with its defaults: protocol names
// from Debian's /etc/protocols; TCP Fast Open printed as "TFO" (2.9.19;
// 2.9.6 printed option 34 as "Opt 34 (n): …"); the ICMP timestamp-reply
// times in x86 byte order (Snort prints them without ntohl); a
// zero-length IPv4 fragment still treated as a fragment (as with decoder
// rule 116:428 off); no alert_fast "packet" argument and no drop
// dispositions. A reference system is printed as the rule spells it, where
// Snort prints the spelling it met first.
package snortalert

import (
	"io"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/classification"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/outfile"
)

// Format selects the output plugin a Writer imitates.
type Format int

const (
	// Fast is alert_fast: one line an alert.
	Fast Format = iota
	// Full is alert_full: a multi-line record an alert with the packet's
	// headers, followed by a blank line.
	Full
)

func (f Format) String() string {
	switch f {
	case Fast:
		return "fast"
	case Full:
		return "full"
	}
	return "Format(" + itoa(int(f)) + ")"
}

// Options configure the output. The zero value writes what Snort 2.9 run
// with -U and its default configuration writes.
type Options struct {
	// Location is the time zone of the time stamps; nil means UTC (Snort's
	// -U). time.Local gives Snort's default, local time (Snort applies the
	// UTC offset it computed at start-up; Location applies the offset in
	// force at each packet's time, which differs only across a DST change).
	Location *time.Location
	// Year adds the year to time stamps (MM/DD/YY-…), as Snort's -y.
	Year bool
	// Classes resolves a rule's classtype when the Rule carries no
	// Category (and its priority when Rule.Priority is 0); nil means
	// classification.Standard().
	Classes *classification.Table
	// ReferenceSystems maps reference system names (lower case) to URL
	// prefixes, as reference.config does; nil means
	// DefaultReferenceSystems. A system that is missing or has an empty
	// prefix is printed as Snort prints a system it has no URL for:
	// "[Xref => system id]".
	ReferenceSystems map[string]string
	// DataLink adds the Ethernet header line to alert_full records, as
	// Snort's -e does (the IP header line then follows the addresses on
	// the same line).
	DataLink bool
	// Interface writes " <interface> " after [gid:sid:rev], as Snort's -I
	// does; an alert without an interface name gets "<NULL>", as Snort
	// prints a missing interface.
	Interface bool
}

// errClosed is returned by every call on a closed Writer.
var errClosed = outfile.ErrClosed

// Writer writes alerts in one of Snort's text formats through an
// outfile.Writer. It implements event.Sink (flow records are not written:
// Snort's alert files have none) and is meant for one goroutine.
type Writer struct {
	out    *outfile.Writer
	format Format
	opts   Options
	rec    []byte // reused encoding buffer
}

var _ event.Sink = (*Writer)(nil)

// NewWriter returns a Writer writing format f to w. Close closes w when w
// is an io.Closer.
func NewWriter(w io.Writer, f Format, opts Options) *Writer {
	return newWriter(outfile.New(w), f, opts)
}

func newWriter(out *outfile.Writer, f Format, opts Options) *Writer {
	return &Writer{out: out, format: f, opts: opts, rec: make([]byte, 0, 2048)}
}

// Open opens (creating it with mode 0640 if needed) the file at path for
// appending, as Snort opens its alert file, and returns a Writer to it.
func Open(path string, f Format, opts Options) (*Writer, error) {
	out, err := outfile.Open(path)
	if err != nil {
		return nil, err
	}
	return newWriter(out, f, opts), nil
}

// WriteAlert writes a's record.
func (w *Writer) WriteAlert(a *event.Alert) error {
	if w.format == Full {
		w.rec = AppendFull(w.rec[:0], a, w.opts)
	} else {
		w.rec = AppendFast(w.rec[:0], a, w.opts)
	}
	return w.out.Write(w.rec)
}

// WriteFlow does nothing: Snort's alert files hold no flow records.
func (w *Writer) WriteFlow(*event.Flow) error {
	if w.out.Closed() {
		return errClosed
	}
	return nil
}

// Flush writes out the buffered records.
func (w *Writer) Flush() error { return w.out.Flush() }

// Reopen starts writing a new file at the same path (SIGHUP).
func (w *Writer) Reopen() error { return w.out.Reopen() }

// OutputStats reports the records the file could not take (outfile.Reporter).
func (w *Writer) OutputStats() outfile.Stats { return w.out.Stats() }

// SetMaxPending bounds the bytes kept while the file cannot be written.
func (w *Writer) SetMaxPending(n int) { w.out.SetMaxPending(n) }

// Close flushes the Writer and closes the underlying writer if it is an
// io.Closer. Closing twice returns an error.
func (w *Writer) Close() error { return w.out.Close() }

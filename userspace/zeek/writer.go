// Package zeek writes flow records as Zeek's conn.log, in the TSV form
// of Zeek's ASCII log writer (header lines, tab-separated columns, "-"
// for unset fields, "(empty)" for empty ones, #close at the end), so that
// zeek-cut, RITA and other readers of Zeek logs read it.
//
// The columns are those of Zeek 7.1 and later (ip_proto is the last of
// Zeek's own), then community_id, named as Zeek's community-id logging
// names it, then our xdpsensor_label and xdpsensor_label_note.
//
// Zeek derives a connection's orientation, history and conn_state from
// its TCP endpoint state machine; Describe replays the kernel's history
// letters through that state machine (see Conn). What the kernel's flow
// record cannot tell, and how it is mapped:
//
//   - Zeek's history letters S, H, F and R repeat when a later packet of
//     that kind has a new sequence number; the kernel records each letter
//     once per side. c (bad checksum), g (content gap), t (retransmitted
//     payload), i (FIN and RST in one packet: the kernel records F then
//     R) and x never appear; W (zero window) is recorded for any packet
//     without RST, where Zeek skips windows after the peer's FIN or the
//     sender's RST.
//   - The kernel writes D for any packet with payload, Zeek only for
//     payload packets without SYN, FIN or RST: a flow whose only data
//     rode on its FIN shows a D that Zeek would not write.
//   - Zeek's conn_state reads the endpoint states at the end of the
//     connection; the replay visits each letter's first packet only,
//     which is what changes those states, except in exchanges where a
//     second SYN or FIN is what matters (a SYN after a partial start, a
//     FIN and RST reordered), which the replay cannot see.
//   - orig_bytes and resp_bytes are payload bytes: Zeek derives them
//     from sequence numbers, so retransmitted payload, counted by the
//     kernel, is not counted by Zeek. missed_bytes is always 0.
//   - duration is the last packet's time minus the first's; Zeek stops
//     the clock once both sides have closed, so trailing ACKs after a
//     FIN exchange lengthen ours.
//   - A line is a kernel flow, whose boundaries are the sensor's (FIN/RST
//     linger, --flow-timeout), not Zeek's. In particular Zeek gives up an
//     unanswered attempt tcp_attempt_delay (5 s) after its first SYN, so
//     a SYN retransmitted later starts a second S0 connection in Zeek: the
//     Bot C&C seed's SYNs at 0, 2.9 and 8.9 s are two Zeek lines (2
//     packets, then 1) but one line here (3 packets, 8.9 s).
//   - service is unset: no protocol analysis happens.
//   - Zeek guesses which end is the server of a connection whose first
//     packet is not a plain SYN from its likely_server_ports (see
//     LikelyServerPorts); so does Describe.
package zeek

import (
	"errors"
	"io"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/outfile"
)

// Fields are conn.log's column names, Types their Zeek types.
var (
	Fields = []string{
		"ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service",
		"duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp",
		"missed_bytes", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes",
		"tunnel_parents", "ip_proto", "community_id", "xdpsensor_label", "xdpsensor_label_note",
	}
	Types = []string{
		"time", "string", "addr", "port", "addr", "port", "enum", "string",
		"interval", "count", "count", "string", "bool", "bool",
		"count", "string", "count", "count", "count", "count",
		"set[string]", "count", "string", "string", "string",
	}
)

// Options configure a Writer.
type Options struct {
	// LocalNets are Zeek's Site::local_nets, for local_orig and
	// local_resp (the sensor's --home-net). When empty, both columns are
	// unset, as Zeek leaves them when Site::local_nets is empty; a
	// default Zeek also counts PrivateAddressSpace as local.
	LocalNets []netip.Prefix
	// LikelyServerPort reports whether a port of an IP protocol is in
	// Zeek's likely_server_ports; nil means DefaultLikelyServerPort.
	LikelyServerPort func(proto uint8, port uint16) bool
	// Now gives the #open and #close times; nil means time.Now.
	Now func() time.Time
	// Location is the zone #open and #close are written in; nil means
	// time.Local, as Zeek writes them in local time.
	Location *time.Location
}

// Writer writes flows as conn.log lines through an outfile.Writer. It
// implements event.Sink and is meant for one goroutine. The header block
// is written with the first line, or by Flush or Close if no flow came, so
// even an empty log is a valid one.
type Writer struct {
	out     *outfile.Writer
	opts    Options
	open    time.Time
	started bool
	gen     int // the outfile generation our header block was written to
	line    []byte
}

var _ event.Sink = (*Writer)(nil)

// NewWriter returns a Writer writing to w, whose #open time is now.
// Close closes w when w is an io.Closer.
func NewWriter(w io.Writer, opts Options) *Writer {
	return newWriter(outfile.New(w), opts)
}

func newWriter(out *outfile.Writer, opts Options) *Writer {
	wr := &Writer{out: out, opts: opts, line: make([]byte, 0, 512)}
	wr.open = wr.now()
	return wr
}

// Open opens the file at path for appending, creating it with mode 0640,
// as for DIR/conn.log, and returns a Writer to it. Each Writer writes its
// own header block (with its own #open) and #close, so a file that
// several runs appended to holds one block per run. Zeek instead starts
// a fresh file and rotates the old one away; zeek-cut and RITA read
// files of several blocks, as they read Zeek's own concatenated logs.
func Open(path string, opts Options) (*Writer, error) {
	out, err := outfile.Open(path)
	if err != nil {
		return nil, err
	}
	return newWriter(out, opts), nil
}

func (w *Writer) now() time.Time {
	t := time.Now()
	if w.opts.Now != nil {
		t = w.opts.Now()
	}
	loc := w.opts.Location
	if loc == nil {
		loc = time.Local
	}
	return t.In(loc)
}

// stamp is Zeek's Ascii::Timestamp format.
func stamp(t time.Time) string { return t.Format("2006-01-02-15-04-05") }

// Header returns the header block of a log opened at open.
func Header(open time.Time) []byte {
	b := []byte("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t")
	b = append(b, stamp(open)...)
	b = append(b, "\n#fields"...)
	for _, f := range Fields {
		b = append(append(b, '\t'), f...)
	}
	b = append(b, "\n#types"...)
	for _, t := range Types {
		b = append(append(b, '\t'), t...)
	}
	return append(b, '\n')
}

func (w *Writer) start() error {
	if w.gen != w.out.Generation() {
		// The file was switched (a reopen retried after a failed
		// SIGHUP): the new file needs its own header block.
		w.gen, w.open, w.started = w.out.Generation(), w.now(), false
	}
	if w.started {
		return nil
	}
	w.started = true
	return w.out.Write(Header(w.open))
}

// WriteAlert does nothing: conn.log holds connections only.
func (w *Writer) WriteAlert(*event.Alert) error {
	if w.out.Closed() {
		return outfile.ErrClosed
	}
	return nil
}

// WriteFlow writes f's conn.log line.
func (w *Writer) WriteFlow(f *event.Flow) error {
	if err := w.start(); err != nil {
		return err
	}
	w.line = append(AppendConn(w.line[:0], f, w.opts), '\n')
	return w.out.Write(w.line)
}

// Flush writes out the buffered lines (and the header, if not yet
// written).
func (w *Writer) Flush() error {
	if err := w.start(); err != nil {
		return err
	}
	return w.out.Flush()
}

// Reopen ends the log block (#close) and starts a new file at the same
// path with its own header (SIGHUP).
func (w *Writer) Reopen() error {
	if err := w.finish(); err != nil {
		return err
	}
	err := w.out.Reopen()
	// Reopened or not, the next line starts a new block: in the new file,
	// or after #close in the old one, which is still written to.
	w.gen, w.open, w.started = w.out.Generation(), w.now(), false
	return err
}

// OutputStats reports the records the file could not take (outfile.Reporter).
func (w *Writer) OutputStats() outfile.Stats { return w.out.Stats() }

// SetMaxPending bounds the bytes kept while the file cannot be written.
func (w *Writer) SetMaxPending(n int) { w.out.SetMaxPending(n) }

// Close writes #close, flushes, and closes the underlying writer if it is
// an io.Closer. Closing twice returns an error.
func (w *Writer) Close() error {
	err := w.finish()
	if errors.Is(err, outfile.ErrClosed) {
		return err
	}
	if cerr := w.out.Close(); err == nil {
		err = cerr
	}
	return err
}

// finish writes the header if no line did, then #close.
func (w *Writer) finish() error {
	if err := w.start(); err != nil {
		return err
	}
	return w.out.Write([]byte("#close\t" + stamp(w.now()) + "\n"))
}

// AppendConn appends f's conn.log line to b, without the newline.
func AppendConn(b []byte, f *event.Flow, opts Options) []byte {
	c := Describe(f, opts)
	b = appendTime(b, c.TS)
	b = appendString(append(b, '\t'), c.UID)
	b = append(append(b, '\t'), c.Orig.IP.String()...)
	b = strconv.AppendUint(append(b, '\t'), uint64(c.Orig.Port), 10)
	b = append(append(b, '\t'), c.Resp.IP.String()...)
	b = strconv.AppendUint(append(b, '\t'), uint64(c.Resp.Port), 10)
	b = append(append(b, '\t'), c.Proto...)
	b = append(b, "\t-"...) // service
	if c.Duration > 0 {
		b = appendInterval(append(b, '\t'), c.Duration)
		b = strconv.AppendUint(append(b, '\t'), c.OrigBytes, 10)
		b = strconv.AppendUint(append(b, '\t'), c.RespBytes, 10)
	} else {
		b = append(b, "\t-\t-\t-"...)
	}
	b = appendString(append(b, '\t'), c.ConnState)
	if len(opts.LocalNets) > 0 {
		b = appendBool(append(b, '\t'), local(opts.LocalNets, c.Orig.IP))
		b = appendBool(append(b, '\t'), local(opts.LocalNets, c.Resp.IP))
	} else {
		b = append(b, "\t-\t-"...)
	}
	b = append(b, "\t0"...) // missed_bytes
	b = appendOptString(append(b, '\t'), c.History)
	b = strconv.AppendUint(append(b, '\t'), c.OrigPkts, 10)
	b = strconv.AppendUint(append(b, '\t'), c.OrigIPBytes, 10)
	b = strconv.AppendUint(append(b, '\t'), c.RespPkts, 10)
	b = strconv.AppendUint(append(b, '\t'), c.RespIPBytes, 10)
	b = appendTunnelParents(append(b, '\t'), f)
	b = strconv.AppendUint(append(b, '\t'), uint64(c.IPProto), 10)
	b = appendOptString(append(b, '\t'), c.CommunityID)
	b = appendOptString(append(b, '\t'), c.Label)
	b = appendOptString(append(b, '\t'), c.LabelNote)
	return b
}

func local(nets []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 'T')
	}
	return append(b, 'F')
}

// appendTime writes a time as Zeek does: seconds since the epoch with six
// decimals.
func appendTime(b []byte, t time.Time) []byte {
	us := micros(t)
	sec, frac := us/1e6, us%1e6
	if frac < 0 {
		sec, frac = sec-1, frac+1e6
	}
	if sec < 0 {
		b = append(b, '-')
		sec = -sec
		if frac != 0 { // -1.25 s is -2 s + 0.75 s
			sec--
			frac = 1e6 - frac
		}
	}
	return appendFrac(strconv.AppendInt(b, sec, 10), frac)
}

func appendInterval(b []byte, d time.Duration) []byte {
	us := d.Microseconds()
	return appendFrac(strconv.AppendInt(b, us/1e6, 10), us%1e6)
}

func appendFrac(b []byte, frac int64) []byte {
	b = append(b, '.')
	s := strconv.AppendInt(nil, frac+1e6, 10) // 1xxxxxx: zero-padded digits
	return append(b, s[1:]...)
}

// appendOptString writes s, or "-" (unset) when it is empty: the
// optional string columns are unset rather than empty when there is
// nothing to say.
func appendOptString(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return appendString(b, s)
}

// appendString writes a string or enum value as Zeek's ASCII formatter
// does: "(empty)" for the empty string; a value that is exactly "-" or
// "(empty)" gets its first character escaped; bytes that are not
// printable ASCII, and are not part of valid UTF-8 (LogAscii::enable_utf_8
// is on by default), are written \xNN, and so is the separator (tab).
func appendString(b []byte, s string) []byte {
	switch s {
	case "":
		return append(b, "(empty)"...)
	case "-", "(empty)":
		return append(appendHexByte(b, s[0]), s[1:]...)
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			b = append(b, c)
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			if r, n := utf8.DecodeRuneInString(s[i:]); r != utf8.RuneError || n > 1 {
				b = append(b, s[i:i+n]...)
				i += n
				continue
			}
		}
		b = appendHexByte(b, c)
		i++
	}
	return b
}

func appendHexByte(b []byte, c byte) []byte {
	const hex = "0123456789abcdef"
	return append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
}

// Package zeek writes flow records as Zeek's conn.log, in the TSV form
// of Zeek's ASCII log writer (header lines, tab-separated columns, "-"
// for unset fields, "(empty)" for empty ones, #close at the end), so
// that zeek-cut, RITA and other readers of Zeek logs read it, or in the
// JSON form Zeek writes with LogAscii::use_json=T (Options.JSON; see
// Record).
//
// The columns are those of Zeek 7.1 and later (ip_proto is the last of
// Zeek's own), then community_id, named as Zeek's community-id logging
// names it, then our xdpsensor_label and xdpsensor_label_note.
//
// Zeek derives a connection's orientation, history and conn_state from
// its TCP endpoint state machine; Describe replays the kernel's history
// letters through that state machine (see Conn), with Zeek's flips: the
// likely-server-port rules of a connection whose first packet is not a
// plain SYN (TCP) or whose source port is a likely server port (UDP),
// never toward a broadcast address; a SYN-ACK-first connection that then
// carries an ACK or data; a SYN/SYN-ACK reversal. What the kernel's flow
// record cannot tell, and how it is mapped:
//
//   - The kernel records each history letter once per side, and S, H, F
//     and R again at a new sequence number, from the packets' flags and
//     sequence numbers as Zeek's update_history does; T (retransmitted
//     payload), G (content gap) and W (zero window) are counted and
//     written at 1, 10, 100... per side, as Zeek scales them. c (bad
//     checksum) and x never appear: checksums are not checked.
//   - The kernel keeps 40 letters a flow: a longer history is written as
//     the letters kept, unmarked (a character outside Zeek's alphabet
//     would break readers that match on history, and Zeek has no column
//     for it); the letters past them are event.Flow.HistoryLost, written
//     in EVE (flow.xdpsensor_history_lost) and summed in the daemon's
//     history_letters_lost.
//   - The flips Zeek's protocol analyzers make from payload (a DNS
//     response or an NTP server-mode message seen first on ports that
//     do not say so) cannot be made: no payload is analysed.
//   - Zeek's conn_state reads the endpoint states at the end of the
//     connection; the replay visits each letter's first packet only,
//     which is what changes those states, except in exchanges where a
//     second SYN or FIN is what matters (a SYN after a partial start, a
//     FIN and RST reordered), which the replay cannot see.
//   - orig_bytes and resp_bytes are each side's sequence space (payload
//     sent, retransmissions once, gaps included), missed_bytes the
//     content gaps of both sides, as Zeek counts them.
//   - duration ends at the last packet before both sides closed (the
//     final ACK after the FINs is not in it), where Zeek ends it.
//   - A line is a kernel flow, whose boundaries are the sensor's (FIN/RST
//     linger, --flow-timeout), not Zeek's. In particular Zeek gives up an
//     unanswered attempt tcp_attempt_delay (5 s) after its first SYN, so
//     a SYN retransmitted later starts a second S0 connection in Zeek: the
//     Bot C&C seed's SYNs at 0, 2.9 and 8.9 s are two Zeek lines (2
//     packets, then 1) but one line here (3 packets, 8.9 s).
//   - service is unset: no protocol analysis happens.
package zeek

import (
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
	// JSON writes each line as a JSON object, as Zeek does with
	// LogAscii::use_json=T: no header block and no #close.
	JSON bool
}

// Writer writes flows as conn.log lines through an outfile.Writer. It
// implements event.Sink and is meant for one goroutine. The header block
// is written with the first line, or by Flush or Close if no flow came, so
// even an empty log is a valid one.
type Writer struct {
	logFile
	line []byte
}

var _ event.Sink = (*Writer)(nil)

// NewWriter returns a Writer writing to w, whose #open time is now.
// Close closes w when w is an io.Closer.
func NewWriter(w io.Writer, opts Options) *Writer {
	return newWriter(outfile.New(w), opts)
}

func newWriter(out *outfile.Writer, opts Options) *Writer {
	wr := &Writer{logFile: logFile{path: "conn", fields: Fields, types: Types, opts: opts, out: out, gen: out.Generation()},
		line: make([]byte, 0, 512)}
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

// stamp is Zeek's Ascii::Timestamp format.
func stamp(t time.Time) string { return t.Format("2006-01-02-15-04-05") }

// Header returns the header block of a conn.log opened at open.
func Header(open time.Time) []byte { return LogHeader("conn", Fields, Types, open) }

// LogHeader returns the TSV header block of the log path (Zeek's
// Log::Stream path: "conn", "tunnel") with these columns, opened at open.
func LogHeader(path string, fields, types []string, open time.Time) []byte {
	b := []byte("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t")
	b = append(b, path...)
	b = append(b, "\n#open\t"...)
	b = append(b, stamp(open)...)
	b = append(b, "\n#fields"...)
	for _, f := range fields {
		b = append(append(b, '\t'), f...)
	}
	b = append(b, "\n#types"...)
	for _, t := range types {
		b = append(append(b, '\t'), t...)
	}
	return append(b, '\n')
}

// WriteAlert does nothing: conn.log holds connections only.
func (w *Writer) WriteAlert(*event.Alert) error {
	if w.closed {
		return outfile.ErrClosed
	}
	return nil
}

// WriteFlow writes f's conn.log line.
func (w *Writer) WriteFlow(f *event.Flow) error {
	w.line = append(AppendConn(w.line[:0], f, w.opts), '\n')
	return w.write(w.line)
}

// AppendConn appends f's conn.log line to b, without the newline: TSV,
// or JSON with opts.JSON.
func AppendConn(b []byte, f *event.Flow, opts Options) []byte {
	c := Describe(f, opts)
	r := NewRecord(b, opts.JSON)
	r.Time("ts", c.TS)
	r.String("uid", c.UID)
	r.Addr("id.orig_h", c.Orig.IP)
	r.Port("id.orig_p", c.Orig.Port)
	r.Addr("id.resp_h", c.Resp.IP)
	r.Port("id.resp_p", c.Resp.Port)
	r.String("proto", c.Proto)
	r.Unset("service") // no protocol analysis
	if c.Duration > 0 {
		r.Interval("duration", c.TS, c.DurationEnd)
		r.Count("orig_bytes", c.OrigBytes)
		r.Count("resp_bytes", c.RespBytes)
	} else {
		r.Unset("duration")
		r.Unset("orig_bytes")
		r.Unset("resp_bytes")
	}
	r.String("conn_state", c.ConnState)
	if len(opts.LocalNets) > 0 {
		r.Bool("local_orig", local(opts.LocalNets, c.Orig.IP))
		r.Bool("local_resp", local(opts.LocalNets, c.Resp.IP))
	} else {
		r.Unset("local_orig")
		r.Unset("local_resp")
	}
	r.Count("missed_bytes", c.MissedBytes)
	r.OptString("history", c.History)
	r.Count("orig_pkts", c.OrigPkts)
	r.Count("orig_ip_bytes", c.OrigIPBytes)
	r.Count("resp_pkts", c.RespPkts)
	r.Count("resp_ip_bytes", c.RespIPBytes)
	if f.Tunnel != nil {
		r.Set("tunnel_parents", []string{TunnelUID(f.Tunnel)})
	} else {
		r.Unset("tunnel_parents")
	}
	r.Count("ip_proto", uint64(c.IPProto))
	r.OptString("community_id", c.CommunityID)
	r.OptString("xdpsensor_label", c.Label)
	r.OptString("xdpsensor_label_note", c.LabelNote)
	return r.Bytes()
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

// appendFrac writes frac (0 to 999999 microseconds) as a dot and six
// digits.
func appendFrac(b []byte, frac int64) []byte {
	var d [7]byte
	d[0] = '.'
	for i := 6; i > 0; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(b, d[:]...)
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
	plain := 0 // most values are printable ASCII: copied whole
	for plain < len(s) && s[plain] >= 0x20 && s[plain] < 0x7f {
		plain++
	}
	b = append(b, s[:plain]...)
	for i := plain; i < len(s); {
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

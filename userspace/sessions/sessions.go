// Package sessions reads the flow records a sensor wrote to eve.json
// back and shows them as Sguil showed SANCP session data: the text of
// Sguil's "Copy Session Info" export (client/lib/report.tcl,
// ExportHumanSSNText), followed by the session's TCP flag summary as
// Sguil's "Display Sancp Details" pane decoded SANCP's src_flags and
// dst_flags (client/lib/sancp.tcl, InsertSancpFlags), our per-flag packet
// counts, and the flow's label.
//
// As in SANCP, the source is the end that sent the session's first
// packet, Bytes are payload bytes (a 40-byte SYN-ACK counts 0), and the
// flags are the OR of every packet's TCP flags in that direction.
package sessions

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/eve"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/label"
)

// Session is one flow record read back.
type Session struct {
	Sensor string // the record's host, or the reader's default
	Flow   event.Flow
}

// Result is what Read found in a file.
type Result struct {
	Sessions []Session
	// Skipped counts lines that are not JSON objects of the EVE shape (a
	// line being written as the file was read, say).
	Skipped int
}

// maxLine bounds one EVE line; flow records are well under 4 KiB.
const maxLine = 1 << 20

// Read reads the flow records (event_type "flow") of an EVE stream, in
// the order of their start times. Records without a host field get
// sensor. Records written without xdpsensor_label get the label
// label.Classify gives the flow rebuilt from the record.
func Read(r io.Reader, sensor string) (Result, error) {
	var res Result
	err := eve.Reader{MaxLine: maxLine}.Scan(r, func(line []byte) bool {
		if len(line) == 0 {
			return true
		}
		var rec record
		if err := json.Unmarshal(line, &rec); err != nil {
			res.Skipped++
			return true
		}
		if rec.EventType != "flow" {
			return true
		}
		s, err := rec.session(sensor)
		if err != nil {
			res.Skipped++
			return true
		}
		res.Sessions = append(res.Sessions, s)
		return true
	})
	if err != nil {
		return res, err
	}
	slices.SortStableFunc(res.Sessions, func(a, b Session) int {
		if c := a.Flow.Start.Compare(b.Flow.Start); c != 0 {
			return c
		}
		switch {
		case a.Flow.FlowID < b.Flow.FlowID:
			return -1
		case a.Flow.FlowID > b.Flow.FlowID:
			return 1
		}
		return 0
	})
	return res, nil
}

// ReadFile reads the EVE file at path (DIR/eve.json).
func ReadFile(path, sensor string) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	res, err := Read(f, sensor)
	if err != nil {
		return res, fmt.Errorf("reading %s: %w", path, err)
	}
	return res, nil
}

// record is the part of an EVE flow record the session view reads.
type record struct {
	FlowID    uint64   `json:"flow_id"`
	EventType string   `json:"event_type"`
	VLAN      []uint16 `json:"vlan"`
	SrcIP     string   `json:"src_ip"`
	SrcPort   uint16   `json:"src_port"`
	DestIP    string   `json:"dest_ip"`
	DestPort  uint16   `json:"dest_port"`
	Proto     string   `json:"proto"`
	ICMPType  uint8    `json:"icmp_type"`
	ICMPCode  uint8    `json:"icmp_code"`
	Host      string   `json:"host"`
	Flow      struct {
		PktsToServer    uint64   `json:"pkts_toserver"`
		PktsToClient    uint64   `json:"pkts_toclient"`
		BytesToServer   uint64   `json:"bytes_toserver"`
		BytesToClient   uint64   `json:"bytes_toclient"`
		Start           string   `json:"start"`
		End             string   `json:"end"`
		Alerted         bool     `json:"alerted"`
		Ended           string   `json:"xdpsensor_end"`
		PayloadToServer *uint64  `json:"xdpsensor_payload_toserver"`
		PayloadToClient *uint64  `json:"xdpsensor_payload_toclient"`
		IPBytesToServer *uint64  `json:"xdpsensor_ip_bytes_toserver"`
		IPBytesToClient *uint64  `json:"xdpsensor_ip_bytes_toclient"`
		Listed          []string `json:"xdpsensor_listed"`
		Label           string   `json:"xdpsensor_label"`
		LabelNote       string   `json:"xdpsensor_label_note"`
	} `json:"flow"`
	TCP *struct {
		FlagsTS string `json:"tcp_flags_ts"`
		FlagsTC string `json:"tcp_flags_tc"`
		// FlagCounts is where sensors before xdpsensor_flag_counts
		// wrote the counts.
		FlagCounts *directionCounts `json:"flag_counts"`
	} `json:"tcp"`
	FlagCounts *directionCounts `json:"xdpsensor_flag_counts"`
}

type directionCounts struct {
	ToServer flagCounts `json:"toserver"`
	ToClient flagCounts `json:"toclient"`
}

type flagCounts struct {
	SYN    uint64 `json:"syn"`
	SYNACK uint64 `json:"synack"`
	ACK    uint64 `json:"ack"`
	FIN    uint64 `json:"fin"`
	RST    uint64 `json:"rst"`
	PSH    uint64 `json:"psh"`
	URG    uint64 `json:"urg"`
	ECE    uint64 `json:"ece"`
	CWR    uint64 `json:"cwr"`
}

// protoNumbers maps EVE's protocol names back to numbers.
var protoNumbers = func() map[string]uint8 {
	m := make(map[string]uint8, 256)
	for p := 255; p >= 0; p-- {
		m[eve.ProtoName(uint8(p))] = uint8(p)
	}
	return m
}()

const eveTime = "2006-01-02T15:04:05.999999-0700"

// session rebuilds the flow of a record.
func (r *record) session(sensor string) (Session, error) {
	f := event.Flow{FlowID: r.FlowID, VLAN: r.VLAN, ICMPType: r.ICMPType, ICMPCode: r.ICMPCode}
	var err error
	if f.Client.IP, err = netip.ParseAddr(r.SrcIP); err != nil {
		return Session{}, err
	}
	if f.Server.IP, err = netip.ParseAddr(r.DestIP); err != nil {
		return Session{}, err
	}
	f.Client.Port, f.Server.Port = r.SrcPort, r.DestPort
	p, ok := protoNumbers[r.Proto]
	if !ok {
		return Session{}, fmt.Errorf("unknown proto %q", r.Proto)
	}
	f.Proto = p
	if f.Start, err = time.Parse(eveTime, r.Flow.Start); err != nil {
		return Session{}, err
	}
	if f.End, err = time.Parse(eveTime, r.Flow.End); err != nil {
		return Session{}, err
	}
	// EVE's bytes are whole frames, as Suricata counts them; our IP
	// bytes are xdpsensor_ip_bytes_* (sensors before them wrote IP
	// bytes as bytes_to*).
	f.ToServer = event.DirectionStats{Packets: r.Flow.PktsToServer, FrameBytes: r.Flow.BytesToServer, Bytes: r.Flow.BytesToServer}
	f.ToClient = event.DirectionStats{Packets: r.Flow.PktsToClient, FrameBytes: r.Flow.BytesToClient, Bytes: r.Flow.BytesToClient}
	if r.Flow.IPBytesToServer != nil && r.Flow.IPBytesToClient != nil {
		f.ToServer.Bytes, f.ToClient.Bytes = *r.Flow.IPBytesToServer, *r.Flow.IPBytesToClient
	}
	// SANCP's bytes are payload bytes. A record from a sensor that did
	// not write them (Suricata) has only frame bytes: those stand in.
	f.ToServer.PayloadBytes, f.ToClient.PayloadBytes = f.ToServer.Bytes, f.ToClient.Bytes
	if r.Flow.PayloadToServer != nil {
		f.ToServer.PayloadBytes = *r.Flow.PayloadToServer
	}
	if r.Flow.PayloadToClient != nil {
		f.ToClient.PayloadBytes = *r.Flow.PayloadToClient
	}
	if r.TCP != nil {
		if f.ToServer.TCPFlags, err = hexFlags(r.TCP.FlagsTS); err != nil {
			return Session{}, err
		}
		if f.ToClient.TCPFlags, err = hexFlags(r.TCP.FlagsTC); err != nil {
			return Session{}, err
		}
		counts := r.FlagCounts
		if counts == nil {
			counts = r.TCP.FlagCounts
		}
		if counts != nil {
			f.ToServer.FlagCounts = event.TCPFlagCounts(counts.ToServer)
			f.ToClient.FlagCounts = event.TCPFlagCounts(counts.ToClient)
		}
	}
	// EVE keeps no first-packet flags: the client's SYN, else its
	// SYN-ACK, else whatever it sent, is the best reading.
	switch c := &f.ToServer.FlagCounts; {
	case c.SYN > 0:
		f.FirstTCPFlags = event.TCPSyn
	case c.SYNACK > 0:
		f.FirstTCPFlags = event.TCPSyn | event.TCPAck
	default:
		f.FirstTCPFlags = f.ToServer.TCPFlags &^ event.TCPSyn
	}
	f.Reason = event.EndReason(r.Flow.Ended)
	if r.Flow.Alerted {
		f.Alerts = 1
	}
	for _, l := range r.Flow.Listed {
		switch l {
		case "client":
			f.ClientListed = true
		case "server":
			f.ServerListed = true
		}
	}
	f.Label, f.LabelNote = r.Flow.Label, r.Flow.LabelNote
	if f.Label == "" {
		label.Apply(&f)
	}
	if r.Host != "" {
		sensor = r.Host
	}
	return Session{Sensor: sensor, Flow: f}, nil
}

func hexFlags(s string) (uint8, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 16, 8)
	return uint8(v), err
}

// Filter selects sessions; its zero value selects all.
type Filter struct {
	Host  netip.Prefix // either end in it; the zero Prefix matches any
	Since time.Time    // sessions that ended at or after it
	Label string       // sessions with this label
}

// Match reports whether s passes the filter.
func (f *Filter) Match(s *Session) bool {
	fl := &s.Flow
	if f.Host.IsValid() && !f.Host.Contains(fl.Client.IP.Unmap()) && !f.Host.Contains(fl.Server.IP.Unmap()) {
		return false
	}
	if !f.Since.IsZero() && fl.End.Before(f.Since) {
		return false
	}
	if f.Label != "" && fl.Label != f.Label {
		return false
	}
	return true
}

// Select returns the sessions that pass f.
func Select(ss []Session, f Filter) []Session {
	var out []Session
	for i := range ss {
		if f.Match(&ss[i]) {
			out = append(out, ss[i])
		}
	}
	return out
}

// ParseHost reads --host: an address or a CIDR prefix.
func ParseHost(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParseSince reads --since: an RFC 3339 time, "2006-01-02 15:04:05" or
// "2006-01-02" in UTC (as Sguil shows times), or a duration such as 24h,
// meaning that long before now.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, errors.New("negative duration")
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateTime, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New(`want a time like 2007-03-20T18:00:00Z, "2007-03-20 18:00:00" (UTC), 2007-03-20, or a duration like 24h`)
}

// rule is Sguil's session separator.
const rule = "------------------------------------------------------------------------"

// sguilTime is how Sguil shows times: UTC, to the second.
func sguilTime(t time.Time) string { return t.UTC().Format(time.DateTime) }

// Render writes the sessions as Sguil's session text.
func Render(w io.Writer, ss []Session) error {
	bw := bufio.NewWriter(w)
	for i := range ss {
		writeSession(bw, &ss[i])
	}
	return bw.Flush()
}

func writeSession(w *bufio.Writer, s *Session) {
	f := &s.Flow
	fmt.Fprintf(w, "%s\nSensor:%s Session ID:%d\n", rule, s.Sensor, f.FlowID)
	fmt.Fprintf(w, "Start Time:%s End Time:%s\n", sguilTime(f.Start), sguilTime(f.End))
	fmt.Fprintf(w, "%s -> %s%s\n", endpoint(f, f.Client), endpoint(f, f.Server), protoNote(f))
	fmt.Fprintf(w, "Source Packets:%d Bytes:%d\n", f.ToServer.Packets, f.ToServer.PayloadBytes)
	fmt.Fprintf(w, "Dest Packets:%d Bytes:%d\n", f.ToClient.Packets, f.ToClient.PayloadBytes)
	if f.Proto == event.ProtoTCP {
		fmt.Fprintf(w, "Source Flags:%s\n", flagSummary(&f.ToServer))
		fmt.Fprintf(w, "Dest Flags:%s\n", flagSummary(&f.ToClient))
	}
	if f.Label != "" {
		fmt.Fprintf(w, "Label: %s", f.Label)
		if f.LabelNote != "" {
			fmt.Fprintf(w, " (%s)", f.LabelNote)
		}
		w.WriteByte('\n')
	}
}

func endpoint(f *event.Flow, e event.Endpoint) string {
	if !event.HasPorts(f.Proto) {
		return e.IP.String()
	}
	return netip.AddrPortFrom(e.IP, e.Port).String()
}

// protoNote names the protocol of non-TCP sessions; Sguil's session text
// has no protocol, and TCP, its common case, stays as Sguil wrote it.
func protoNote(f *event.Flow) string {
	switch f.Proto {
	case event.ProtoTCP:
		return ""
	case event.ProtoICMP, event.ProtoICMPv6:
		return fmt.Sprintf(" (%s type %d code %d)", eve.ProtoName(f.Proto), f.ICMPType, f.ICMPCode)
	}
	return " (" + eve.ProtoName(f.Proto) + ")"
}

// FlagString writes TCP flags as Snort and Sguil's packet view do, in
// the order of Sguil's SANCP flag summary (R2 R1 URG ACK PSH RST SYN
// FIN): a letter for each flag set — 1 (CWR), 2 (ECE), U, A, P, R, S,
// F — and '*' for each flag not set. A SYN-ACK is ***A**S*, a RST
// *****R**.
func FlagString(fl uint8) string {
	const letters = "12UAPRSF"
	b := []byte("********")
	for i := 0; i < 8; i++ {
		if fl&(0x80>>i) != 0 {
			b[i] = letters[i]
		}
	}
	return string(b)
}

// flagNames decodes flags in Sguil's order, high bit first.
var flagNames = [8]string{"CWR", "ECE", "URG", "ACK", "PSH", "RST", "SYN", "FIN"}

func flagSummary(d *event.DirectionStats) string {
	var b strings.Builder
	b.WriteString(FlagString(d.TCPFlags))
	var names []string
	for i, n := range flagNames {
		if d.TCPFlags&(0x80>>i) != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		b.WriteString(" none")
	} else {
		b.WriteString(" " + strings.Join(names, " "))
	}
	if counts := countList(&d.FlagCounts); len(counts) > 0 {
		b.WriteString(" (" + strings.Join(counts, " ") + ")")
	}
	return b.String()
}

// countList gives the non-zero packet counts per flag, as name=count.
func countList(c *event.TCPFlagCounts) []string {
	var out []string
	for _, kv := range c.Named() {
		if kv.N > 0 {
			out = append(out, fmt.Sprintf("%s=%d", kv.Name, kv.N))
		}
	}
	return out
}

// JSONSession is the --json form of a session: the fields of the text
// view, with times to the microsecond.
type JSONSession struct {
	Sensor        string            `json:"sensor"`
	SessionID     uint64            `json:"session_id"`
	StartTime     string            `json:"start_time"`
	EndTime       string            `json:"end_time"`
	Proto         string            `json:"proto"`
	SrcIP         string            `json:"src_ip"`
	SrcPort       *uint16           `json:"src_port,omitempty"`
	DstIP         string            `json:"dst_ip"`
	DstPort       *uint16           `json:"dst_port,omitempty"`
	ICMPType      *uint8            `json:"icmp_type,omitempty"`
	ICMPCode      *uint8            `json:"icmp_code,omitempty"`
	SrcPackets    uint64            `json:"src_packets"`
	SrcBytes      uint64            `json:"src_bytes"`
	DstPackets    uint64            `json:"dst_packets"`
	DstBytes      uint64            `json:"dst_bytes"`
	SrcFlags      string            `json:"src_flags,omitempty"`
	DstFlags      string            `json:"dst_flags,omitempty"`
	SrcFlagCounts map[string]uint64 `json:"src_flag_counts,omitempty"`
	DstFlagCounts map[string]uint64 `json:"dst_flag_counts,omitempty"`
	Listed        []string          `json:"listed,omitempty"`
	Label         string            `json:"label,omitempty"`
	LabelNote     string            `json:"label_note,omitempty"`
}

// JSON gives the --json form of s.
func (s *Session) JSON() JSONSession {
	f := &s.Flow
	j := JSONSession{
		Sensor:     s.Sensor,
		SessionID:  f.FlowID,
		StartTime:  f.Start.UTC().Format("2006-01-02T15:04:05.000000Z"),
		EndTime:    f.End.UTC().Format("2006-01-02T15:04:05.000000Z"),
		Proto:      eve.ProtoName(f.Proto),
		SrcIP:      f.Client.IP.String(),
		DstIP:      f.Server.IP.String(),
		SrcPackets: f.ToServer.Packets,
		SrcBytes:   f.ToServer.PayloadBytes,
		DstPackets: f.ToClient.Packets,
		DstBytes:   f.ToClient.PayloadBytes,
		Label:      f.Label,
		LabelNote:  f.LabelNote,
	}
	if event.HasPorts(f.Proto) {
		sp, dp := f.Client.Port, f.Server.Port
		j.SrcPort, j.DstPort = &sp, &dp
	}
	if f.Proto == event.ProtoICMP || f.Proto == event.ProtoICMPv6 {
		t, c := f.ICMPType, f.ICMPCode
		j.ICMPType, j.ICMPCode = &t, &c
	}
	if f.Proto == event.ProtoTCP {
		j.SrcFlags, j.DstFlags = FlagString(f.ToServer.TCPFlags), FlagString(f.ToClient.TCPFlags)
		j.SrcFlagCounts, j.DstFlagCounts = countMap(&f.ToServer.FlagCounts), countMap(&f.ToClient.FlagCounts)
	}
	if f.ClientListed {
		j.Listed = append(j.Listed, "src")
	}
	if f.ServerListed {
		j.Listed = append(j.Listed, "dst")
	}
	return j
}

func countMap(c *event.TCPFlagCounts) map[string]uint64 {
	m := map[string]uint64{}
	for _, kv := range c.Named() {
		if kv.N > 0 {
			m[kv.Name] = kv.N
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// RenderJSON writes the sessions as JSON objects, one a line.
func RenderJSON(w io.Writer, ss []Session) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range ss {
		if err := enc.Encode(ss[i].JSON()); err != nil {
			return err
		}
	}
	return bw.Flush()
}

package snortalert

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/classification"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// AppendFast appends a's alert_fast line (newline included) to b:
//
//	MM/DD-hh:mm:ss.uuuuuu  [**] [gid:sid:rev] msg [**] [Classification: …] [Priority: N] {PROTO} src:port -> dst:port
func AppendFast(b []byte, a *event.Alert, opts Options) []byte {
	v := newView(&a.Packet)
	b = appendTimestamp(b, a.Packet.Time, &opts)
	b = append(b, " [**] "...)
	b = appendSig(b, a, &opts)
	if a.Rule.Msg != "" {
		b = append(b, a.Rule.Msg...)
		b = append(b, " [**] "...)
	} else {
		b = append(b, "[**] "...)
	}
	b = appendPriority(b, a.Rule, &opts)
	b = append(b, '{')
	b = appendProto(b, v.proto)
	b = append(b, "} "...)
	b = appendAddrs(b, &a.Packet, &v)
	return append(b, '\n')
}

// AppendFull appends a's alert_full record to b, the blank line that ends
// it included.
func AppendFull(b []byte, a *event.Alert, opts Options) []byte {
	p := &a.Packet
	v := newView(p)
	b = append(b, "[**] "...)
	b = appendSig(b, a, &opts)
	if a.Rule.Msg != "" {
		b = append(b, a.Rule.Msg...)
		b = append(b, " [**]\n"...)
	} else {
		b = append(b, "[**]\n"...)
	}
	b = appendPriority(b, a.Rule, &opts)
	b = append(b, '\n')
	b = appendTimestamp(b, p.Time, &opts)
	if opts.DataLink && v.eth != nil {
		b = appendEthernet(b, v.eth, p.FrameLen)
	}
	b = appendIPHeader(b, p, &v, opts.DataLink)
	if !v.frag {
		switch v.proto {
		case event.ProtoTCP:
			b = appendTCP(b, p, &v)
		case event.ProtoUDP:
			b = appendUDP(b, p, &v)
		case event.ProtoICMP:
			b = appendICMP(b, &v, opts.DataLink)
		}
	}
	b = appendXrefs(b, a.Rule.References, &opts)
	return append(b, '\n')
}

// appendTimestamp is util.c ts_print: "MM/DD-hh:mm:ss.uuuuuu " (with -y
// "MM/DD/YY-…"), the trailing space included.
func appendTimestamp(b []byte, t time.Time, opts *Options) []byte {
	if opts.Location != nil {
		t = t.In(opts.Location)
	} else {
		t = t.UTC()
	}
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	b = appendPad(b, uint64(month), 2)
	b = append(b, '/')
	b = appendPad(b, uint64(day), 2)
	if opts.Year {
		// tm_year counts from 1900; Snort takes 100 off once.
		y := year - 1900
		if y >= 100 {
			y -= 100
		}
		b = append(b, '/')
		if y < 0 {
			b = appendInt(b, int64(y))
		} else {
			b = appendPad(b, uint64(y), 2)
		}
	}
	b = append(b, '-')
	b = appendPad(b, uint64(hour), 2)
	b = append(b, ':')
	b = appendPad(b, uint64(min), 2)
	b = append(b, ':')
	b = appendPad(b, uint64(sec), 2)
	b = append(b, '.')
	b = appendPad(b, uint64(t.Nanosecond()/1000), 6)
	return append(b, ' ')
}

// appendSig writes "[gid:sid:rev] " and, with Options.Interface, " <if> ".
func appendSig(b []byte, a *event.Alert, opts *Options) []byte {
	b = append(b, '[')
	b = appendUint(b, uint64(a.Rule.GID))
	b = append(b, ':')
	b = appendUint(b, uint64(a.Rule.SID))
	b = append(b, ':')
	b = appendUint(b, uint64(a.Rule.Rev))
	b = append(b, "] "...)
	if opts.Interface {
		b = append(b, " <"...)
		if a.Packet.Interface != "" {
			b = append(b, a.Packet.Interface...)
		} else {
			b = append(b, "NULL"...)
		}
		b = append(b, "> "...)
	}
	return b
}

// appendPriority is log_text.c LogPriorityData without its newline:
// "[Classification: <description>] " when the rule has a class, then
// "[Priority: N] " always (0 for a rule with neither classtype nor
// priority, as Snort parses it).
func appendPriority(b []byte, r *event.Rule, opts *Options) []byte {
	cat, prio := r.Category, r.Priority
	if cat == "" && r.Classtype != "" || prio == 0 && r.Classtype != "" {
		t := opts.Classes
		if t == nil {
			t = classification.Standard()
		}
		if c, ok := t.Lookup(r.Classtype); ok {
			if cat == "" {
				cat = c.Description
			}
			if prio == 0 {
				prio = c.Priority
			}
		}
	}
	if cat != "" {
		b = append(b, "[Classification: "...)
		b = append(b, cat...)
		b = append(b, "] "...)
	}
	b = append(b, "[Priority: "...)
	b = appendUint(b, uint64(prio))
	return append(b, "] "...)
}

// ports returns the ports Snort's p->sp and p->dp hold: those of the
// transport header when its decoder accepted it, 0 otherwise.
func ports(p *event.Packet, v *view) (uint16, uint16) {
	if v.l4 != nil {
		switch v.proto {
		case event.ProtoTCP:
			if tcpTruncated(v) {
				return 0, 0
			}
		case event.ProtoUDP:
			if udpTruncated(v) {
				return 0, 0
			}
		}
	}
	return p.Src.Port, p.Dst.Port
}

// appendAddrs is log_text.c LogIpAddrs: ports only for TCP and UDP
// packets that are not fragments.
func appendAddrs(b []byte, p *event.Packet, v *view) []byte {
	withPorts := !v.frag && (v.proto == event.ProtoTCP || v.proto == event.ProtoUDP)
	var sp, dp uint16
	if withPorts {
		sp, dp = ports(p, v)
	}
	b = appendAddr(b, p.Src.IP, v.v6)
	if withPorts {
		b = append(b, ':')
		b = appendUint(b, uint64(sp))
	}
	b = append(b, " -> "...)
	b = appendAddr(b, p.Dst.IP, v.v6)
	if withPorts {
		b = append(b, ':')
		b = appendUint(b, uint64(dp))
	}
	return b
}

// appendEthernet is log_text.c LogEthHeader (Snort's -e).
func appendEthernet(b []byte, eth []byte, frameLen uint32) []byte {
	for i, m := range [2][]byte{eth[6:12], eth[0:6]} {
		for j, c := range m {
			if j > 0 {
				b = append(b, ':')
			}
			b = append(b, hexUpper[c>>4], hexUpper[c&0xf])
		}
		if i == 0 {
			b = append(b, " -> "...)
		} else {
			b = append(b, ' ')
		}
	}
	b = append(b, "type:0x"...)
	b = appendHex(b, uint64(binary.BigEndian.Uint16(eth[12:14])))
	b = append(b, " len:0x"...)
	b = appendHex(b, uint64(frameLen))
	return append(b, '\n')
}

// appendIPHeader is log_text.c LogIPHeader: the address line, the IP
// line, IP options and the fragment line.
func appendIPHeader(b []byte, p *event.Packet, v *view, dataLink bool) []byte {
	b = appendAddrs(b, p, v)
	if dataLink {
		b = append(b, ' ')
	} else {
		b = append(b, '\n')
	}
	b = appendProto(b, v.proto)
	b = append(b, " TTL:"...)
	b = appendUint(b, uint64(p.TTL))
	b = append(b, " TOS:0x"...)
	b = appendHex(b, uint64(p.TOS))
	b = append(b, " ID:"...)
	b = appendUint(b, uint64(v.id))
	b = append(b, " IpLen:"...)
	b = appendUint(b, uint64(v.hlen))
	b = append(b, " DgmLen:"...)
	b = appendUint(b, uint64(v.dgmLen))
	b = appendFragBits(b, v.off)
	b = append(b, '\n')
	if len(v.ipOpts) > 0 {
		b = appendIPOptions(b, v.ipOpts)
	}
	if v.frag {
		b = append(b, "Frag Offset: 0x"...)
		b = appendHexPad(b, uint64(v.fragOff&0x1fff), 4)
		b = append(b, "   Frag Size: 0x"...)
		b = appendHexPad(b, uint64(uint32(v.fragSize)), 4)
		b = append(b, '\n')
	}
	return b
}

// appendFragBits writes " RB", " DF", " MF" for the top bits of the
// flags-and-offset word.
func appendFragBits(b []byte, off uint16) []byte {
	if off&0x8000 != 0 {
		b = append(b, " RB"...)
	}
	if off&0x4000 != 0 {
		b = append(b, " DF"...)
	}
	if off&0x2000 != 0 {
		b = append(b, " MF"...)
	}
	return b
}

// ipOpt is one decoded option: its code and the bytes after the length.
type ipOpt struct {
	code uint8
	data []byte // nil when the option has no data
}

// appendIPOptions decodes IPv4 options as decode.c DecodeIPOptions does
// and prints them as log_text.c LogIpOptions does. Snort stops counting
// at EOL but goes on validating what follows; a malformed option anywhere
// leaves the count at 0, so nothing is printed.
func appendIPOptions(b []byte, raw []byte) []byte {
	var list [40]ipOpt // IP_OPTMAX
	n, done := 0, false
	for i := 0; i < len(raw) && n < len(list); {
		code := raw[i]
		skip := 1
		var o ipOpt
		o.code = code
		if code > 1 { // neither EOL nor NOP
			dlen, s, ok := optLen(raw, i, -1)
			if !ok {
				return b
			}
			if dlen > 0 {
				o.data = raw[i+2 : i+s]
			}
			skip = s
		} else if code == 0 {
			done = true
		}
		list[n] = o
		if !done {
			n++
		}
		i += skip
	}
	if n == 0 {
		return b
	}
	start := len(b)
	b = append(b, "IP Options ("...)
	b = appendUint(b, uint64(n))
	b = append(b, ") => "...)
	for _, o := range list[:n] {
		if len(b)-start > 60 {
			b = append(b, "\nIP Options => "...)
			start = len(b)
		}
		switch o.code {
		case 0x07:
			b = append(b, "RR "...)
		case 0x00:
			b = append(b, "EOL "...)
		case 0x01:
			b = append(b, "NOP "...)
		case 0x44:
			b = append(b, "TS "...)
		case 0x85:
			b = append(b, "ESEC "...)
		case 0x82:
			b = append(b, "SEC "...)
		case 0x83, 0x84:
			b = append(b, "LSRR "...)
		case 0x88:
			b = append(b, "SID "...)
		case 0x89:
			b = append(b, "SSRR "...)
		case 0x94:
			b = append(b, "RTRALT "...)
		default:
			b = append(b, "Opt "...)
			b = appendUint(b, uint64(o.code))
			b = append(b, ": "...)
			for j, c := range o.data {
				b = append(b, hexUpper[c>>4], hexUpper[c&0xf])
				if j%2 == 0 {
					b = append(b, ' ')
				}
			}
		}
	}
	return append(b, '\n')
}

// optLen is decode.c OptLenValidate for the option at raw[i]: expected is
// the option's fixed length (kind and length bytes included), or -1 for a
// variable length. It returns the data length and the option's length.
func optLen(raw []byte, i, expected int) (dlen, skip int, ok bool) {
	if i+1 >= len(raw) {
		return 0, 0, false // no length byte
	}
	l := int(raw[i+1])
	if l == 0 || expected == 0 || expected == 1 {
		return 0, 0, false
	}
	if expected > 1 {
		if i+expected > len(raw) || l != expected {
			return 0, 0, false
		}
	} else if l < 2 || i+l > len(raw) {
		return 0, 0, false
	}
	return l - 2, l, true
}

// TCP option kinds Snort names.
const (
	tcpOptEOL       = 0
	tcpOptNOP       = 1
	tcpOptMSS       = 2
	tcpOptWScale    = 3
	tcpOptSackOK    = 4
	tcpOptSack      = 5
	tcpOptEcho      = 6
	tcpOptEchoReply = 7
	tcpOptTimestamp = 8
	tcpOptCC        = 11
	tcpOptCCNew     = 12
	tcpOptCCEcho    = 13
	tcpOptTrailer   = 18
	tcpOptMD5       = 19
	tcpOptAuth      = 29
	tcpOptTFO       = 34
)

// optWord is one number Snort prints from an option's data: size bytes
// at off (big-endian), then the separator after it.
type optWord struct {
	off, size int
	after     byte
}

// tcpOptFormats is log_text.c PrintTcpOptions for the kinds it names:
// the label, then each word it prints. Others print as "Opt N (len): hex".
var tcpOptFormats = map[uint8]struct {
	label string
	words []optWord
}{
	tcpOptEOL:       {"EOL ", nil},
	tcpOptNOP:       {"NOP ", nil},
	tcpOptTFO:       {"TFO ", nil},
	tcpOptSackOK:    {"SackOK ", nil},
	tcpOptMSS:       {"MSS: ", []optWord{{0, 2, ' '}}},
	tcpOptWScale:    {"WS: ", []optWord{{0, 1, ' '}}},
	tcpOptSack:      {"Sack: ", []optWord{{0, 2, '@'}, {2, 2, ' '}}}, // the first two 16-bit words only
	tcpOptEcho:      {"Echo: ", []optWord{{0, 4, ' '}}},
	tcpOptEchoReply: {"Echo Rep: ", []optWord{{0, 4, ' '}}},
	tcpOptTimestamp: {"TS: ", []optWord{{0, 4, ' '}, {4, 4, ' '}}},
	tcpOptCC:        {"CC ", []optWord{{0, 4, ' '}}},
	tcpOptCCNew:     {"CCNEW: ", []optWord{{0, 4, ' '}}},
	tcpOptCCEcho:    {"CCECHO: ", []optWord{{0, 4, ' '}}},
}

// tcpTruncated reports whether Snort's DecodeTCP rejects the header (then
// p->tcph is NULL).
func tcpTruncated(v *view) bool {
	if v.l4Len < 20 {
		return true
	}
	if len(v.l4) < 20 {
		return false // cut by the capture: the kernel's fields stand
	}
	h := int(v.l4[12]>>4) * 4
	return h < 20 || h > v.l4Len
}

// tcpFlagChars are CreateTCPFlagString's letters, high bit first: Snort
// calls CWR and ECE "1" and "2" (TH_RES1, TH_RES2).
const tcpFlagChars = "12UAPRSF"

// appendTCP is log_text.c LogTCPHeader.
func appendTCP(b []byte, p *event.Packet, v *view) []byte {
	if v.l4 != nil && tcpTruncated(v) {
		return append(b, "TCP header truncated\n"...)
	}
	for i := 0; i < 8; i++ {
		if p.TCPFlags&(0x80>>i) != 0 {
			b = append(b, tcpFlagChars[i])
		} else {
			b = append(b, '*')
		}
	}
	b = append(b, " Seq: 0x"...)
	b = appendHex(b, uint64(p.Seq))
	b = append(b, "  Ack: 0x"...)
	b = appendHex(b, uint64(p.Ack))
	b = append(b, "  Win: 0x"...)
	b = appendHex(b, uint64(p.Window))
	b = append(b, "  TcpLen: "...)
	b = appendUint(b, uint64(p.TCPHeaderLen))
	if p.TCPFlags&event.TCPUrg != 0 {
		b = append(b, "  UrgPtr: 0x"...)
		b = appendHex(b, uint64(p.UrgPtr))
	}
	b = append(b, '\n')
	if len(v.l4) >= 20 {
		h := min(int(v.l4[12]>>4)*4, len(v.l4))
		if h > 20 {
			b = appendTCPOptions(b, v.l4[20:h])
		}
	}
	return b
}

// appendTCPOptions decodes TCP options as decode.c DecodeTCPOptions does
// (a malformed option ends the list; the options before it count) and
// prints them as log_text.c LogTcpOptions does. Nothing is printed when
// no option is valid.
func appendTCPOptions(b []byte, raw []byte) []byte {
	var list [40]ipOpt // TCP_OPTLENMAX
	n := 0
	for i := 0; i < len(raw) && n < len(list); {
		code := raw[i]
		o := ipOpt{code: code}
		var dlen, skip int
		ok := true
		switch code {
		case tcpOptEOL, tcpOptNOP:
			skip = 1
		case tcpOptMSS:
			dlen, skip, ok = optLen(raw, i, 4)
		case tcpOptSackOK:
			dlen, skip, ok = optLen(raw, i, 2)
		case tcpOptWScale:
			dlen, skip, ok = optLen(raw, i, 3)
		case tcpOptEcho, tcpOptEchoReply, tcpOptCC, tcpOptCCNew, tcpOptCCEcho:
			dlen, skip, ok = optLen(raw, i, 6)
		case tcpOptMD5:
			dlen, skip, ok = optLen(raw, i, 18)
		case tcpOptTrailer:
			dlen, skip, ok = optLen(raw, i, 3)
		case tcpOptTimestamp:
			dlen, skip, ok = optLen(raw, i, 10)
		case tcpOptAuth:
			if i+1 < len(raw) && raw[i+1] < 4 {
				ok = false
			} else {
				dlen, skip, ok = optLen(raw, i, -1)
			}
		case tcpOptSack:
			dlen, skip, ok = optLen(raw, i, -1)
			ok = ok && dlen > 0
		default:
			dlen, skip, ok = optLen(raw, i, -1)
		}
		if !ok {
			break
		}
		if dlen > 0 {
			o.data = raw[i+2 : i+skip]
		}
		list[n] = o
		n++
		if code == tcpOptEOL {
			break
		}
		i += skip
	}
	if n == 0 {
		return b
	}
	b = append(b, "TCP Options ("...)
	b = appendUint(b, uint64(n))
	b = append(b, ") => "...)
	for _, o := range list[:n] {
		d := o.data
		if f, known := tcpOptFormats[o.code]; known {
			b = append(b, f.label...)
			for _, w := range f.words {
				switch w.size {
				case 1:
					b = appendUint(b, uint64(byteAt(d, w.off)))
				case 2:
					b = appendUint(b, uint64(be16(d, w.off)))
				default:
					b = appendUint(b, uint64(be32(d, w.off)))
				}
				b = append(b, w.after)
			}
			continue
		}
		b = append(b, "Opt "...)
		b = appendUint(b, uint64(o.code))
		if len(d) == 0 {
			b = append(b, ' ')
			continue
		}
		b = append(b, " ("...)
		b = appendUint(b, uint64(len(d)))
		b = append(b, "): "...)
		for j, c := range d {
			b = append(b, hexUpper[c>>4], hexUpper[c&0xf])
			if (j+1)%2 == 0 {
				b = append(b, ' ')
			}
		}
		b = append(b, ' ')
	}
	return append(b, '\n')
}

// udpTruncated reports whether Snort's DecodeUDP rejects the header: its
// length field must equal the IP payload length.
func udpTruncated(v *view) bool {
	if v.l4Len < 8 {
		return true
	}
	if len(v.l4) < 8 {
		return false
	}
	ul := int(binary.BigEndian.Uint16(v.l4[4:6]))
	return ul < 8 || ul != v.l4Len
}

// appendUDP is log_text.c LogUDPHeader. Without the frame the length is
// the kernel's IP length less the headers.
func appendUDP(b []byte, p *event.Packet, v *view) []byte {
	var n int64
	switch {
	case v.l4 != nil && udpTruncated(v):
		return append(b, "UDP header truncated\n"...)
	case len(v.l4) >= 8:
		n = int64(binary.BigEndian.Uint16(v.l4[4:6])) - 8
	case v.l4 != nil:
		n = int64(v.l4Len) - 8
	default:
		n = int64(p.IPLen) - int64(v.hlen) - 8
	}
	b = append(b, "Len: "...)
	b = appendInt(b, n)
	return append(b, '\n')
}

// appendXrefs is log_text.c LogXrefs/LogReference: all references on one
// line, each "[Xref => <url prefix><id>]" (or "[Xref => <system> <id>]"
// for a system without a URL). Snort's parser puts each reference at the
// front of the rule's list (signature.c AddReference), so they come out
// last first. A reference without a comma is one Snort ignores.
func appendXrefs(b []byte, refs []string, opts *Options) []byte {
	systems := opts.ReferenceSystems
	if systems == nil {
		systems = DefaultReferenceSystems
	}
	wrote := false
	for i := len(refs) - 1; i >= 0; i-- {
		sys, id, ok := strings.Cut(refs[i], ",")
		if !ok {
			continue
		}
		sys, id = strings.TrimSpace(sys), strings.TrimSpace(id)
		wrote = true
		b = append(b, "[Xref => "...)
		if url := lookupSystem(systems, sys); url != "" {
			b = append(b, url...)
		} else {
			b = append(b, sys...)
			b = append(b, ' ')
		}
		b = append(b, id...)
		b = append(b, ']')
	}
	if wrote {
		b = append(b, '\n')
	}
	return b
}

// lookupSystem finds a reference system case-insensitively, as Snort's
// ReferenceSystemLookup does, without allocating for the usual lower-case
// names.
func lookupSystem(systems map[string]string, name string) string {
	if u, ok := systems[name]; ok {
		return u
	}
	for k, u := range systems {
		if strings.EqualFold(k, name) {
			return u
		}
	}
	return ""
}

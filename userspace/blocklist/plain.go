package blocklist

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
)

// plainParser reads a plain list: one IPv4 or IPv6 address or CIDR a
// line. "#" and ";" start comments (";" for Spamhaus DROP-style lists),
// whole-line or trailing; blank lines and surrounding whitespace are
// ignored.
//
// The file becomes one synthetic rule, created with its first address:
// GID 1, SID PlainSIDBase+n (n: the file's position among the files
// loaded), Rev 1, Msg "XDPSENSOR listed address (<base name>)", Classtype
// PlainClasstype, Direction ListedAsAny, OtherNet NetAny, Source "path:1".
//
// The feeds that are plain lists with a header (Spamhaus DROP, FireHOL,
// Feodo Tracker's ipblocklist.txt) use the same parser with their own
// header reader and rule (see feeds.go).
type plainParser struct {
	l         *loader
	path      string
	index     int
	why       string     // why the file is read as plain, for hints
	rule      int        // -1 until the first address
	linesLeft func() int // lines after the current one

	kind    string                // what the file is read as, for hints: "a plain list"
	refs    bool                  // the text after a trailing ";" is the entry's Ref (Spamhaus)
	header  func(n int, c string) // whole-line comments, from their "#" or ";"; nil to skip them
	newRule func() Rule           // the file's rule, made at its first address
}

func (l *loader) newPlain(index int, path, why string, linesLeft func() int) *plainParser {
	p := &plainParser{l: l, path: path, index: index, why: why, rule: -1, linesLeft: linesLeft, kind: "a plain list"}
	p.newRule = func() Rule {
		return Rule{
			GID:       1,
			SID:       uint32(PlainSIDBase + p.index),
			Rev:       1,
			Msg:       "XDPSENSOR listed address (" + filepath.Base(p.path) + ")",
			Classtype: PlainClasstype,
			Direction: ListedAsAny,
			OtherNet:  NetAny,
			Source:    p.path + ":1",
		}
	}
	return p
}

func (p *plainParser) line(n int, text string) {
	// One pass: cut at a comment, find the token, note blanks after its
	// start (trailing ones included, so the check below confirms).
	start, end, blank, cut := -1, 0, false, -1
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == '#' || c == ';' {
			cut = i
			break
		}
		if c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r' {
			if start >= 0 {
				blank = true
			}
			continue
		}
		if start < 0 {
			start = i
		}
		end = i + 1
	}
	if start < 0 {
		if p.header != nil && cut >= 0 {
			p.header(n, text[cut:])
		}
		return
	}
	t := text[start:end]
	if blank && strings.ContainsAny(t, " \t\v\f\r") {
		if looksLikeRule(t) {
			p.l.problem(p.path, n, "this looks like a Snort rule, but the file is read as "+p.kind+" ("+p.why+")")
		} else {
			p.l.problem(p.path, n, fmt.Sprintf("%q: expected one address or CIDR per line", t))
		}
		return
	}
	pfx, note, reason := parsePrefix(t)
	if reason != "" {
		p.l.problem(p.path, n, reason)
		return
	}
	if note != "" {
		p.l.warn(p.path, n, note)
	}
	if p.rule < 0 {
		// Make room for an entry a line from here on.
		p.l.growEntries(p.linesLeft())
		p.rule = p.l.addRule(p.newRule(), 1)
	}
	if p.refs && cut >= 0 && text[cut] == ';' {
		if ref := strings.TrimSpace(text[cut+1:]); ref != "" {
			p.l.addFullEntry(Entry{Prefix: pfx, Rule: p.rule, Source: p.l.source(p.path, n), Feed: &FeedNote{Ref: p.l.arena.clone(ref)}}, n)
			return
		}
	}
	p.l.addEntry(pfx, p.rule, p.l.source(p.path, n), n)
}

func (p *plainParser) end(int) {}

// parsePrefix parses one address or CIDR. It returns the masked prefix
// (single addresses as /32 or /128), a note when it rewrote the token
// (IPv4-mapped IPv6 becomes IPv4), or the reason the token is bad, which
// quotes the token.
func parsePrefix(tok string) (p netip.Prefix, note, reason string) {
	slash := strings.IndexByte(tok, '/')
	if slash < 0 {
		a, err := netip.ParseAddr(tok)
		if err != nil {
			return p, "", fmt.Sprintf("%q is not an IP address or CIDR", tok)
		}
		if a.Zone() != "" {
			return p, "", fmt.Sprintf("%q has an IPv6 zone; zoned addresses cannot be listed", tok)
		}
		if a.Is4In6() {
			a = a.Unmap()
			note = fmt.Sprintf("%s is an IPv4-mapped IPv6 address, listed as %s", tok, a)
		}
		return netip.PrefixFrom(a, a.BitLen()), note, ""
	}

	a, err := netip.ParseAddr(tok[:slash])
	if err != nil || a.Zone() != "" {
		return p, "", fmt.Sprintf("%q is not an IP address or CIDR", tok)
	}
	max := a.BitLen()
	bits, err := strconv.Atoi(tok[slash+1:])
	if err != nil || bits < 0 || bits > max || tok[slash+1] == '+' || tok[slash+1] == '-' ||
		(len(tok) > slash+2 && tok[slash+1] == '0') {
		family := "IPv4"
		if a.Is6() {
			family = "IPv6"
		}
		return p, "", fmt.Sprintf("%q: bad prefix length %q (0-%d for %s)", tok, tok[slash+1:], max, family)
	}
	p = netip.PrefixFrom(a, bits)
	if m := p.Masked(); m != p {
		return netip.Prefix{}, "", fmt.Sprintf("%q has host bits set, did you mean %s?", tok, m)
	}
	if a.Is4In6() && bits >= 96 {
		p = netip.PrefixFrom(a.Unmap(), bits-96)
		note = fmt.Sprintf("%s is an IPv4-mapped IPv6 prefix, listed as %s", tok, p)
	}
	return p, note, ""
}

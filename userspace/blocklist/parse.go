package blocklist

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/xdpsensor/xdpsensor/userspace/classification"
)

// Input formats for Options.Format.
const (
	FormatAuto  = "auto"  // per file: snort if its first rule-or-address line is a rule, else plain
	FormatPlain = "plain" // one address or CIDR a line
	FormatSnort = "snort" // Snort 2 / Suricata / ET rules whose header lists addresses
)

// PlainSIDBase is the SID of the synthetic rule of the first file loaded;
// the file at position n in Load's paths gets PlainSIDBase+n.
const PlainSIDBase = 3000000

// PlainClasstype is the classtype of the synthetic rule of a plain file.
const PlainClasstype = "bad-unknown"

// Options controls Load and Parse.
type Options struct {
	// Format is "" or "auto" (detect per file), "plain" or "snort".
	Format string

	// Classes, when set, is the classification table rules are checked
	// against: a classtype it does not define is an error, as in Snort.
	// When nil, classtypes are not checked.
	Classes *classification.Table
}

// Error is what Load and Parse return when any input is bad. It holds
// every problem found, each "path:line: reason" (or "path: reason" for a
// whole file), in file and line order. Error() joins them with newlines.
//
//	var perr *blocklist.Error
//	if errors.As(err, &perr) { for _, p := range perr.Problems() { ... } }
type Error struct {
	problems []string
}

func (e *Error) Error() string { return strings.Join(e.problems, "\n") }

// Problems returns every problem, one "path:line: reason" each.
func (e *Error) Problems() []string { return slices.Clone(e.problems) }

// Load reads and parses every file, in order, into one List. It is
// all-or-nothing: if anything in any file is wrong it returns a nil List
// and an *Error listing every problem, each "path:line: reason" with the
// reason quoting the bad token; a missing or unreadable file is
// "path: cannot read: ...".
//
// Each file is read as opts.Format says or, by default, detected: a file
// whose first line that is neither blank nor a comment ("#" or ";")
// starts with a rule action and a protocol word is read as Snort rules,
// any other as a plain list. A file that lists nothing (only comments, or
// only pass rules) is valid, with the warning "path: lists no addresses".
// Gzip-compressed and binary (NUL bytes) files are errors.
//
// Plain lists hold one IPv4 or IPv6 address or CIDR a line; "#" and ";"
// start comments, whole-line or trailing; blank lines and blanks around
// the address are ignored. A file is one synthetic rule: GID 1, SID
// PlainSIDBase+n where n is the file's position in paths (among all
// files, whatever their format), Rev 1, Msg "XDPSENSOR listed address
// (<base name>)", Classtype PlainClasstype, Direction ListedAsAny,
// OtherNet NetAny, Source "path:1"; each entry's Source is its own line.
//
// Snort rules are "action proto src_addr src_port dir dst_addr dst_port
// (options)", continued on the next line after a trailing backslash:
//   - action: alert, drop, reject, sdrop, log and Suricata's rejectsrc,
//     rejectdst and rejectboth are kept; pass rules are skipped with a
//     warning; any other action is an error.
//   - proto: ip; tcp, udp and icmp are accepted with a warning that the
//     sensor matches the addresses on every protocol; others are errors.
//   - ports must be any: the sensor does not match ports.
//   - one address field lists addresses: one address or CIDR, or a
//     bracketed list (nested lists are flattened, blanks are allowed);
//     the other is any, $HOME_NET or $EXTERNAL_NET (Rule.OtherNet). With
//     -> the list's side gives ListedAsSrc or ListedAsDst; <> gives
//     ListedAsAny. Negations, other variables, "any" or variables inside
//     a list, two lists and no list are errors.
//   - options: msg (required; a backslash escapes the next character),
//     sid (required), rev (default 0), gid (default 1), priority,
//     classtype (checked against opts.Classes when set), reference (kept
//     as "type,value"), threshold (type, track, count and seconds, in any
//     order, all required) and fwsam ("who[how], time" as SnortSam reads
//     it: units seconds to years, a month being 30 days and a year 365;
//     FwsamDefaultBlock when no time is given; BlockIndefinite for 0,
//     permanent, infinite, forever or always). metadata, target and tag
//     are ignored; other options (content, flow, ...) are ignored with
//     one warning a rule naming them, as the sensor does not enforce them.
//
// A rule's entries point at it and share its Source, "path:line" of its
// first line. Entries that list a prefix again, in the same or another
// rule or file, are dropped, keeping the first, with a warning
// "path:line: 1.2.3.4 already listed at other:7 (kept the first)".
// Entries inside another listed CIDR are kept, with a warning
// "path:line: 10.1.2.3 is inside 10.0.0.0/8 listed at other:7 (both
// kept)". Warnings also note IPv4-mapped IPv6 rewritten as IPv4 and rules
// that share a gid:sid. They come in file and line order.
func Load(paths []string, opts Options) (*List, error) {
	l, err := newLoader(opts)
	if err != nil {
		return nil, err
	}
	for i, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			l.fileProblem(path, "cannot read: "+describeIOError(err))
			continue
		}
		l.parseFile(i, path, data)
	}
	return l.finish()
}

// Parse is Load for one in-memory input; name stands for its path in
// messages and Source fields, and the input counts as position 0 (so a
// plain list gets SID PlainSIDBase).
func Parse(name string, r io.Reader, opts Options) (*List, error) {
	l, err := newLoader(opts)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		l.fileProblem(name, "cannot read: "+describeIOError(err))
	} else {
		l.parseFile(0, name, data)
	}
	return l.finish()
}

// describeIOError drops the path a *fs.PathError repeats.
func describeIOError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// pos is where an entry or warning comes from, for ordering warnings.
type pos struct {
	file int32 // index of the file in the order loaded
	line int32 // 0 for the file as a whole
}

type warning struct {
	at   pos
	n    int32 // order of appending, the tie-break
	text string
}

type loader struct {
	opts     Options
	format   string
	list     List
	entryPos []pos // parallel to list.Entries
	rulePos  []pos // parallel to list.Rules
	problems []string
	warnings []warning
	file     int32 // index of the file being parsed
	arena    arena
}

// arena hands out strings cut from shared 64 KiB blocks, for the
// millions of Source fields and warnings a big list can need, instead of
// allocating each. It relies on strings.Builder only ever appending: what
// String() returned earlier stays valid and unchanged.
type arena struct {
	b strings.Builder
}

func (a *arena) reserve(n int) int {
	const block = 64 << 10
	if a.b.Cap()-a.b.Len() < n {
		a.b = strings.Builder{}
		a.b.Grow(max(block, n))
	}
	return a.b.Len()
}

// maxPrefixLen is the longest prefix writePrefix writes.
const maxPrefixLen = len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128")

// writePrefix appends p, single addresses without their /32 or /128;
// reserve room first.
func (a *arena) writePrefix(p netip.Prefix) {
	var buf [maxPrefixLen]byte
	b := p.Addr().AppendTo(buf[:0])
	if p.Bits() != p.Addr().BitLen() {
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(p.Bits()), 10)
	}
	a.b.Write(b)
}

// source returns "path:line".
func (a *arena) source(path string, line int) string {
	start := a.reserve(len(path) + 21)
	a.b.WriteString(path)
	a.b.WriteByte(':')
	var num [20]byte
	a.b.Write(strconv.AppendInt(num[:0], int64(line), 10))
	return a.b.String()[start:]
}

func newLoader(opts Options) (*loader, error) {
	f := strings.ToLower(strings.TrimSpace(opts.Format))
	switch f {
	case "", FormatAuto:
		f = FormatAuto
	case FormatPlain, FormatSnort:
	default:
		return nil, &Error{problems: []string{fmt.Sprintf("unknown blocklist format %q (want auto, plain or snort)", opts.Format)}}
	}
	return &loader{opts: opts, format: f}, nil
}

func (l *loader) problem(path string, line int, reason string) {
	l.problems = append(l.problems, path+":"+strconv.Itoa(line)+": "+reason)
}

func (l *loader) fileProblem(path, reason string) {
	l.problems = append(l.problems, path+": "+reason)
}

func (l *loader) warn(path string, line int, text string) {
	l.warnings = append(l.warnings, warning{at: pos{l.file, int32(line)}, text: path + ":" + strconv.Itoa(line) + ": " + text})
}

func (l *loader) fileWarn(path, text string) {
	l.warnings = append(l.warnings, warning{at: pos{l.file, 0}, text: path + ": " + text})
}

// source returns "path:line".
func (l *loader) source(path string, line int) string { return l.arena.source(path, line) }

func (l *loader) addRule(r Rule, line int) int {
	l.list.Rules = append(l.list.Rules, r)
	l.rulePos = append(l.rulePos, pos{l.file, int32(line)})
	return len(l.list.Rules) - 1
}

// growEntries makes room for n more entries.
func (l *loader) growEntries(n int) {
	l.list.Entries = slices.Grow(l.list.Entries, n)
	l.entryPos = slices.Grow(l.entryPos, n)
}

func (l *loader) addEntry(p netip.Prefix, rule int, source string, line int) {
	l.list.Entries = append(l.list.Entries, Entry{Prefix: p, Rule: rule, Source: source})
	l.entryPos = append(l.entryPos, pos{l.file, int32(line)})
}

// parseFile parses one file; index is its position among the files loaded.
func (l *loader) parseFile(index int, path string, data []byte) {
	l.file = int32(index)
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		l.fileProblem(path, "is gzip-compressed; decompress it first")
		return
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		l.fileProblem(path, "is not a text file (it contains NUL bytes)")
		return
	}
	// data is this loader's own buffer and is never written again, so it
	// can be viewed as a string without a copy (16 MB for a million lines).
	// Nothing kept in the List points into it: retained text is cloned.
	text := unsafe.String(unsafe.SliceData(data), len(data))
	text = strings.TrimPrefix(text, "\ufeff") // UTF-8 byte order mark
	entriesBefore := len(l.list.Entries)

	linesLeft := func() int { return strings.Count(text, "\n") + 1 } // text: what follows the current line
	var p fileParser
	switch l.format {
	case FormatPlain:
		p = l.newPlain(index, path, "format plain", linesLeft)
	case FormatSnort:
		p = l.newSnort(path, "format snort")
	}
	lineNo := 0
	for len(text) > 0 {
		var line string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			line, text = text, ""
		}
		lineNo++
		line = strings.TrimSuffix(line, "\r")
		if p == nil { // auto, undecided
			t := strings.TrimSpace(line)
			if t == "" || t[0] == '#' || t[0] == ';' { // comments in both formats
				continue
			}
			if looksLikeRule(t) {
				p = l.newSnort(path, "detected as snort from line "+strconv.Itoa(lineNo))
			} else {
				p = l.newPlain(index, path, "detected as plain from line "+strconv.Itoa(lineNo), linesLeft)
			}
		}
		p.line(lineNo, line)
	}
	if p != nil {
		p.end(lineNo)
	}
	if len(l.list.Entries) == entriesBefore {
		l.fileWarn(path, "lists no addresses")
	}
}

type fileParser interface {
	line(n int, text string)
	end(lastLine int)
}

// snortActions are the rule actions the auto-detection recognizes.
var snortActions = map[string]bool{
	"alert": true, "drop": true, "reject": true, "sdrop": true, "log": true, "pass": true,
	"rejectsrc": true, "rejectdst": true, "rejectboth": true, "activate": true, "dynamic": true,
}

// looksLikeRule reports whether a trimmed line starts with a rule action
// followed by a protocol-like word.
func looksLikeRule(t string) bool {
	action, rest, ok := strings.Cut(t, " ")
	if !ok {
		action, rest, ok = strings.Cut(t, "\t")
		if !ok {
			return false
		}
	}
	if !snortActions[strings.ToLower(action)] {
		return false
	}
	rest = strings.TrimLeft(rest, " \t")
	if rest == "" {
		return false
	}
	c := rest[0] | 0x20
	return c >= 'a' && c <= 'z'
}

// finish checks for duplicates and overlaps and returns the result.
func (l *loader) finish() (*List, error) {
	if len(l.problems) > 0 {
		return nil, &Error{problems: l.problems}
	}
	l.checkRuleIDs()
	found := l.dedup()
	// Warnings from parsing are in order but for the gid:sid ones; those
	// of dedup are in entry order. Merge them, parsing's first on a line.
	for i := range l.warnings {
		l.warnings[i].n = int32(i)
	}
	slices.SortFunc(l.warnings, func(a, b warning) int {
		if c := comparePos(a.at, b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.n, b.n)
	})
	if n := len(l.warnings) + len(found); n > 0 {
		out := make([]string, 0, n)
		i, j := 0, 0
		for i < len(l.warnings) || j < len(found) {
			if j == len(found) || i < len(l.warnings) && comparePos(l.warnings[i].at, found[j].at) <= 0 {
				out = append(out, l.warnings[i].text)
				i++
			} else {
				out = append(out, found[j].text)
				j++
			}
		}
		l.list.Warnings = out
	}
	list := l.list
	return &list, nil
}

func comparePos(a, b pos) int {
	if c := cmp.Compare(a.file, b.file); c != 0 {
		return c
	}
	return cmp.Compare(a.line, b.line)
}

// checkRuleIDs warns about rules that reuse another rule's gid:sid.
func (l *loader) checkRuleIDs() {
	type id struct{ gid, sid uint32 }
	seen := make(map[id]int, len(l.list.Rules))
	for i, r := range l.list.Rules {
		k := id{r.GID, r.SID}
		if j, ok := seen[k]; ok {
			file, line := l.rulePos[i].file, l.rulePos[i].line
			l.warnings = append(l.warnings, warning{at: pos{file, line}, text: fmt.Sprintf("%s: rule %d:%d has the same gid:sid as the rule at %s (both kept)", r.Source, r.GID, r.SID, l.list.Rules[j].Source)})
			continue
		}
		seen[k] = i
	}
}

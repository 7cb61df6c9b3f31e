package blocklist

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// BlockIndefinite is Rule.Block for an fwsam block without end (a time of
// 0, "permanent", "infinite", "forever" or "always", as SnortSam reads
// them). It is the largest time.Duration, about 292 years, so code that
// adds it to a time or converts it to seconds still gets "practically
// never" rather than an overflow or a sentinel it forgot to check.
const BlockIndefinite = time.Duration(math.MaxInt64)

// FwsamDefaultBlock is Rule.Block for an fwsam option that names no time
// ("fwsam: src;"): SnortSam's default of five minutes.
const FwsamDefaultBlock = 5 * time.Minute

// snortParser reads Snort 2 / Suricata / Emerging Threats rules whose
// header lists addresses:
//
//	action proto src_addr src_port direction dst_addr dst_port (options)
//
// A rule may continue on the next line after a trailing backslash; the
// backslash is removed and the next line, less its leading whitespace, is
// appended as is (as Snort does). Lines starting with "#" or ";" are
// comments, even inside a continued rule, and blank lines are skipped.
type snortParser struct {
	l     *loader
	path  string
	why   string // why the file is read as snort, for hints
	start int    // first line of the rule being continued, 0 if none
	buf   []byte // the rule being continued
}

func (l *loader) newSnort(path, why string) *snortParser {
	return &snortParser{l: l, path: path, why: why}
}

func (s *snortParser) line(n int, text string) {
	t := strings.TrimLeft(text, " \t")
	if t == "" || t[0] == '#' || t[0] == ';' {
		return
	}
	t = strings.TrimRight(t, " \t")
	cont := strings.HasSuffix(t, `\`)
	if cont {
		t = t[:len(t)-1]
	}
	if s.start == 0 {
		if cont {
			s.start = n
			s.buf = append(s.buf[:0], t...)
			return
		}
		s.rule(n, t)
		return
	}
	s.buf = append(s.buf, t...)
	if cont {
		return
	}
	first := s.start
	s.start = 0
	s.rule(first, string(s.buf))
}

func (s *snortParser) end(int) {
	if s.start != 0 {
		s.l.problem(s.path, s.start, `the rule continues past the end of the file (its last line ends with "\")`)
		s.start = 0
	}
}

// short quotes at most 60 bytes of s, for messages about long tokens.
func short(s string) string {
	if len(s) > 60 {
		return strconv.Quote(s[:57]) + "..."
	}
	return strconv.Quote(s)
}

// rule parses one whole rule that starts on line n.
func (s *snortParser) rule(n int, text string) {
	l := s.l
	before := len(l.problems)
	bad := func(reason string) { l.problem(s.path, n, reason) }

	open := strings.IndexByte(text, '(')
	if open < 0 {
		t := strings.TrimSpace(text)
		if !strings.ContainsAny(t, " \t") {
			if _, _, r := parsePrefix(t); r == "" {
				bad(fmt.Sprintf("%q is an address, but the file is read as Snort rules (%s)", t, s.why))
				return
			}
		}
		bad(`rule has no options: missing "("`)
		return
	}
	header, body := text[:open], text[open+1:]
	if c := strings.LastIndexByte(body, ')'); c < 0 {
		bad(`rule options are not closed with ")"`)
	} else {
		if rest := strings.TrimSpace(body[c+1:]); rest != "" {
			bad(fmt.Sprintf(`unexpected %s after the rule's closing ")"`, short(rest)))
		}
		body = body[:c]
	}

	// Header.
	var (
		rule      Rule
		prefixes  []netip.Prefix
		notes     []string
		protoWarn string
	)
	fields := headerFields(header)
	switch {
	case len(fields) == 0:
		bad("rule has no header")
	default:
		action := strings.ToLower(fields[0])
		switch action {
		case "alert", "drop", "reject", "sdrop", "log", "rejectsrc", "rejectdst", "rejectboth":
		case "pass":
			l.warn(s.path, n, "pass rule skipped: the sensor cannot exempt traffic from other rules")
			return
		case "activate", "dynamic":
			bad(fmt.Sprintf("action %q is not supported", fields[0]))
		default:
			if _, _, r := parsePrefix(fields[0]); r == "" {
				bad(fmt.Sprintf("%q is an address, but the file is read as Snort rules (%s)", fields[0], s.why))
				return
			}
			bad(fmt.Sprintf("%s is not a rule action (want alert, drop, reject, sdrop or log)", short(fields[0])))
		}
		unbalanced := false
		for _, f := range fields {
			if strings.Count(f, "[") != strings.Count(f, "]") {
				bad(fmt.Sprintf("unbalanced brackets in %s", short(f)))
				unbalanced = true
			}
		}
		if unbalanced {
			break
		}
		if len(fields) != 7 {
			bad(fmt.Sprintf("rule header has %d fields, want 7: action protocol src_addr src_port direction dst_addr dst_port", len(fields)))
			break
		}
		switch proto := strings.ToLower(fields[1]); proto {
		case "ip":
		case "tcp", "udp", "icmp":
			protoWarn = "protocol " + proto + " is not enforced: the sensor matches the rule's addresses on every IP protocol"
		default:
			bad(fmt.Sprintf("protocol %s is not supported (want ip; tcp, udp and icmp are accepted but not enforced)", short(fields[1])))
		}
		if !strings.EqualFold(fields[3], "any") {
			bad(fmt.Sprintf(`source port %s is not "any": ports are not matched by the sensor`, short(fields[3])))
		}
		if !strings.EqualFold(fields[6], "any") {
			bad(fmt.Sprintf(`destination port %s is not "any": ports are not matched by the sensor`, short(fields[6])))
		}
		dir := fields[4]
		if dir != "->" && dir != "<>" {
			bad(fmt.Sprintf("%s is not a direction (want -> or <>)", short(dir)))
		}
		addNote := func(note string) { notes = append(notes, note) }
		srcList, srcNet, srcOK := s.side(fields[2], "source", bad, addNote)
		dstList, dstNet, dstOK := s.side(fields[5], "destination", bad, addNote)
		if !srcOK || !dstOK {
			break
		}
		switch {
		case srcList != nil && dstList != nil:
			bad("both source and destination are address lists; one side must be any, $HOME_NET or $EXTERNAL_NET")
		case srcList == nil && dstList == nil:
			bad(fmt.Sprintf("rule has no address list (source %s, destination %s)", fields[2], fields[5]))
		case srcList != nil:
			rule.Direction, rule.OtherNet, prefixes = ListedAsSrc, dstNet, srcList
		default:
			rule.Direction, rule.OtherNet, prefixes = ListedAsDst, srcNet, dstList
		}
		if dir == "<>" {
			rule.Direction = ListedAsAny
		}
	}

	// Options.
	ignored := s.options(body, &rule, bad)
	if len(l.problems) > before {
		return
	}

	rule.Source = l.source(s.path, n)
	idx := l.addRule(rule, n)
	for _, p := range prefixes {
		l.addEntry(p, idx, rule.Source, n)
	}
	for _, note := range notes {
		l.warn(s.path, n, note)
	}
	if protoWarn != "" {
		l.warn(s.path, n, protoWarn)
	}
	if len(ignored) > 0 {
		l.warn(s.path, n, "options not enforced by the sensor: "+strings.Join(ignored, ", "))
	}
}

// headerFields splits a rule header at blanks outside brackets, so lists
// may hold spaces ("[1.2.3.4, 5.6.7.8]").
func headerFields(h string) []string {
	var out []string
	i := 0
	for i < len(h) {
		for i < len(h) && (h[i] == ' ' || h[i] == '\t') {
			i++
		}
		if i == len(h) {
			break
		}
		start, depth := i, 0
		for ; i < len(h); i++ {
			c := h[i]
			if c == '[' {
				depth++
			} else if c == ']' && depth > 0 {
				depth--
			} else if (c == ' ' || c == '\t') && depth == 0 {
				break
			}
		}
		out = append(out, h[start:i])
	}
	return out
}

// side parses one address field of a header. It returns the listed
// prefixes (nil for any or a variable), the variable, and whether the
// field is valid.
func (s *snortParser) side(tok, which string, bad, note func(string)) ([]netip.Prefix, NetVar, bool) {
	switch {
	case strings.EqualFold(tok, "any"):
		return nil, NetAny, true
	case strings.EqualFold(tok, "$HOME_NET"):
		return nil, NetHome, true
	case strings.EqualFold(tok, "$EXTERNAL_NET"):
		return nil, NetExternal, true
	case strings.HasPrefix(tok, "!"):
		bad(fmt.Sprintf("negated %s address %s is not supported", which, short(tok)))
		return nil, NetAny, false
	case strings.HasPrefix(tok, "$"):
		bad(fmt.Sprintf("%s variable %s is not supported (only $HOME_NET and $EXTERNAL_NET)", which, short(tok)))
		return nil, NetAny, false
	}
	failed := false
	list := parseAddrList(tok, nil, func(r string) { failed = true; bad(r) }, note)
	if failed {
		return nil, NetAny, false
	}
	return list, NetAny, true
}

// parseAddrList parses a single address or CIDR, or a bracketed,
// comma-separated list of them (lists may nest and are flattened), and
// appends the prefixes to out. It reports each bad element through bad
// and each rewritten one through note.
func parseAddrList(s string, out []netip.Prefix, bad, note func(string)) []netip.Prefix {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		bad("address list has an empty element (stray comma?)")
		return out
	case s[0] == '!':
		bad(fmt.Sprintf("negated address %s is not supported", short(s)))
		return out
	case s[0] == '$':
		bad(fmt.Sprintf("variable %s inside an address list is not supported", short(s)))
		return out
	case strings.EqualFold(s, "any"):
		bad(`"any" inside an address list is not supported`)
		return out
	case s[0] != '[':
		if strings.ContainsAny(s, "[]") {
			bad(fmt.Sprintf("unbalanced brackets in %s", short(s)))
			return out
		}
		p, n, r := parsePrefix(s)
		if r != "" {
			bad(r)
			return out
		}
		if n != "" {
			note(n)
		}
		return append(out, p)
	}
	if s[len(s)-1] != ']' {
		bad(fmt.Sprintf("unbalanced brackets in %s", short(s)))
		return out
	}
	inner := s[1 : len(s)-1]
	if strings.TrimSpace(inner) == "" {
		bad("empty address list []")
		return out
	}
	depth, start := 0, 0
	for i := 0; i < len(inner); i++ {
		switch inner[i] {
		case '[':
			depth++
		case ']':
			depth--
			if depth < 0 {
				bad(fmt.Sprintf("unbalanced brackets in %s", short(s)))
				return out
			}
		case ',':
			if depth == 0 {
				out = parseAddrList(inner[start:i], out, bad, note)
				start = i + 1
			}
		}
	}
	if depth != 0 {
		bad(fmt.Sprintf("unbalanced brackets in %s", short(s)))
		return out
	}
	return parseAddrList(inner[start:], out, bad, note)
}

// option is one "name[:value]" of a rule's options.
type option struct {
	name, value string
	hasValue    bool
}

// splitOptions splits the text between a rule's parentheses at ";" that
// are neither escaped ("\;") nor inside double quotes.
func splitOptions(body string, bad func(string)) []option {
	var opts []option
	i := 0
	for i < len(body) {
		for i < len(body) && (body[i] == ' ' || body[i] == '\t') {
			i++
		}
		if i == len(body) {
			break
		}
		start := i
		for i < len(body) && body[i] != ':' && body[i] != ';' {
			i++
		}
		name := strings.TrimSpace(body[start:i])
		if i == len(body) || body[i] == ';' {
			if name != "" {
				opts = append(opts, option{name: name})
			}
			i++
			continue
		}
		i++ // ':'
		vstart, quoted := i, false
		for i < len(body) {
			c := body[i]
			if c == '\\' {
				i += 2
				continue
			}
			if c == '"' {
				quoted = !quoted
			} else if c == ';' && !quoted {
				break
			}
			i++
		}
		if i > len(body) {
			i = len(body)
		}
		if quoted {
			bad(fmt.Sprintf("option %s: unterminated quoted string", short(name)))
		}
		opts = append(opts, option{name: name, value: body[vstart:i], hasValue: true})
		i++ // ';'
	}
	return opts
}

func validOptionName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return name != ""
}

// silentOptions are options that neither the sensor enforces nor change
// which packets a rule matches, so ignoring them needs no warning.
var silentOptions = map[string]bool{"metadata": true, "target": true, "tag": true}

// options parses a rule's options into rule. It returns the names of
// options it ignored that Snort would enforce (content, flow, ...).
func (s *snortParser) options(body string, rule *Rule, bad func(string)) (ignored []string) {
	var haveMsg, haveSID, haveRev, haveGID, haveClass, havePrio bool
	rule.GID = 1
	once := func(have *bool, name string) bool {
		if *have {
			bad(name + " given twice")
			return false
		}
		*have = true
		return true
	}
	for _, o := range splitOptions(body, bad) {
		name := strings.ToLower(o.name)
		if !validOptionName(name) {
			bad(fmt.Sprintf("bad option name %s", short(o.name)))
			continue
		}
		v := strings.TrimSpace(o.value)
		needValue := func() bool {
			if !o.hasValue || v == "" {
				bad(name + " needs a value")
				return false
			}
			return true
		}
		switch name {
		case "msg":
			if !once(&haveMsg, name) || !needValue() {
				continue
			}
			msg, reason := unquote(v)
			if reason != "" {
				bad("msg: " + reason)
			} else if msg == "" {
				bad("msg is empty")
			}
			rule.Msg = msg
		case "sid":
			if once(&haveSID, name) && needValue() {
				rule.SID = parseNumber(name, v, true, bad)
			}
		case "rev":
			if once(&haveRev, name) && needValue() {
				rule.Rev = parseNumber(name, v, false, bad)
			}
		case "gid":
			if once(&haveGID, name) && needValue() {
				rule.GID = parseNumber(name, v, true, bad)
			}
		case "priority":
			if once(&havePrio, name) && needValue() {
				rule.Priority = parseNumber(name, v, true, bad)
			}
		case "classtype":
			if !once(&haveClass, name) || !needValue() {
				continue
			}
			if strings.ContainsAny(v, " \t\"") {
				bad(fmt.Sprintf("classtype %s is not a class name", short(v)))
				continue
			}
			if t := s.l.opts.Classes; t != nil {
				if _, ok := t.Lookup(v); !ok {
					bad(fmt.Sprintf("unknown classtype %s", short(v)))
					continue
				}
			}
			rule.Classtype = strings.Clone(v)
		case "reference":
			if !needValue() {
				continue
			}
			typ, val, ok := strings.Cut(v, ",")
			typ, val = strings.TrimSpace(typ), strings.TrimSpace(val)
			if !ok || typ == "" || val == "" {
				bad(fmt.Sprintf("reference %s is not type,value", short(v)))
				continue
			}
			rule.References = append(rule.References, typ+","+val)
		case "threshold":
			if rule.Threshold != nil {
				bad("threshold given twice")
				continue
			}
			if needValue() {
				rule.Threshold = parseThreshold(v, bad)
			}
		case "fwsam":
			if rule.Block != 0 {
				bad("fwsam given twice")
				continue
			}
			d, reason := parseFwsam(v)
			if reason != "" {
				bad("fwsam: " + reason)
				continue
			}
			rule.Block = d
		default:
			if !silentOptions[name] && !containsString(ignored, name) {
				ignored = append(ignored, name)
			}
		}
	}
	if !haveMsg {
		bad("rule has no msg")
	}
	if !haveSID {
		bad("rule has no sid")
	}
	return ignored
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseNumber parses a uint32 option value; positive rejects 0.
func parseNumber(name, v string, positive bool, bad func(string)) uint32 {
	n, err := strconv.ParseUint(v, 10, 32)
	switch {
	case errors.Is(err, strconv.ErrRange):
		bad(fmt.Sprintf("%s %s is out of range", name, short(v)))
	case err != nil:
		bad(fmt.Sprintf("%s %s is not a number", name, short(v)))
	case positive && n == 0:
		bad(name + " must be 1 or more")
	}
	return uint32(n)
}

// unquote reads a msg value: a double-quoted string in which a backslash
// escapes the next character (\" \; \\), or, leniently, an unquoted one.
// The result never shares memory with v.
func unquote(v string) (string, string) {
	var b strings.Builder
	b.Grow(len(v))
	quoted := v[0] == '"'
	i := 0
	if quoted {
		i = 1
	}
	for ; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\':
			if i+1 == len(v) {
				return "", "ends with a lone backslash"
			}
			i++
			b.WriteByte(v[i])
		case c == '"' && quoted:
			if rest := strings.TrimSpace(v[i+1:]); rest != "" {
				return "", fmt.Sprintf("unexpected %s after the closing quote", short(rest))
			}
			return b.String(), ""
		case c == '"':
			return "", "unescaped quote in an unquoted msg"
		default:
			b.WriteByte(c)
		}
	}
	if quoted {
		return "", "no closing quote"
	}
	return b.String(), ""
}

// parseThreshold reads "type limit, track by_src, count 1, seconds 3600"
// (settings in any order; all four are required, as in Snort).
func parseThreshold(v string, bad func(string)) *Threshold {
	t := &Threshold{}
	var haveType, haveTrack, haveCount, haveSeconds bool
	ok := true
	fail := func(reason string) { ok = false; bad("threshold: " + reason) }
	for _, part := range strings.Split(v, ",") {
		f := strings.Fields(part)
		if len(f) != 2 {
			fail(fmt.Sprintf("%s is not \"setting value\"", short(strings.TrimSpace(part))))
			continue
		}
		key, val := strings.ToLower(f[0]), f[1]
		dup := func(have *bool) bool {
			if *have {
				fail(key + " given twice")
				return true
			}
			*have = true
			return false
		}
		switch key {
		case "type":
			if dup(&haveType) {
				continue
			}
			switch lv := strings.ToLower(val); lv { // constants: lv may alias the file
			case "limit":
				t.Type = "limit"
			case "threshold":
				t.Type = "threshold"
			case "both":
				t.Type = "both"
			default:
				fail(fmt.Sprintf("type %s is not limit, threshold or both", short(val)))
			}
		case "track":
			if dup(&haveTrack) {
				continue
			}
			switch strings.ToLower(val) {
			case "by_src":
				t.Track = "by_src"
			case "by_dst":
				t.Track = "by_dst"
			default:
				fail(fmt.Sprintf("track %s is not by_src or by_dst", short(val)))
			}
		case "count", "seconds":
			have := &haveCount
			if key == "seconds" {
				have = &haveSeconds
			}
			if dup(have) {
				continue
			}
			n := parseNumber(key, val, true, fail)
			if key == "count" {
				t.Count = n
			} else {
				t.Seconds = n
			}
		default:
			fail(fmt.Sprintf("unknown setting %s (want type, track, count and seconds)", short(f[0])))
		}
	}
	for _, m := range []struct {
		have bool
		name string
	}{{haveType, "type"}, {haveTrack, "track"}, {haveCount, "count"}, {haveSeconds, "seconds"}} {
		if !m.have {
			fail("missing " + m.name)
		}
	}
	if !ok {
		return nil
	}
	return t
}

var fwsamWho = map[string]bool{"src": true, "source": true, "dst": true, "dest": true, "destination": true}

var fwsamHow = map[string]bool{
	"in": true, "out": true, "src": true, "source": true, "dst": true, "dest": true, "destination": true,
	"either": true, "both": true, "this": true, "conn": true, "connection": true,
}

var fwsamForever = map[string]bool{
	"permanent": true, "perm": true, "infinite": true, "inf": true, "forever": true, "always": true,
}

var fwsamUnits = map[string]int64{
	"": 1, "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
	"m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
	"h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
	"d": 86400, "day": 86400, "days": 86400,
	"w": 7 * 86400, "wk": 7 * 86400, "wks": 7 * 86400, "week": 7 * 86400, "weeks": 7 * 86400,
	"mo": 30 * 86400, "mon": 30 * 86400, "month": 30 * 86400, "months": 30 * 86400,
	"y": 365 * 86400, "yr": 365 * 86400, "yrs": 365 * 86400, "year": 365 * 86400, "years": 365 * 86400,
}

// parseFwsam reads SnortSam's "fwsam: who[how], time" and returns the
// block duration. who is src or dst (source, dest, destination), how one
// of in, out, either, both, this, conn (and their SnortSam synonyms); both
// are checked and dropped, as the model has no field for them. time is one
// or more "number [unit]" (units seconds to years, singular or plural,
// abbreviated as SnortSam allows; a month is 30 days, a year 365; no unit
// means seconds), or permanent/infinite/forever/always or 0 for
// BlockIndefinite. With no time at all the block lasts FwsamDefaultBlock,
// SnortSam's default. A time alone ("fwsam: 15 minutes") is accepted too.
func parseFwsam(v string) (time.Duration, string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, "needs who (src or dst) and a duration"
	}
	timePart := v
	if c := v[0]; c < '0' || c > '9' {
		whoPart, rest, hasTime := strings.Cut(v, ",")
		whoPart = strings.TrimSpace(whoPart)
		who, how := whoPart, ""
		if i := strings.IndexAny(whoPart, "[{"); i >= 0 {
			closer := byte(']')
			if whoPart[i] == '{' {
				closer = '}'
			}
			if whoPart[len(whoPart)-1] != closer {
				return 0, fmt.Sprintf("%s: unclosed %q", short(whoPart), whoPart[i:i+1])
			}
			who, how = strings.TrimSpace(whoPart[:i]), strings.TrimSpace(whoPart[i+1:len(whoPart)-1])
		}
		who = strings.ToLower(who)
		if fwsamForever[who] && how == "" && !hasTime {
			return BlockIndefinite, ""
		}
		if !fwsamWho[who] {
			return 0, fmt.Sprintf("who %s is not src or dst", short(who))
		}
		if how != "" && !fwsamHow[strings.ToLower(how)] {
			return 0, fmt.Sprintf("how %s is not in, out, either, both, this or conn", short(how))
		}
		if !hasTime {
			return FwsamDefaultBlock, ""
		}
		timePart = strings.TrimSpace(rest)
		if timePart == "" {
			return 0, "missing duration after the comma"
		}
	}
	if fwsamForever[strings.ToLower(timePart)] {
		return BlockIndefinite, ""
	}
	var total int64
	const maxSeconds = math.MaxInt64 / int64(time.Second)
	for i := 0; i < len(timePart); {
		for i < len(timePart) && (timePart[i] == ' ' || timePart[i] == '\t') {
			i++
		}
		if i == len(timePart) {
			break
		}
		ns := i
		for i < len(timePart) && timePart[i] >= '0' && timePart[i] <= '9' {
			i++
		}
		if ns == i {
			return 0, fmt.Sprintf("duration %s: expected a number at %s", short(timePart), short(timePart[i:]))
		}
		num, err := strconv.ParseInt(timePart[ns:i], 10, 64)
		for i < len(timePart) && (timePart[i] == ' ' || timePart[i] == '\t') {
			i++
		}
		us := i
		for i < len(timePart) && (timePart[i]|0x20 >= 'a' && timePart[i]|0x20 <= 'z') {
			i++
		}
		unit := strings.ToLower(timePart[us:i])
		mult, ok := fwsamUnits[unit]
		if !ok {
			return 0, fmt.Sprintf("duration %s: unknown unit %q (want seconds, minutes, hours, days, weeks, months or years)", short(timePart), timePart[us:i])
		}
		if err != nil || num > (maxSeconds-total)/mult {
			return 0, fmt.Sprintf("duration %s is too long", short(timePart))
		}
		total += num * mult
	}
	if total == 0 {
		return BlockIndefinite, ""
	}
	return time.Duration(total) * time.Second, ""
}

// ParseThreshold reads a Snort threshold option's value ("type limit,
// track by_src, count 1, seconds 60"), e.g. for a default threshold given
// on the command line. The error lists every problem.
func ParseThreshold(v string) (*Threshold, error) {
	var problems []string
	t := parseThreshold(v, func(reason string) { problems = append(problems, reason) })
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return t, nil
}

// ApplyDefaultThreshold gives every rule that came from a feed without
// rules of its own (plain lists, Spamhaus, FireHOL, Feodo, iprep) the
// threshold t, unless it has one. Rules from Snort files keep their own
// semantics: no threshold means an alert per packet.
func (l *List) ApplyDefaultThreshold(t *Threshold) {
	if t == nil {
		return
	}
	snort := map[string]bool{}
	for _, f := range l.Files {
		if f.Format == FormatSnort {
			snort[f.Path] = true
		}
	}
	for i := range l.Rules {
		r := &l.Rules[i]
		path := r.Source
		if j := strings.LastIndexByte(path, ':'); j >= 0 {
			path = path[:j]
		}
		if r.Threshold == nil && !snort[path] {
			c := *t
			r.Threshold = &c
		}
	}
}

package blocklist

import (
	"fmt"
	"strconv"
	"strings"
)

// FeodoSIDBase is the start of the SIDs of Feodo Tracker CSV rules; see
// FeodoSID.
const FeodoSIDBase = 3200000

// FeodoSID is the SID of the rule of a Feodo Tracker malware family:
// FeodoSIDBase plus the FNV-1a hash of the lower-cased name modulo
// 100000. It depends on the name only, so a family keeps its SID as the
// feed changes (the list is regenerated every few minutes and families
// come and go), whatever the file's position among the files loaded.
func FeodoSID(malware string) uint32 {
	h := uint32(2166136261)
	for _, c := range []byte(strings.ToLower(strings.TrimSpace(malware))) {
		h ^= uint32(c)
		h *= 16777619
	}
	return FeodoSIDBase + h%100000
}

// feodoColumns are the indexes of the fields a Feodo Tracker CSV row
// needs, -1 for a column the header does not have.
type feodoColumns struct {
	names                      []string // the header's names, for messages
	ip, port, status, last, mw int
}

// The columns of Feodo Tracker's ipblocklist.csv, read when a file has no
// header row.
var feodoDefaultColumns = feodoColumns{
	names: []string{"first_seen_utc", "dst_ip", "dst_port", "c2_status", "last_online", "malware"},
	ip:    1, port: 2, status: 3, last: 4, mw: 5,
}

// feodoCSVParser reads Feodo Tracker's ipblocklist.csv (see Load).
type feodoCSVParser struct {
	l        *loader
	path     string
	why      string
	h        feodoHeader
	cols     feodoColumns
	rows     bool           // a data line (the header row included) was read
	families map[string]int // lower-cased malware name -> rule
	fields   []string
}

func (l *loader) newFeodoCSV(path, why string) *feodoCSVParser {
	return &feodoCSVParser{l: l, path: path, why: why, cols: feodoDefaultColumns, families: map[string]int{}}
}

func (p *feodoCSVParser) line(n int, text string) {
	l := p.l
	t := strings.TrimSpace(text)
	if t == "" {
		return
	}
	if t[0] == '#' {
		if body := strings.TrimSpace(t[1:]); !p.rows && isFeodoCSVHeader(body) {
			p.header(n, body) // a commented header row
			return
		}
		p.h.line(l, p.path, n, t)
		return
	}
	if !p.rows {
		p.rows = true
		if isFeodoCSVHeader(t) {
			p.header(n, t)
			return
		}
	}
	if looksLikeRule(t) {
		l.problem(p.path, n, "this looks like a Snort rule, but the file is read as a Feodo Tracker CSV ("+p.why+")")
		return
	}
	f, reason := splitCSV(t, p.fields[:0])
	p.fields = f
	if reason != "" {
		l.problem(p.path, n, reason)
		return
	}
	c := &p.cols
	if len(f) != len(c.names) {
		l.problem(p.path, n, fmt.Sprintf("%s has %d fields, want %d (%s)", short(t), len(f), len(c.names), strings.Join(c.names, ",")))
		return
	}
	before := len(l.problems)
	pfx, note, reason := parsePrefix(f[c.ip])
	if reason != "" {
		l.problem(p.path, n, "dst_ip "+reason)
	}
	var port uint64
	if c.port >= 0 && f[c.port] != "" {
		var err error
		if port, err = strconv.ParseUint(f[c.port], 10, 16); err != nil {
			l.problem(p.path, n, fmt.Sprintf("dst_port %s is not a port number (0-65535)", short(f[c.port])))
		}
	}
	malware := f[c.mw]
	if malware == "" {
		l.problem(p.path, n, "malware is empty")
	}
	if len(l.problems) > before {
		return
	}
	if note != "" {
		l.warn(p.path, n, note)
	}
	key := strings.ToLower(malware)
	rule, ok := p.families[key]
	if !ok {
		name := l.arena.clone(malware)
		rule = l.addRule(Rule{
			GID:        1,
			SID:        FeodoSID(name),
			Rev:        1,
			Msg:        "FEODO " + name + " C2",
			Classtype:  FeodoClasstype,
			References: []string{FeodoReference},
			Direction:  ListedAsDst,
			OtherNet:   NetHome,
			Source:     l.source(p.path, n),
			Updated:    p.h.updated,
		}, n)
		p.families[strings.ToLower(name)] = rule
	}
	var status, last string
	if c.status >= 0 {
		status = f[c.status]
	}
	if c.last >= 0 {
		last = f[c.last]
	}
	l.addFullEntry(Entry{Prefix: pfx, Rule: rule, Source: l.source(p.path, n), Feed: &FeedNote{Port: uint16(port), Ref: p.ref(status, last)}}, n)
}

// ref is an entry's Ref: "<c2_status>, last online <last_online>".
func (p *feodoCSVParser) ref(status, last string) string {
	if status == "" && last == "" {
		return ""
	}
	a := &p.l.arena
	start := a.reserve(len(status) + len(last) + 15)
	a.b.WriteString(status)
	if last != "" {
		if status != "" {
			a.b.WriteString(", ")
		}
		a.b.WriteString("last online ")
		a.b.WriteString(last)
	}
	return a.b.String()[start:]
}

// header reads the header row: the columns by name.
func (p *feodoCSVParser) header(n int, t string) {
	f, reason := splitCSV(t, nil)
	if reason != "" {
		p.l.problem(p.path, n, "header: "+reason)
		return
	}
	c := feodoColumns{ip: -1, port: -1, status: -1, last: -1, mw: -1}
	for i, name := range f {
		name = strings.ToLower(name)
		c.names = append(c.names, strings.Clone(name))
		switch name {
		case "dst_ip":
			c.ip = i
		case "dst_port":
			c.port = i
		case "c2_status":
			c.status = i
		case "last_online":
			c.last = i
		case "malware":
			c.mw = i
		}
	}
	for _, need := range []struct {
		name string
		i    int
	}{{"dst_ip", c.ip}, {"malware", c.mw}} {
		if need.i < 0 {
			p.l.problem(p.path, n, fmt.Sprintf("the header has no %q column", need.name))
		}
	}
	if c.ip >= 0 && c.mw >= 0 {
		p.cols = c
	}
}

func (p *feodoCSVParser) end(int) {}

// splitCSV splits one CSV line into out: fields are separated by commas
// and may be quoted ("a ""b"""), blanks around them are dropped. It
// returns the reason a line is malformed.
func splitCSV(s string, out []string) ([]string, string) {
	for {
		s = strings.TrimLeft(s, " \t")
		if !strings.HasPrefix(s, `"`) {
			i := strings.IndexByte(s, ',')
			if i < 0 {
				return append(out, strings.TrimSpace(s)), ""
			}
			out = append(out, strings.TrimSpace(s[:i]))
			s = s[i+1:]
			continue
		}
		end, escaped := -1, false
		for j := 1; j < len(s); j++ {
			if s[j] == '"' {
				if j+1 < len(s) && s[j+1] == '"' {
					j++
					escaped = true
					continue
				}
				end = j
				break
			}
		}
		if end < 0 {
			return out, fmt.Sprintf("unterminated quoted field %s", short(s))
		}
		v := s[1:end]
		if escaped {
			v = strings.ReplaceAll(v, `""`, `"`)
		}
		out = append(out, v)
		rest := strings.TrimLeft(s[end+1:], " \t")
		if rest == "" {
			return out, ""
		}
		if rest[0] != ',' {
			return out, fmt.Sprintf("unexpected %s after a quoted field", short(rest))
		}
		s = rest[1:]
	}
}

package blocklist

import (
	"fmt"
	"strconv"
	"strings"
)

// IPRepSIDBase is the start of the SIDs of Suricata iprep rules: category
// id n is rule IPRepSIDBase+n.
const IPRepSIDBase = 3100000

// Suricata's limits: category ids 0 to SREP_MAX_CATS-1, scores 0 to
// SREP_MAX_VAL.
const (
	IPRepMaxCategory = 59
	IPRepMaxScore    = 127
)

// iprepCategory is one line of the categories file.
type iprepCategory struct {
	id          int
	short, desc string
	source      string // "path:line"
	at          pos
	rule        int // index into List.Rules, -1 until a list uses it
}

// iprepCategories is the categories file.
type iprepCategories struct {
	path    string
	byID    map[int]*iprepCategory
	byShort map[string]*iprepCategory
}

// parseCategories reads a Suricata iprep categories file: lines
// "<id>,<short name>,<description>" (the description may hold commas).
func (l *loader) parseCategories(in *input) {
	path := in.path
	if l.iprep != nil {
		l.fileProblem(path, fmt.Sprintf("is a second iprep categories file (the first is %s); load one", l.iprep.path))
		return
	}
	c := &iprepCategories{path: path, byID: map[int]*iprepCategory{}, byShort: map[string]*iprepCategory{}}
	l.iprep = c
	for n, line := range numberedLines(in.text) {
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' {
			continue
		}
		id, rest, ok1 := strings.Cut(t, ",")
		name, desc, ok2 := strings.Cut(rest, ",")
		if !ok1 || !ok2 {
			l.problem(path, n, fmt.Sprintf("%s: want <id>,<short name>,<description>", short(t)))
			continue
		}
		id, name, desc = strings.TrimSpace(id), strings.TrimSpace(name), strings.TrimSpace(desc)
		num, err := strconv.Atoi(id)
		if err != nil || num < 0 || num > IPRepMaxCategory || !isDigits(id) {
			reason := fmt.Sprintf("category id %s is not a number from 0 to %d (Suricata's limit)", strconv.Quote(id), IPRepMaxCategory)
			if iprepKind(t) == iprepKindList {
				reason += "; this looks like a reputation line (<ip>,<category>,<score>), but the file is read as the categories file"
			}
			l.problem(path, n, reason)
			continue
		}
		if name == "" {
			l.problem(path, n, fmt.Sprintf("category %d has an empty short name", num))
			continue
		}
		if o := c.byID[num]; o != nil {
			l.problem(path, n, fmt.Sprintf("category %d is already defined at %s", num, o.source))
			continue
		}
		if o := c.byShort[name]; o != nil {
			l.problem(path, n, fmt.Sprintf("short name %q is already category %d at %s", name, o.id, o.source))
			continue
		}
		cat := &iprepCategory{
			id:     num,
			short:  l.arena.clone(name),
			desc:   l.arena.clone(desc),
			source: l.source(path, n),
			at:     pos{l.file, int32(n)},
			rule:   -1,
		}
		c.byID[num] = cat
		c.byShort[cat.short] = cat
	}
	if len(c.byID) == 0 {
		l.fileWarn(path, "defines no iprep categories")
	}
}

// iprepListParser reads a Suricata iprep reputation list: lines
// "<ip or CIDR>,<category id>,<score>".
type iprepListParser struct {
	l    *loader
	path string
	why  string
}

func (l *loader) newIPRepList(path, why string) *iprepListParser {
	return &iprepListParser{l: l, path: path, why: why}
}

func (p *iprepListParser) line(n int, text string) {
	l := p.l
	t := strings.TrimSpace(text)
	if t == "" || t[0] == '#' {
		return
	}
	if looksLikeRule(t) {
		l.problem(p.path, n, "this looks like a Snort rule, but the file is read as a Suricata iprep list ("+p.why+")")
		return
	}
	f := strings.Split(t, ",")
	if len(f) != 3 {
		l.problem(p.path, n, fmt.Sprintf("%s: want <ip>,<category>,<score>", short(t)))
		return
	}
	addr, catID, score := strings.TrimSpace(f[0]), strings.TrimSpace(f[1]), strings.TrimSpace(f[2])
	if addr == "ip" {
		return // Suricata's header line
	}
	before := len(l.problems)
	pfx, note, reason := parsePrefix(addr)
	if reason != "" {
		l.problem(p.path, n, reason)
	}
	var cat *iprepCategory
	if id, err := strconv.Atoi(catID); err != nil || !isDigits(catID) {
		l.problem(p.path, n, fmt.Sprintf("category %s is not a number", strconv.Quote(catID)))
	} else if cat = l.iprep.byID[id]; cat == nil {
		l.problem(p.path, n, fmt.Sprintf("category %d is not defined in the categories file %s", id, l.iprep.path))
	}
	v, err := strconv.Atoi(score)
	switch {
	case err != nil || !isDigits(score):
		l.problem(p.path, n, fmt.Sprintf("score %s is not a number (0-%d)", strconv.Quote(score), IPRepMaxScore))
	case v > IPRepMaxScore:
		l.problem(p.path, n, fmt.Sprintf("score %d is out of range (0-%d)", v, IPRepMaxScore))
	}
	if len(l.problems) > before {
		return
	}
	if note != "" {
		l.warn(p.path, n, note)
	}
	if v == 0 {
		l.warn(p.path, n, fmt.Sprintf("%s has score 0 in category %s, which Suricata reads as no data: skipped", addr, cat.short))
		return
	}
	if cat.rule < 0 {
		msg := "IPREP " + cat.short
		if cat.desc != "" {
			msg += ": " + cat.desc
		}
		l.list.Rules = append(l.list.Rules, Rule{
			GID:       1,
			SID:       uint32(IPRepSIDBase + cat.id),
			Rev:       1,
			Msg:       msg,
			Classtype: PlainClasstype,
			Direction: ListedAsAny,
			OtherNet:  NetAny,
			Source:    cat.source,
		})
		l.rulePos = append(l.rulePos, cat.at)
		cat.rule = len(l.list.Rules) - 1
	}
	l.addFullEntry(Entry{Prefix: pfx, Rule: cat.rule, Source: l.source(p.path, n), Feed: &FeedNote{Score: uint8(v)}}, n)
}

func (p *iprepListParser) end(int) {}

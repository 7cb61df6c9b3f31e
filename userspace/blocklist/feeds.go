package blocklist

import (
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The feeds that are plain lists with a header: Spamhaus DROP, FireHOL
// .ipset/.netset and Feodo Tracker's ipblocklist.txt. Each is a
// plainParser with a header reader and its own rule; Load documents what
// they become.

// commentText is a whole-line comment less its marks and blanks, and less
// the "#" that closes a line of abuse.ch's banner box.
func commentText(c string) string {
	return strings.TrimSpace(strings.Trim(c, "#; \t"))
}

// headerField splits "Key : value" (any blanks around the colon).
func headerField(body string) (key, value string, ok bool) {
	k, v, ok := strings.Cut(body, ":")
	if !ok {
		return "", "", false
	}
	return strings.TrimSpace(k), strings.TrimSpace(v), true
}

// isURL reports whether s is one bare http(s) URL.
func isURL(s string) bool {
	return (strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")) && !strings.ContainsAny(s, " \t")
}

// parseDate reads a feed's date in any of the layouts given, as UTC.
func parseDate(s string, layouts ...string) (time.Time, bool) {
	for _, layout := range layouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// badDate is the warning about a header date that does not parse.
func badDate(key, value string) string {
	return "cannot read the date " + strconv.Quote(value) + " of " + key + "; ignored"
}

// HTTP-style dates, as Spamhaus writes them ("Wed, 07 Oct 2026 17:01:40 GMT").
var httpDateLayouts = []string{time.RFC1123, time.RFC1123Z, "Mon, _2 Jan 2006 15:04:05 MST", time.RFC850, time.ANSIC}

// baseName is the file's base name less its extension, for rule names.
func baseName(path string) string {
	b := filepath.Base(path)
	if e := filepath.Ext(b); e != "" && e != b {
		b = strings.TrimSuffix(b, e)
	}
	return b
}

// Spamhaus DROP, EDROP and DROPv6.

type spamhausHeader struct {
	list    string // DROP, EDROP or DROPv6
	refs    []string
	updated time.Time
	expires time.Time
}

func (l *loader) newSpamhaus(index int, path, why string, linesLeft func() int) *plainParser {
	p := l.newPlain(index, path, why, linesLeft)
	p.kind = "a Spamhaus DROP list"
	p.refs = true
	h := &spamhausHeader{list: "DROP"}
	p.header = func(n int, c string) {
		body := commentText(c)
		switch f := strings.Fields(body); {
		case len(f) >= 2 && isSpamhausBanner(body):
			h.list = spamhausListName(f[1])
		case isURL(body) && h.refs == nil:
			h.refs = []string{"url," + l.arena.clone(body)}
		}
		key, value, ok := headerField(body)
		if !ok {
			return
		}
		var dst *time.Time
		switch strings.ToLower(key) {
		case "last-modified":
			dst = &h.updated
		case "expires":
			dst = &h.expires
		default:
			return
		}
		if t, ok := parseDate(value, httpDateLayouts...); ok {
			*dst = t
		} else {
			l.warn(path, n, badDate(key, value))
		}
	}
	p.newRule = func() Rule {
		return Rule{
			GID:        1,
			SID:        uint32(PlainSIDBase + index),
			Rev:        1,
			Msg:        "SPAMHAUS " + h.list + " Listed Traffic (" + filepath.Base(path) + ")",
			Classtype:  "misc-attack",
			References: h.refs,
			Direction:  ListedAsAny,
			OtherNet:   NetAny,
			Source:     path + ":1",
			Updated:    h.updated,
			Expires:    h.expires,
		}
	}
	return p
}

// FireHOL .ipset and .netset.

type fireholHeader struct {
	word     string // the last one-word comment: the name, if the "hash:net" line follows
	name     string
	category string
	version  uint32
	source   string // List source URL
	page     string // the iplists.firehol.org page
	updated  time.Time
}

func (l *loader) newFireHOL(index int, path, why string, linesLeft func() int) *plainParser {
	p := l.newPlain(index, path, why, linesLeft)
	p.kind = "a FireHOL ipset"
	h := &fireholHeader{}
	p.header = func(n int, c string) {
		body := commentText(c)
		if body == "" {
			return
		}
		if !strings.ContainsAny(body, " \t:") {
			h.word = body
			return
		}
		if h.name == "" && h.word != "" && isFireHOLSetLine(body) {
			h.name = l.arena.clone(h.word)
			return
		}
		if isURL(body) {
			if h.page == "" {
				h.page = l.arena.clone(body)
			}
			return
		}
		key, value, ok := headerField(body)
		if !ok {
			return
		}
		switch key {
		case "Category":
			h.category = l.arena.clone(value)
		case "Version":
			if v, err := strconv.ParseUint(value, 10, 32); err == nil {
				h.version = uint32(v)
			}
		case "List source URL":
			if value != "" {
				h.source = l.arena.clone(value)
			}
		case "This File Date":
			if t, ok := parseDate(value, time.UnixDate); ok {
				h.updated = t
			} else {
				l.warn(path, n, badDate(key, value))
			}
		}
	}
	p.newRule = func() Rule {
		name := h.name
		if name == "" {
			name = baseName(path)
		}
		msg := "FIREHOL " + name
		if h.category != "" {
			msg += " (" + h.category + ")"
		}
		rev := h.version
		if rev == 0 {
			rev = 1
		}
		var refs []string
		if h.source != "" {
			refs = append(refs, "url,"+h.source)
		}
		if h.page != "" {
			refs = append(refs, "url,"+h.page)
		}
		return Rule{
			GID:        1,
			SID:        uint32(PlainSIDBase + index),
			Rev:        rev,
			Msg:        msg,
			Classtype:  fireholClasstype(h.category),
			References: refs,
			Direction:  ListedAsAny,
			OtherNet:   NetAny,
			Source:     path + ":1",
			Updated:    h.updated,
		}
	}
	return p
}

// fireholClasstype maps a FireHOL category to a Snort classtype.
func fireholClasstype(category string) string {
	c := strings.ToLower(category)
	switch {
	case strings.Contains(c, "malware"):
		return "trojan-activity"
	case strings.Contains(c, "attacks"):
		return "misc-attack"
	}
	return PlainClasstype
}

// Feodo Tracker.

// FeodoReference is the reference of Feodo Tracker rules.
const FeodoReference = "url,https://feodotracker.abuse.ch/"

// FeodoClasstype is the classtype of Feodo Tracker rules.
const FeodoClasstype = "trojan-activity"

// feodoHeader reads the "# Last updated: 2021-08-17 15:00:42 UTC" line of
// the banner of both Feodo Tracker formats.
type feodoHeader struct {
	updated time.Time
}

func (h *feodoHeader) line(l *loader, path string, n int, c string) {
	key, value, ok := headerField(commentText(c))
	if !ok || !strings.EqualFold(key, "Last updated") {
		return
	}
	if t, ok := parseDate(value, "2006-01-02 15:04:05 MST", "2006-01-02 15:04:05"); ok {
		h.updated = t
	} else {
		l.warn(path, n, badDate(key, value))
	}
}

func (l *loader) newFeodo(index int, path, why string, linesLeft func() int) *plainParser {
	p := l.newPlain(index, path, why, linesLeft)
	p.kind = "a Feodo Tracker IP blocklist"
	h := &feodoHeader{}
	p.header = func(n int, c string) { h.line(l, path, n, c) }
	p.newRule = func() Rule {
		return Rule{
			GID:        1,
			SID:        uint32(PlainSIDBase + index),
			Rev:        1,
			Msg:        "FEODO botnet C2 (" + filepath.Base(path) + ")",
			Classtype:  FeodoClasstype,
			References: []string{FeodoReference},
			Direction:  ListedAsDst,
			OtherNet:   NetHome,
			Source:     path + ":1",
			Updated:    h.updated,
		}
	}
	return p
}

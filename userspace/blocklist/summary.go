package blocklist

import (
	"fmt"
	"strconv"
	"strings"
)

// File is one input of a List.
type File struct {
	Path   string
	Format string // the format it was read as: FormatPlain, FormatSnort, ... (never FormatAuto)
}

// Counts counts entries by the kernel table they go to. Two entries of a
// prefix (for the two directions) count twice, though the installer
// merges them into one kernel entry.
type Counts struct {
	ExactV4, ExactV6, PrefixV4, PrefixV6 int
}

// Total is the number of entries counted.
func (c Counts) Total() int { return c.ExactV4 + c.ExactV6 + c.PrefixV4 + c.PrefixV6 }

func (c *Counts) add(e Entry) {
	switch v4 := e.Prefix.Addr().Is4(); {
	case e.Exact() && v4:
		c.ExactV4++
	case e.Exact():
		c.ExactV6++
	case v4:
		c.PrefixV4++
	default:
		c.PrefixV6++
	}
}

// FileStats is what one file contributes to a List.
type FileStats struct {
	Path   string
	Format string // "" when the List does not record it (built by hand)
	Rules  int    // rules whose Source is in the file
	Counts        // entries whose Source is in the file (kept ones: after dedup)
}

// Stats returns the entries and rules of each file, attributed by their
// Source, in the order of List.Files, then of any other file named by a
// Source, in the order first named (rules first, then entries).
func (l *List) Stats() []FileStats {
	var out []FileStats
	at := map[string]int{}
	get := func(path string) *FileStats {
		i, ok := at[path]
		if !ok {
			i = len(out)
			at[path] = i
			out = append(out, FileStats{Path: path})
		}
		return &out[i]
	}
	for _, f := range l.Files {
		get(f.Path).Format = f.Format
	}
	for _, r := range l.Rules {
		get(sourcePath(r.Source)).Rules++
	}
	// Entries of a file are mostly together: skip the map while the path
	// stays the same.
	var last string
	var cur *FileStats
	for _, e := range l.Entries {
		if p := sourcePath(e.Source); cur == nil || p != last {
			last, cur = p, get(p)
		}
		cur.add(e)
	}
	return out
}

// Counts counts all the entries of the list by kind.
func (l *List) Counts() Counts {
	var c Counts
	for _, e := range l.Entries {
		c.add(e)
	}
	return c
}

// sourcePath is the path of a "path:line" Source.
func sourcePath(source string) string {
	if i := strings.LastIndexByte(source, ':'); i >= 0 {
		if _, err := strconv.Atoi(source[i+1:]); err == nil {
			return source[:i]
		}
	}
	return source
}

// Summary describes the list for people, one line for the whole and one
// indented line for each file (see Stats), for example:
//
//	3 files, 4 rules, 7 entries (2 exact IPv4, 1 exact IPv6, 3 IPv4 prefixes, 1 IPv6 prefix), 2 warnings
//	  lists/drop.txt (spamhaus): 1 rule, 4 entries (3 IPv4 prefixes, 1 IPv6 prefix)
//	  lists/ipblocklist.csv (feodo-csv): 2 rules, 3 entries (2 exact IPv4, 1 exact IPv6)
//	  lists/empty.txt (plain): no rules, no entries
//
// Kinds with no entries are left out. Entries are those kept after
// duplicates were dropped. The format is left out for files the List does
// not record (one built by hand).
func (l *List) Summary() string {
	stats := l.Stats()
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %s, %s, %s", plural(len(stats), "file", "files"), plural(len(l.Rules), "rule", "rules"),
		describeCounts(l.Counts()), plural(len(l.Warnings), "warning", "warnings"))
	for _, s := range stats {
		b.WriteString("\n  ")
		b.WriteString(s.Path)
		if s.Format != "" {
			b.WriteString(" (" + s.Format + ")")
		}
		b.WriteString(": " + plural(s.Rules, "rule", "rules") + ", " + describeCounts(s.Counts))
	}
	return b.String()
}

func describeCounts(c Counts) string {
	if c.Total() == 0 {
		return "no entries"
	}
	var kinds []string
	for _, k := range []struct {
		n         int
		one, more string
	}{
		{c.ExactV4, "exact IPv4", "exact IPv4"},
		{c.ExactV6, "exact IPv6", "exact IPv6"},
		{c.PrefixV4, "IPv4 prefix", "IPv4 prefixes"},
		{c.PrefixV6, "IPv6 prefix", "IPv6 prefixes"},
	} {
		if k.n > 0 {
			kinds = append(kinds, plural(k.n, k.one, k.more))
		}
	}
	return plural(c.Total(), "entry", "entries") + " (" + strings.Join(kinds, ", ") + ")"
}

func plural(n int, one, more string) string {
	switch n {
	case 0:
		return "no " + more
	case 1:
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + more
}

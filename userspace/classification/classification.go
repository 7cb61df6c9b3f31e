// Package classification reads Snort's classification.config, which names
// the classtypes rules refer to, with a description and a default
// priority, and has the table Snort 2.9 ships built in.
package classification

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// Class is one classtype.
type Class struct {
	Name        string // short name rules use: classtype:trojan-activity
	Description string // what alerts print: "A Network Trojan was detected"
	Priority    uint32 // default priority of rules of this class; 1 is the most severe
}

// Table is a set of classes. Names are looked up case-insensitively, as
// Snort does. A Table is read-only once built and safe for concurrent use.
type Table struct {
	classes []Class
	byName  map[string]int // lower-case name -> index in classes
}

// Lookup returns the class called name. A nil Table has no classes.
func (t *Table) Lookup(name string) (Class, bool) {
	if t == nil {
		return Class{}, false
	}
	i, ok := t.byName[strings.ToLower(name)]
	if !ok {
		return Class{}, false
	}
	return t.classes[i], true
}

// Classes returns a copy of the classes in the order they were defined.
func (t *Table) Classes() []Class {
	if t == nil {
		return nil
	}
	return append([]Class(nil), t.classes...)
}

// Len returns the number of classes.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.classes)
}

// Parse reads a classification.config: lines
//
//	config classification: shortname,short description,priority
//
// with "#" comment lines and blank lines ignored. A comma inside a field
// is escaped with a backslash. The name must be a single word, the
// description non-empty, the priority a number of 1 or more; a name
// defined twice is an error. It reports every problem, each
// "name:line: reason", joined with errors.Join (one a line in Error()).
func Parse(name string, r io.Reader) (*Table, error) {
	t := &Table{byName: map[string]int{}}
	where := map[string]int{} // lower-case name -> line
	var errs []error
	bad := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...)))
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimSpace(strings.TrimPrefix(line, "\ufeff"))
		}
		if line == "" || line[0] == '#' {
			continue
		}
		args, ok := cutDirective(line)
		if !ok {
			bad(n, "expected \"config classification: name,description,priority\", got %s", short(line))
			continue
		}
		fields := splitEscaped(args)
		if len(fields) != 3 {
			bad(n, "expected name,description,priority, got %d fields in %s", len(fields), short(args))
			continue
		}
		cname, desc, prio := fields[0], fields[1], fields[2]
		lineOK := true
		if cname == "" || strings.ContainsAny(cname, " \t") {
			bad(n, "class name %q is not a single word", cname)
			lineOK = false
		}
		if desc == "" {
			bad(n, "class %q has an empty description", cname)
			lineOK = false
		}
		p, err := strconv.ParseUint(prio, 10, 32)
		if err != nil || p == 0 {
			bad(n, "priority %q of class %q is not a number of 1 or more", prio, cname)
			lineOK = false
		}
		if !lineOK {
			continue
		}
		key := strings.ToLower(cname)
		if first, dup := where[key]; dup {
			bad(n, "class %q is already defined at %s:%d", cname, name, first)
			continue
		}
		where[key] = n
		t.byName[key] = len(t.classes)
		t.classes = append(t.classes, Class{Name: cname, Description: desc, Priority: uint32(p)})
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s:%d: cannot read: %w", name, n+1, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// cutDirective returns what follows "config classification:" (blanks
// allowed around the words and the colon).
func cutDirective(line string) (string, bool) {
	rest, ok := cutWord(line, "config")
	if !ok {
		return "", false
	}
	rest, ok = cutWord(strings.TrimLeft(rest, " \t"), "classification")
	if !ok {
		return "", false
	}
	rest = strings.TrimLeft(rest, " \t")
	if !strings.HasPrefix(rest, ":") {
		return "", false
	}
	return strings.TrimSpace(rest[1:]), true
}

// cutWord removes word (case-insensitively) from the start of s, if it is
// followed by a blank, a colon or nothing.
func cutWord(s, word string) (string, bool) {
	if len(s) < len(word) || !strings.EqualFold(s[:len(word)], word) {
		return "", false
	}
	rest := s[len(word):]
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' && rest[0] != ':' {
		return "", false
	}
	return rest, true
}

// splitEscaped splits s at commas not preceded by a backslash, removes
// the escaping backslashes and trims each field.
func splitEscaped(s string) []string {
	var fields []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == ',':
			fields = append(fields, strings.TrimSpace(b.String()))
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(fields, strings.TrimSpace(b.String()))
}

func short(s string) string {
	if len(s) > 60 {
		return strconv.Quote(s[:57]) + "..."
	}
	return strconv.Quote(s)
}

// standard is the classification.config of Snort 2.9, in its order and
// wording (including its "Senstive Data"), so alerts read as Snort's did.
var standard = []Class{
	{"not-suspicious", "Not Suspicious Traffic", 3},
	{"unknown", "Unknown Traffic", 3},
	{"bad-unknown", "Potentially Bad Traffic", 2},
	{"attempted-recon", "Attempted Information Leak", 2},
	{"successful-recon-limited", "Information Leak", 2},
	{"successful-recon-largescale", "Large Scale Information Leak", 2},
	{"attempted-dos", "Attempted Denial of Service", 2},
	{"successful-dos", "Denial of Service", 2},
	{"attempted-user", "Attempted User Privilege Gain", 1},
	{"unsuccessful-user", "Unsuccessful User Privilege Gain", 1},
	{"successful-user", "Successful User Privilege Gain", 1},
	{"attempted-admin", "Attempted Administrator Privilege Gain", 1},
	{"successful-admin", "Successful Administrator Privilege Gain", 1},
	{"rpc-portmap-decode", "Decode of an RPC Query", 2},
	{"shellcode-detect", "Executable code was detected", 1},
	{"string-detect", "A suspicious string was detected", 3},
	{"suspicious-filename-detect", "A suspicious filename was detected", 2},
	{"suspicious-login", "An attempted login using a suspicious username was detected", 2},
	{"system-call-detect", "A system call was detected", 2},
	{"tcp-connection", "A TCP connection was detected", 4},
	{"trojan-activity", "A Network Trojan was detected", 1},
	{"unusual-client-port-connection", "A client was using an unusual port", 2},
	{"network-scan", "Detection of a Network Scan", 3},
	{"denial-of-service", "Detection of a Denial of Service Attack", 2},
	{"non-standard-protocol", "Detection of a non-standard protocol or event", 2},
	{"protocol-command-decode", "Generic Protocol Command Decode", 3},
	{"web-application-activity", "access to a potentially vulnerable web application", 2},
	{"web-application-attack", "Web Application Attack", 1},
	{"misc-activity", "Misc activity", 3},
	{"misc-attack", "Misc Attack", 2},
	{"icmp-event", "Generic ICMP event", 3},
	{"inappropriate-content", "Inappropriate Content was Detected", 1},
	{"policy-violation", "Potential Corporate Privacy Violation", 1},
	{"default-login-attempt", "Attempt to login by a default username and password", 2},
	{"sdf", "Senstive Data", 2},
	{"file-format", "Known malicious file or file based exploit", 1},
	{"malware-cnc", "Known malware command and control traffic", 1},
	{"client-side-exploit", "Known client side exploit attempt", 1},
}

var standardTable = sync.OnceValue(func() *Table {
	t := &Table{classes: standard, byName: make(map[string]int, len(standard))}
	for i, c := range standard {
		t.byName[c.Name] = i
	}
	return t
})

// Standard returns the table Snort 2.9 ships in etc/classification.config
// (38 classes). The same read-only *Table is returned on every call.
func Standard() *Table { return standardTable() }

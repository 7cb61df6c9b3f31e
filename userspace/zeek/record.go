package zeek

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Record appends one log line's fields, in the log's column order, as
// Zeek's ASCII writer writes them: tab-separated TSV ("-" for an unset
// field, "(empty)" for an empty string) or, with JSON, as it does under
// LogAscii::use_json=T: one JSON object a line, keyed by the column names
// ("id.orig_h"), unset fields left out (json_include_unset_fields=F),
// times as epoch seconds (JSON::TS_EPOCH). Every Zeek log xdpsensor
// writes goes through it, so each has both forms.
type Record struct {
	b    []byte
	json bool
	n    int // fields written
}

// NewRecord starts a line at the end of b.
func NewRecord(b []byte, json bool) *Record {
	r := &Record{b: b, json: json}
	if json {
		r.b = append(r.b, '{')
	}
	return r
}

// Bytes ends the line (without a newline) and returns it.
func (r *Record) Bytes() []byte {
	if r.json {
		return append(r.b, '}')
	}
	return r.b
}

// field starts a field that has a value.
func (r *Record) field(name string) {
	if r.json {
		if r.n > 0 {
			r.b = append(r.b, ',')
		}
		r.b = appendJSONString(r.b, name)
		r.b = append(r.b, ':')
	} else if r.n > 0 {
		r.b = append(r.b, '\t')
	}
	r.n++
}

// Unset writes an unset field: "-" in TSV, nothing in JSON.
func (r *Record) Unset(name string) {
	if r.json {
		return
	}
	if r.n > 0 {
		r.b = append(r.b, '\t')
	}
	r.b = append(r.b, '-')
	r.n++
}

// Time writes a time: seconds since the epoch with six decimals in TSV,
// the number in JSON.
func (r *Record) Time(name string, t time.Time) {
	r.field(name)
	if r.json {
		r.b = appendJSONDouble(r.b, seconds(t))
		return
	}
	r.b = appendTime(r.b, t)
}

// Interval writes the interval from start to end, as Zeek computes it
// from its double timestamps: six decimals in TSV, the difference of the
// two doubles in JSON.
func (r *Record) Interval(name string, start, end time.Time) {
	r.field(name)
	if r.json {
		r.b = appendJSONDouble(r.b, seconds(end)-seconds(start))
		return
	}
	r.b = appendInterval(r.b, time.Duration(micros(end)-micros(start))*time.Microsecond)
}

// String writes a string (or an enum): "(empty)" when empty in TSV.
func (r *Record) String(name, s string) {
	r.field(name)
	if r.json {
		r.b = appendZeekJSONString(r.b, s)
		return
	}
	r.b = appendString(r.b, s)
}

// OptString writes s, or an unset field when s is empty: the optional
// string columns are unset rather than empty when there is nothing to say.
func (r *Record) OptString(name, s string) {
	if s == "" {
		r.Unset(name)
		return
	}
	r.String(name, s)
}

// Set writes a set[string] (conn.log's tunnel_parents): its members
// joined by the set separator "," in TSV ("(empty)" for an empty set), an
// array in JSON.
func (r *Record) Set(name string, members []string) {
	r.field(name)
	switch {
	case r.json:
		r.b = append(r.b, '[')
		for i, m := range members {
			if i > 0 {
				r.b = append(r.b, ',')
			}
			r.b = appendZeekJSONString(r.b, m)
		}
		r.b = append(r.b, ']')
	case len(members) == 0:
		r.b = append(r.b, "(empty)"...)
	default:
		for i, m := range members {
			if i > 0 {
				r.b = append(r.b, ',')
			}
			r.b = appendString(r.b, m)
		}
	}
}

// Count writes a count.
func (r *Record) Count(name string, v uint64) {
	r.field(name)
	r.b = strconv.AppendUint(r.b, v, 10)
}

// Port writes a port number (its protocol is the log's proto column).
func (r *Record) Port(name string, p uint16) { r.Count(name, uint64(p)) }

// Addr writes an address as Zeek renders it (IPv6 compressed).
func (r *Record) Addr(name string, a netip.Addr) {
	r.field(name)
	if r.json {
		r.b = append(r.b, '"')
	}
	r.b = a.Unmap().AppendTo(r.b)
	if r.json {
		r.b = append(r.b, '"')
	}
}

// Bool writes T or F in TSV, true or false in JSON.
func (r *Record) Bool(name string, v bool) {
	r.field(name)
	switch {
	case r.json:
		r.b = strconv.AppendBool(r.b, v)
	case v:
		r.b = append(r.b, 'T')
	default:
		r.b = append(r.b, 'F')
	}
}

// seconds is a time as Zeek holds it: a double of seconds since the
// epoch, from whole seconds and microseconds as a capture gives them.
func seconds(t time.Time) float64 {
	us := micros(t)
	sec, frac := us/1e6, us%1e6
	if frac < 0 {
		sec, frac = sec-1, frac+1e6
	}
	return float64(sec) + float64(frac)/1e6
}

// appendJSONDouble writes v as Zeek's JSON writer (RapidJSON's
// Writer::Double) does: the shortest digits that read back as v, an
// integral value with ".0", exponents only for very large or small
// values (1e21, 1.5e-7), NaN and infinities as null.
func appendJSONDouble(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	if v == 0 {
		if math.Signbit(v) {
			b = append(b, '-')
		}
		return append(b, "0.0"...)
	}
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	// Shortest digits d1.d2d3…e±X, as v = digits × 10^k.
	e := strconv.FormatFloat(v, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k := x - (len(digits) - 1)
	kk := len(digits) + k // 10^(kk-1) <= v < 10^kk
	switch {
	case k >= 0 && kk <= 21:
		b = append(b, digits...)
		for i := 0; i < k; i++ {
			b = append(b, '0')
		}
		return append(b, ".0"...)
	case kk > 0 && kk <= 21:
		b = append(b, digits[:kk]...)
		b = append(b, '.')
		return append(b, digits[kk:]...)
	case kk > -6 && kk <= 0:
		b = append(b, "0."...)
		for i := 0; i < -kk; i++ {
			b = append(b, '0')
		}
		return append(b, digits...)
	case len(digits) == 1:
		b = append(b, digits...)
	default:
		b = append(b, digits[0], '.')
		b = append(b, digits[1:]...)
	}
	b = append(b, 'e')
	return strconv.AppendInt(b, int64(kk-1), 10)
}

// appendZeekJSONString writes a string value as Zeek's JSON writer does:
// bytes that are not valid UTF-8, and control characters, as the text
// \xNN (util::escape_utf8), then JSON-escaped.
func appendZeekJSONString(b []byte, s string) []byte {
	var esc []byte
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			esc = appendHexByte(esc, c)
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			if r, n := utf8.DecodeRuneInString(s[i:]); r != utf8.RuneError || n > 1 {
				esc = append(esc, s[i:i+n]...)
				i += n
				continue
			}
			esc = appendHexByte(esc, c)
			i++
			continue
		}
		esc = append(esc, c)
		i++
	}
	return appendJSONString(b, string(esc))
}

// appendJSONString writes s as a JSON string, escaping quotes,
// backslashes and control characters.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

package eve

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendHex2 writes v as a quoted two-digit lower-case hex string, as
// Suricata writes TCP flags ("%02x").
func appendHex2(b []byte, v uint8) []byte {
	const digits = "0123456789abcdef"
	return append(b, '"', digits[v>>4], digits[v&0xf], '"')
}

// appendUintMember writes a member whose value is a number: key is the
// constant text before it (`,"age":`).
func appendUintMember(b []byte, key string, v uint64) []byte {
	return appendUint(append(b, key...), v)
}

// appendUint is strconv.AppendUint(b, v, 10) written in place: most of a
// record's numbers are counts, ports and flags of one or two digits, and
// strconv copies even those out of a buffer of its own.
func appendUint(b []byte, v uint64) []byte {
	if v < 10 {
		return append(b, byte('0'+v))
	}
	// Digits: log10 from the bit length (1233/4096 ~ log10 2), less
	// one when v is below that power of ten.
	n := bits.Len64(v) * 1233 >> 12
	if v >= pow10[n] {
		n++
	}
	b = append(b, make([]byte, n)...)
	i := len(b)
	for v >= 100 {
		r := v % 100
		v /= 100
		i -= 2
		b[i], b[i+1] = pairs[2*r], pairs[2*r+1]
	}
	if v >= 10 {
		b[i-2], b[i-1] = pairs[2*v], pairs[2*v+1]
	} else {
		b[i-1] = byte('0' + v)
	}
	return b
}

// pow10[i] is 10^i; the last is the largest a uint64 holds.
var pow10 = func() (t [20]uint64) {
	t[0] = 1
	for i := 1; i < len(t); i++ {
		t[i] = t[i-1] * 10
	}
	return t
}()

// appendTime writes t in UTC as Suricata's EVE timestamps are written
// ("%Y-%m-%dT%H:%M:%S.%06u%z"): 2007-02-21T10:17:54.366236+0000. It is
// time.Time.AppendFormat with the layout "2006-01-02T15:04:05.000000-0700",
// unrolled: every record carries one to three timestamps, and the date
// comes from the Unix day by arithmetic (Howard Hinnant's civil_from_days)
// rather than time.Time.Date and Clock, which each work it out again.
func appendTime(b []byte, t time.Time) []byte {
	return appendTimeDated(b, t, nil)
}

// appendTimeDated is appendTime, taking the date from d when it holds
// t's day, and leaving it there.
func appendTimeDated(b []byte, t time.Time, d *dateText) []byte {
	sec := t.Unix()
	if sec < 0 || sec >= unixYear10000 {
		return t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000-0700")
	}
	start := len(b)
	b = append(b, make([]byte, 31)...) // 2006-01-02T15:04:05.000000+0000
	out := b[start : start+31]
	days, sod := sec/86400, int(sec%86400)
	switch {
	case d == nil:
		putDate(out[:11], int(days))
	case d.day == days+1:
		copy(out[:11], d.text[:])
	default:
		putDate(d.text[:], int(days))
		d.day = days + 1
		copy(out[:11], d.text[:])
	}
	put2(out[11:], sod/3600)
	out[13] = ':'
	put2(out[14:], sod/60%60)
	out[16] = ':'
	put2(out[17:], sod%60)
	out[19] = '.'
	us := t.Nanosecond() / 1000
	put2(out[20:], us/10000)
	put2(out[22:], us/100%100)
	put2(out[24:], us%100)
	copy(out[26:], "+0000")
	return b
}

// dateText is the date part of the last timestamp an encoder wrote:
// records come in time order, nearly all of a run on one day, and
// working the date out was half of writing a timestamp.
type dateText struct {
	day  int64 // the Unix day + 1; 0: none yet
	text [11]byte
}

// putDate writes the date of a Unix day (>= 0) and the T after it,
// 2006-01-02T, into b[:11]: Howard Hinnant's civil_from_days.
func putDate(b []byte, days int) {
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := doy - (153*mp+2)/5 + 1
	month := mp + 3
	if mp >= 10 {
		month = mp - 9
	}
	year := yoe + era*400
	if month <= 2 {
		year++
	}
	put2(b[0:], year/100)
	put2(b[2:], year%100)
	b[4] = '-'
	put2(b[5:], month)
	b[7] = '-'
	put2(b[8:], day)
	b[10] = 'T'
}

// unixYear10000 is 10000-01-01T00:00:00Z: four-digit years end there.
const unixYear10000 = 253402300800

// put2 writes v (0-99) as two digits.
func put2(b []byte, v int) {
	b[0], b[1] = pairs[2*v], pairs[2*v+1]
}

// pairs holds the two digits of 00 to 99.
const pairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

// appendAddr writes IPv4 addresses dotted and IPv6 addresses either as
// Suricata does by default (eight four-digit groups, nothing compressed:
// 2001:0db8:0000:…) or, with compress, in RFC 5952 form as Suricata's
// ipv6-compress option does.
func appendAddr(b []byte, a netip.Addr, compress bool) []byte {
	if a.Is4() {
		return appendIPv4(b, a.As4())
	}
	if compress {
		return a.WithZone("").AppendTo(b)
	}
	const digits = "0123456789abcdef"
	s := a.As16()
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, digits[s[i]>>4], digits[s[i]&0xf], digits[s[i+1]>>4], digits[s[i+1]&0xf])
	}
	return b
}

// appendString appends s as a JSON string. Like encoding/json it escapes
// control characters (\b, \f, \n, \r, \t by name), replaces invalid UTF-8 with U+FFFD and escapes
// U+2028/U+2029; unlike it, it leaves <, > and & alone (Suricata does too).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

// plain marks the bytes a JSON string carries as they are: printable
// ASCII but the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendEscaped is appendString without the quotes.
func appendEscaped(b []byte, s string) []byte {
	// Most strings (rule messages, categories, names) need no escaping:
	// one table look-up a byte finds out, then they are copied whole.
	i := 0
	for i < len(s) && plain[s[i]] {
		i++
	}
	if i == len(s) {
		return append(b, s...)
	}
	return appendEscapedSlow(b, s)
}

func appendEscapedSlow(b []byte, s string) []byte {
	const digits = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', digits[c>>4], digits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', digits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// appendIPv4 writes a dotted quad, as netip.Addr.AppendTo does, from a
// table of the 256 octets' digits: every record holds two to four
// addresses, and netip works each octet's digits out again. Each octet
// is stored as four bytes at once (its digits and a dot), the next one
// overwriting what follows its digits.
func appendIPv4(b []byte, a [4]byte) []byte {
	start := len(b)
	b = append(b, make([]byte, 16)...) // room for four stores
	out := b[start : start+16]
	n := 0
	for _, x := range a[:3] {
		binary.LittleEndian.PutUint32(out[n&15:], octets[x])
		n += int(octetLen[x]) + 1
	}
	binary.LittleEndian.PutUint32(out[n&15:], octets[a[3]])
	n += int(octetLen[a[3]])
	return b[:start+n]
}

// octets[x] holds the decimal digits of x followed by a dot, little
// endian; octetLen[x] is how many digits.
var octets, octetLen = func() (t [256]uint32, l [256]uint8) {
	for x := range t {
		s := strconv.Itoa(x) + "."
		var d [4]byte
		copy(d[:], s)
		t[x] = binary.LittleEndian.Uint32(d[:])
		l[x] = uint8(len(s) - 1)
	}
	return t, l
}()

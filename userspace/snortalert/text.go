package snortalert

import (
	"net/netip"
	"strconv"
)

// DefaultReferenceSystems is Snort 2.9's default etc/reference.config:
// reference system names (lower case) and the URL prefixes alert_full
// prints before a reference's id.
var DefaultReferenceSystems = map[string]string{
	"bugtraq":   "http://www.securityfocus.com/bid/",
	"cve":       "http://cve.mitre.org/cgi-bin/cvename.cgi?name=",
	"arachnids": "http://www.whitehats.com/info/IDS",
	"osvdb":     "http://osvdb.org/show/osvdb/",
	"mcafee":    "http://vil.nai.com/vil/content/v_",
	"nessus":    "http://cgi.nessus.org/plugins/dump.php3?id=",
	"url":       "http://",
	"msb":       "http://technet.microsoft.com/en-us/security/bulletin/",
}

// protoNames are the names Snort prints for IP protocols: it takes them
// from getprotobynumber(3) and upper-cases them (snort.c InitProtoNames),
// so they are those of the host's /etc/protocols — here Debian's netbase
// 6.4. Numbers without a name print as PROTO:nnn.
var protoNames = [256]string{
	0: "IP", 1: "ICMP", 2: "IGMP", 3: "GGP", 4: "IPENCAP", 5: "ST", 6: "TCP",
	8: "EGP", 9: "IGP", 12: "PUP", 17: "UDP", 20: "HMP", 22: "XNS-IDP",
	27: "RDP", 29: "ISO-TP4", 33: "DCCP", 36: "XTP", 37: "DDP",
	38: "IDPR-CMTP", 41: "IPV6", 43: "IPV6-ROUTE", 44: "IPV6-FRAG",
	45: "IDRP", 46: "RSVP", 47: "GRE", 50: "ESP", 51: "AH", 57: "SKIP",
	58: "IPV6-ICMP", 59: "IPV6-NONXT", 60: "IPV6-OPTS", 73: "RSPF",
	81: "VMTP", 88: "EIGRP", 89: "OSPF", 93: "AX.25", 94: "IPIP",
	97: "ETHERIP", 98: "ENCAP", 103: "PIM", 108: "IPCOMP", 112: "VRRP",
	115: "L2TP", 124: "ISIS", 132: "SCTP", 133: "FC", 135: "MOBILITY-HEADER",
	136: "UDPLITE", 137: "MPLS-IN-IP", 138: "MANET", 139: "HIP",
	140: "SHIM6", 141: "WESP", 142: "ROHC", 143: "ETHERNET",
}

func appendProto(b []byte, p uint8) []byte {
	if n := protoNames[p]; n != "" {
		return append(b, n...)
	}
	b = append(b, "PROTO:"...)
	return appendPad(b, uint64(p), 3)
}

func itoa(i int) string { return strconv.Itoa(i) }

// appendUint is printf's %u.
func appendUint(b []byte, v uint64) []byte {
	switch {
	case v < 10:
		return append(b, byte('0'+v))
	case v < 100:
		return append(b, byte('0'+v/10), byte('0'+v%10))
	case v < 1000:
		return append(b, byte('0'+v/100), byte('0'+v/10%10), byte('0'+v%10))
	}
	return strconv.AppendUint(b, v, 10)
}

// appendInt is printf's %d.
func appendInt(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) }

// appendPad is %0Nd (%0Nu).
func appendPad(b []byte, v uint64, width int) []byte {
	if width == 2 && v < 100 {
		return append(b, byte('0'+v/10), byte('0'+v%10))
	}
	var tmp [20]byte
	d := strconv.AppendUint(tmp[:0], v, 10)
	for i := len(d); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, d...)
}

const hexUpper = "0123456789ABCDEF"

// appendHex is printf's %X (%lX): upper case, no leading zeros.
func appendHex(b []byte, v uint64) []byte { return appendHexPad(b, v, 1) }

// appendHexPad is %0NX.
func appendHexPad(b []byte, v uint64, width int) []byte {
	var tmp [16]byte
	i := len(tmp)
	for v != 0 || i == len(tmp) {
		i--
		tmp[i] = hexUpper[v&0xf]
		v >>= 4
	}
	for n := len(tmp) - i; n < width; n++ {
		b = append(b, '0')
	}
	return append(b, tmp[i:]...)
}

// appendIPv4 writes a dotted quad.
func appendIPv4(b []byte, a []byte) []byte {
	for i := 0; i < 4; i++ {
		if i > 0 {
			b = append(b, '.')
		}
		b = appendUint(b, uint64(a[i]))
	}
	return b
}

// appendAddr writes an address as Snort does (sfip_raw_ntop, i.e.
// inet_ntop(3)): IPv4 dotted; IPv6 in glibc's inet_ntop form, which
// compresses the first longest run of two or more zero groups and writes
// an IPv4-compatible or IPv4-mapped address with a dotted tail
// (::1.2.3.4, ::ffff:1.2.3.4).
func appendAddr(b []byte, a netip.Addr, v6 bool) []byte {
	x := a.As16()
	if !v6 {
		return appendIPv4(b, x[12:])
	}
	var w [8]uint16
	for i := range w {
		w[i] = uint16(x[2*i])<<8 | uint16(x[2*i+1])
	}
	best, bestLen, cur, curLen := -1, 0, -1, 0
	for i := 0; i < 8; i++ {
		if w[i] == 0 {
			if cur == -1 {
				cur, curLen = i, 1
			} else {
				curLen++
			}
			continue
		}
		if cur != -1 && (best == -1 || curLen > bestLen) {
			best, bestLen = cur, curLen
		}
		cur = -1
	}
	if cur != -1 && (best == -1 || curLen > bestLen) {
		best, bestLen = cur, curLen
	}
	if best != -1 && bestLen < 2 {
		best = -1
	}
	for i := 0; i < 8; i++ {
		if best != -1 && i >= best && i < best+bestLen {
			if i == best {
				b = append(b, ':')
			}
			continue
		}
		if i != 0 {
			b = append(b, ':')
		}
		if i == 6 && best == 0 && (bestLen == 6 || bestLen == 5 && w[5] == 0xffff) {
			return appendIPv4(b, x[12:])
		}
		b = strconv.AppendUint(b, uint64(w[i]), 16)
	}
	if best != -1 && best+bestLen == 8 {
		b = append(b, ':')
	}
	return b
}

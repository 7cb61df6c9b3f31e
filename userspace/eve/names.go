package eve

import (
	"strconv"
	"strings"
)

// protoNames are the names Suricata's EVE output gives IP protocols 0–143
// (known_proto in Suricata's src/util-proto-name.c: IANA keywords, with
// Suricata's spellings). Higher numbers are written as decimal strings.
var protoNames = [...]string{
	"HOPOPT", "ICMP", "IGMP", "GGP", "IP-in-IP", "ST", "TCP", "CBT",
	"EGP", "IGP", "BBN-RCC-MON", "NVP-II", "PUP", "ARGUS", "EMCON", "XNET",
	"CHAOS", "UDP", "MUX", "DCN-MEAS", "HMP", "PRM", "XNS-IDP", "TRUNK-1",
	"TRUNK-2", "LEAF-1", "LEAF-2", "RDP", "IRTP", "ISO-TP4", "NETBLT", "MFE-NSP",
	"MERIT-INP", "DCCP", "3PC", "IDPR", "XTP", "DDP", "IDPR-CMTP", "TP++",
	"IL", "IPv6", "SDRP", "IPv6-Route", "IPv6-Frag", "IDRP", "RSVP", "GRE",
	"DSR", "BNA", "ESP", "AH", "I-NLSP", "SwIPe", "NARP", "MOBILE",
	"TLSP", "SKIP", "IPv6-ICMP", "IPv6-NoNxt", "IPv6-Opts", "Any", "CFTP", "Any",
	"SAT-EXPAK", "KRYPTOLAN", "RVD", "IPPC", "Any", "SAT-MON", "VISA", "IPCU",
	"CPNX", "CPHB", "WSN", "PVP", "BR-SAT-MON", "SUN-ND", "WB-MON", "WB-EXPAK",
	"ISO-IP", "VMTP", "SECURE-VMTP", "VINES", "TTP", "NSFNET-IGP", "DGP", "TCF",
	"EIGRP", "OSPF", "Sprite-RPC", "LARP", "MTP", "AX.25", "OS", "MICP",
	"SCC-SP", "ETHERIP", "ENCAP", "Any", "GMTP", "IFMP", "PNNI", "PIM",
	"ARIS", "SCPS", "QNX", "A/N", "IPComp", "SNP", "Compaq-Peer", "IPX-in-IP",
	"VRRP", "PGM", "Any", "L2TP", "DDX", "IATP", "STP", "SRP",
	"UTI", "SMP", "SM", "PTP", "IS-IS", "FIRE", "CRTP", "CRUDP",
	"SSCOPMCE", "IPLT", "SPS", "PIPE", "SCTP", "FC", "RSVP-E2E-IGNORE", "Mobility",
	"UDPLite", "MPLS-in-IP", "manet", "HIP", "Shim6", "WESP", "ROHC", "Ethernet",
}

// appendProto writes the `proto` value of protocol p (unquoted).
func appendProto(b []byte, p uint8) []byte {
	if int(p) < len(protoNames) {
		return append(b, protoNames[p]...)
	}
	return strconv.AppendUint(b, uint64(p), 10)
}

// ProtoName returns the name EVE gives IP protocol p: "TCP", "IPv6-ICMP",
// "GRE", … or the number in decimal.
func ProtoName(p uint8) string {
	if int(p) < len(protoNames) {
		return protoNames[p]
	}
	return strconv.Itoa(int(p))
}

// DefaultReferenceSystems maps reference system names to URL prefixes as
// Suricata's default etc/reference.config does. Suricata's EVE output
// writes a rule's `reference:url,www.example.com;` as the system's prefix
// followed by the value: "https://www.example.com".
var DefaultReferenceSystems = map[string]string{
	"cve":             "https://cve.mitre.org/cgi-bin/cvename.cgi?name=",
	"nessus":          "https://www.tenable.com/plugins/nessus/",
	"url":             "https://",
	"mcafee":          "https://vil.nai.com/vil/content/v_",
	"bid":             "https://www.securityfocus.com/bid/",
	"bugtraq":         "https://www.securityfocus.com/bid/",
	"md5":             "https://www.threatexpert.com/report.aspx?md5=",
	"secunia":         "https://www.secunia.com/advisories/",
	"arachnids":       "https://www.whitehats.com/info/IDS",
	"exploitdb":       "https://www.exploit-db.com/exploits/",
	"msft":            "https://technet.microsoft.com/security/bulletin/",
	"et":              "https://doc.emergingthreats.net/",
	"etpro":           "https://doc.emergingthreatspro.com/",
	"telus":           "https://",
	"xforce":          "http://xforce.iss.net/xforce/xfdb/",
	"osvdb":           "http://osvdb.org/show/osvdb/",
	"threatexpert":    "http://www.threatexpert.com/report.aspx?md5=",
	"openpacket":      "https://www.openpacket.org/capture/grab/",
	"securitytracker": "http://securitytracker.com/id?",
}

// Reference renders a rule reference ("system,value", as written in the
// rule) the way Suricata's EVE alert `references` list does: the system's
// URL prefix followed by the value. A value that carries its own scheme
// ("url,http://host/path") is written as is, as Suricata does; a system
// missing from systems (matched case-insensitively) leaves the reference
// unchanged.
func Reference(ref string, systems map[string]string) string {
	prefix, val := referenceParts(ref, systems)
	return prefix + val
}

// referenceParts splits what Reference returns into the URL prefix and
// the rest, so the encoder can write them without joining them first.
func referenceParts(ref string, systems map[string]string) (prefix, val string) {
	sys, val, ok := strings.Cut(ref, ",")
	if !ok {
		return "", ref
	}
	val = strings.Trim(strings.TrimSpace(val), `"`)
	if hasScheme(val) {
		return "", val
	}
	prefix, ok = systems[strings.ToLower(strings.TrimSpace(sys))]
	if !ok {
		return "", ref
	}
	return prefix, val
}

// hasScheme reports whether v starts with letters followed by "://".
func hasScheme(v string) bool {
	i := strings.Index(v, "://")
	if i <= 0 {
		return false
	}
	for _, c := range v[:i] {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

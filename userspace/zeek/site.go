package zeek

import (
	"net/netip"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// LikelyServerPorts are the ports Zeek's likely_server_ports holds in a
// default installation: every server port that the analyzers and packet
// analyzers loaded by base/ register with Analyzer::register_for_ports or
// PacketAnalyzer::register_for_ports (base/protocols/*/main.zeek and
// base/packet-protocols/*/main.zeek, Zeek 7/8). Zeek consults them when a
// connection's first packet is not a plain SYN, to guess which end is the
// server (TCPAnalyzer::WantConnection, UDPAnalyzer::WantConnection).
// Change the map, or set Options.LikelyServerPort, to mirror a Zeek
// configured otherwise.
var LikelyServerPorts = map[uint8]map[uint16]bool{
	event.ProtoTCP: set(
		21, 2811, // ftp
		22,      // ssh
		25, 587, // smtp
		53,                                        // dns
		79,                                        // finger
		80, 81, 631, 1080, 3128, 8000, 8080, 8888, // http (1080 also socks)
		88,       // krb
		135,      // dce-rpc
		139, 445, // smb
		143,       // imap
		389, 3268, // ldap
		443, 465, 563, 585, 614, 636, 989, 990, 992, 993, 995, 5223, // ssl
		502,        // modbus
		514,        // syslog
		1434, 3306, // mysql
		1883,       // mqtt
		3389,       // rdp
		5222, 5269, // xmpp
		5432,                   // postgresql
		6379,                   // redis
		6666, 6667, 6668, 6669, // irc
		20000, // dnp3
	),
	event.ProtoUDP: set(
		53, 137, 5353, 5355, // dns
		67, 4011, // dhcp (68 is registered as a client port)
		88,       // krb
		123,      // ntp
		161, 162, // snmp
		389,        // ldap
		443,        // quic, dtls
		514,        // syslog
		1812,       // radius
		2123, 2152, // gtpv1
		3389,  // rdpeudp
		3544,  // teredo
		4754,  // gre in udp
		4789,  // vxlan
		5060,  // sip
		5072,  // ayiya
		6081,  // geneve
		20000, // dnp3
	),
}

func set(ports ...uint16) map[uint16]bool {
	m := make(map[uint16]bool, len(ports))
	for _, p := range ports {
		m[p] = true
	}
	return m
}

// DefaultLikelyServerPort reports whether port of protocol proto is in
// LikelyServerPorts.
func DefaultLikelyServerPort(proto uint8, port uint16) bool {
	return LikelyServerPorts[proto][port]
}

// PrivateAddressSpace is Zeek's Site::private_address_space
// (base/utils/site.zeek). A default Zeek adds it to Site::local_nets
// (Site::private_address_space_is_local = T); pass
// append(homeNets, PrivateAddressSpace...) as Options.LocalNets to do the
// same.
var PrivateAddressSpace = prefixes(
	"0.0.0.0/8", "2002::/24",
	"10.0.0.0/8", "2002:a00::/24",
	"100.64.0.0/10", "2002:6440::/26",
	"127.0.0.0/8", "2002:7f00::/24",
	"169.254.0.0/16", "2002:a9fe::/32",
	"172.16.0.0/12", "2002:ac10::/28",
	"192.0.0.0/24", "2002:c000::/40",
	"192.0.2.0/24", "2002:c000:200::/40",
	"192.168.0.0/16", "2002:c0a8::/32",
	"198.18.0.0/15", "2002:c612::/31",
	"198.51.100.0/24", "2002:c633:6400::/40",
	"203.0.113.0/24", "2002:cb00:7100::/40",
	"224.0.0.0/24", "2002:e000::/40",
	"239.0.0.0/8", "2002:ef00::/24",
	"240.0.0.0/4", "2002:f000::/20",
	"255.255.255.255/32", "2002:ffff:ffff::/48",
	"::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/23",
	"2001:2::/48", "2001:db8::/32", "fc00::/7", "fe80::/10", "fec0::/10",
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

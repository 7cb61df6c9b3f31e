package communityid

import (
	"net/netip"
	"testing"
)

// Vectors from corelight/community-id-spec: baseline/README.md (the
// tables give ICMP inputs as raw type/code) and baseline/baseline_deflt.json.
var vectors = []struct {
	name         string
	seed         uint16
	proto        uint8
	src, dst     string
	sport, dport uint16
	want         string
}{
	{"tcp out", 0, 6, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
	{"tcp back", 0, 6, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
	{"udp out", 0, 17, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
	{"udp back", 0, 17, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
	{"sctp out", 0, 132, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8="},
	{"sctp back", 0, 132, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8="},
	{"icmp echo request", 0, 1, "1.2.3.4", "5.6.7.8", 8, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="},
	{"icmp echo reply", 0, 1, "5.6.7.8", "1.2.3.4", 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="},
	{"icmp one-way time exceeded", 0, 1, "1.2.3.4", "5.6.7.8", 11, 0, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk="},
	{"icmp6 echo request", 0, 58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 128, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="},
	{"icmp6 echo reply", 0, 58, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", 129, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="},
	{"icmp6 one-way", 0, 58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 146, 0, "1:fYC8+pz24E+EhANP1EZhpX0Dw10="},
	{"rsvp out", 0, 46, "1.2.3.4", "5.6.7.8", 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768="},
	{"rsvp back", 0, 46, "5.6.7.8", "1.2.3.4", 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768="},
	{"rsvp ports ignored", 0, 46, "5.6.7.8", "1.2.3.4", 7, 9, "1:ikv3kmf89luf73WPz1jOs49S768="},
	{"rsvp6 out", 0, 46, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 0, 0, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0="},
	{"rsvp6 back", 0, 46, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", 0, 0, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0="},

	{"seed 1 tcp", 1, 6, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
	{"seed 1 icmp echo reply", 1, 1, "5.6.7.8", "1.2.3.4", 0, 0, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
	{"seed 1 icmp6 one-way", 1, 58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 146, 0, "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s="},

	{"pcap tcp", 0, 6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
	{"pcap tcp6", 0, 6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
	{"pcap udp", 0, 17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
	{"pcap sctp equal ports", 0, 132, "192.168.170.56", "192.168.170.8", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
	{"pcap icmp echo", 0, 1, "192.168.0.89", "192.168.0.1", 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
	{"pcap icmp echo reply", 0, 1, "192.168.0.1", "192.168.0.89", 0, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
	{"pcap icmp one-way", 0, 1, "10.0.0.1", "10.0.0.2", 11, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM="},
	{"pcap icmp6 neighbor solicit", 0, 58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 0, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
	{"pcap icmp6 neighbor advert", 0, 58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 0, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
	{"pcap icmp6 neighbor solicit back", 0, 58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 0, "1:zavyT/cezQr1fmImYCwYnMXbgck="},
	{"pcap icmp6 one-way dest unreachable", 0, 58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 1, 4, "1:hLZd0XGWojozrvxqE0dWB1iM6R0="},
	{"pcap icmp6 echo reply", 0, 58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 0, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="},
	{"pcap icmp6 router solicit", 0, 58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 0, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0="},
	{"pcap rsvp", 0, 46, "10.1.12.2", "10.1.12.1", 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
}

func TestBaseline(t *testing.T) {
	for _, v := range vectors {
		src, dst := netip.MustParseAddr(v.src), netip.MustParseAddr(v.dst)
		if got := Hash(v.seed, src, dst, v.sport, v.dport, v.proto); got != v.want {
			t.Errorf("%s: Hash = %s, want %s", v.name, got, v.want)
		}
		if v.proto == 1 || v.proto == 58 {
			if got := HashICMP(v.seed, src, dst, uint8(v.sport), uint8(v.dport), v.proto); got != v.want {
				t.Errorf("%s: HashICMP = %s, want %s", v.name, got, v.want)
			}
		}
		if got := Append([]byte("x"), v.seed, src, dst, v.sport, v.dport, v.proto); string(got) != "x"+v.want {
			t.Errorf("%s: Append = %s", v.name, got)
		}
	}
}

func TestOneWayKeepsDirection(t *testing.T) {
	a, b := netip.MustParseAddr("1.2.3.4"), netip.MustParseAddr("5.6.7.8")
	// Time exceeded is one-way: the two directions hash differently.
	if Hash(0, a, b, 11, 0, 1) == Hash(0, b, a, 11, 0, 1) {
		t.Error("one-way ICMP hashed alike both directions")
	}
	// Echo request and reply are one conversation.
	if Hash(0, a, b, 8, 0, 1) != Hash(0, b, a, 0, 0, 1) {
		t.Error("echo request and reply differ")
	}
}

func TestMixedFamilies(t *testing.T) {
	if got := Hash(0, netip.MustParseAddr("1.2.3.4"), netip.MustParseAddr("::1"), 1, 2, 6); got != "" {
		t.Errorf("mixed families: %q, want empty", got)
	}
	if got := Hash(0, netip.Addr{}, netip.Addr{}, 1, 2, 6); got != "" {
		t.Errorf("invalid addresses: %q, want empty", got)
	}
}

func TestLen(t *testing.T) {
	got := Hash(0, netip.MustParseAddr("1.2.3.4"), netip.MustParseAddr("5.6.7.8"), 1, 2, 6)
	if len(got) != Len {
		t.Errorf("len %d, want %d", len(got), Len)
	}
}

func BenchmarkAppend(b *testing.B) {
	src, dst := netip.MustParseAddr("192.168.0.31"), netip.MustParseAddr("161.53.178.240")
	buf := make([]byte, 0, Len)
	b.ReportAllocs()
	for b.Loop() {
		buf = Append(buf[:0], 0, src, dst, 2253, 6667, 6)
	}
}

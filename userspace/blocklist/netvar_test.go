package blocklist_test

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
)

func TestParseNetVar(t *testing.T) {
	list := func(ps ...string) blocklist.NetSpec {
		var out []netip.Prefix
		for _, p := range ps {
			out = append(out, pfx(p))
		}
		return blocklist.NetSpec{Prefixes: out}
	}
	tests := []struct {
		flag, value string
		want        blocklist.NetSpec
	}{
		{"home-net", "any", blocklist.NetSpec{Any: true}},
		{"--home-net", " ANY ", blocklist.NetSpec{Any: true}},
		{"external-net", "any", blocklist.NetSpec{Any: true}},
		{"external-net", "!$HOME_NET", blocklist.NetSpec{NotHome: true}},
		{"EXTERNAL_NET", "!$home_net", blocklist.NetSpec{NotHome: true}},
		{"home-net", "192.168.1.10", list("192.168.1.10/32")},
		{"home-net", "10.0.0.0/8", list("10.0.0.0/8")},
		{"home-net", "2001:db8::/32", list("2001:db8::/32")},
		{"$HOME_NET", "[10.0.0.0/8,192.168.0.0/16]", list("10.0.0.0/8", "192.168.0.0/16")},
		{"home_net", "[10.0.0.0/8, 192.168.0.0/16, 2001:db8::1]", list("10.0.0.0/8", "192.168.0.0/16", "2001:db8::1/128")},
		{"home-net", "10.0.0.0/8,192.168.0.0/16", list("10.0.0.0/8", "192.168.0.0/16")},
		{"home-net", "10.0.0.0/8 , 172.16.0.0/12", list("10.0.0.0/8", "172.16.0.0/12")},
		{"home-net", "[[10.0.0.0/8],172.16.0.0/12]", list("10.0.0.0/8", "172.16.0.0/12")},
		{"external-net", "[203.0.113.0/24]", list("203.0.113.0/24")},
		{"home-net", "::ffff:10.0.0.0/104", list("10.0.0.0/8")},
	}
	for _, tt := range tests {
		got, err := blocklist.ParseNetVar(tt.flag, tt.value)
		if err != nil {
			t.Errorf("ParseNetVar(%q, %q): %v", tt.flag, tt.value, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseNetVar(%q, %q) = %+v, want %+v", tt.flag, tt.value, got, tt.want)
		}
	}
}

func TestParseNetVarErrors(t *testing.T) {
	tests := []struct{ flag, value, want string }{
		{"home-net", "", `--home-net: is empty (use "any" for every address)`},
		{"home-net", "  ", `--home-net: is empty (use "any" for every address)`},
		{"home-net", "!$HOME_NET", `--home-net: !$HOME_NET is only valid for --external-net`},
		{"home-net", "10.0.0.300", `--home-net: "10.0.0.300" is not an IP address or CIDR`},
		{"home-net", "10.1.2.3/8", `--home-net: "10.1.2.3/8" has host bits set, did you mean 10.0.0.0/8?`},
		{"home-net", "[10.0.0.0/8,bogus,10.1.2.3/8]", "--home-net: \"bogus\" is not an IP address or CIDR\n--home-net: \"10.1.2.3/8\" has host bits set, did you mean 10.0.0.0/8?"},
		{"home-net", "[10.0.0.0/8,]", `--home-net: address list has an empty element (stray comma?)`},
		{"home-net", "[]", `--home-net: empty address list []`},
		{"home-net", "[10.0.0.0/8", `--home-net: unbalanced brackets in "[10.0.0.0/8"`},
		{"home-net", "[any,10.0.0.0/8]", `--home-net: "any" inside an address list is not supported`},
		{"external-net", "!10.0.0.0/8", `--external-net: negation "!10.0.0.0/8" is not supported (want "any" or addresses and CIDRs, or !$HOME_NET)`},
		{"home-net", "![10.0.0.0/8]", `--home-net: negation "![10.0.0.0/8]" is not supported (want "any" or addresses and CIDRs)`},
		{"external-net", "[!$HOME_NET,1.2.3.4]", `--external-net: negated address "!$HOME_NET" is not supported`},
		{"external-net", "$HOME_NET", `--external-net: variable "$HOME_NET" is not supported (want "any" or addresses and CIDRs, or !$HOME_NET)`},
		{"home-net", "$HOME_NET", `--home-net: variable "$HOME_NET" is not supported (want "any" or addresses and CIDRs)`},
		{"home-net", "[10.0.0.0/8,$DMZ]", `--home-net: variable "$DMZ" inside an address list is not supported`},
		{"dns-servers", "any", `"dns-servers" is not a network variable (want home-net or external-net)`},
	}
	for _, tt := range tests {
		got, err := blocklist.ParseNetVar(tt.flag, tt.value)
		if err == nil {
			t.Errorf("ParseNetVar(%q, %q) = %+v, want error %q", tt.flag, tt.value, got, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseNetVar(%q, %q):\n got %q\nwant %q", tt.flag, tt.value, err.Error(), tt.want)
		}
		if !reflect.DeepEqual(got, blocklist.NetSpec{}) {
			t.Errorf("ParseNetVar(%q, %q) returned %+v with its error", tt.flag, tt.value, got)
		}
	}
}

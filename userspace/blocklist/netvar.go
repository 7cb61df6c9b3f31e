package blocklist

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// NetSpec is the value of --home-net or --external-net. Exactly one of
// its forms is set: Any, NotHome, or a non-empty Prefixes.
type NetSpec struct {
	Any      bool           // "any": every address
	NotHome  bool           // "!$HOME_NET" (external only): every address outside the home net
	Prefixes []netip.Prefix // the listed networks, masked, in the order given
}

// ParseNetVar parses the value of --home-net (flag "home-net") or
// --external-net (flag "external-net"); the flag may also be written
// "--home-net", "HOME_NET" or "$HOME_NET". value is "any", one address or
// CIDR, or a list: "[10.0.0.0/8,192.168.0.0/16]" or, without brackets,
// "10.0.0.0/8,192.168.0.0/16" (blanks around elements are allowed, lists
// may nest). For external-net only, "!$HOME_NET" means every address
// outside the home net. Single addresses become /32 or /128, IPv4-mapped
// IPv6 becomes IPv4, and CIDRs with host bits set are errors. The error
// lists every problem, each starting with "--<flag>: ".
func ParseNetVar(flag, value string) (NetSpec, error) {
	name := strings.ToLower(strings.TrimLeft(flag, "-$"))
	name = strings.ReplaceAll(name, "_", "-")
	var external bool
	switch name {
	case "home-net":
	case "external-net":
		external = true
	default:
		return NetSpec{}, fmt.Errorf("%q is not a network variable (want home-net or external-net)", flag)
	}
	prefix := "--" + name + ": "

	v := strings.TrimSpace(value)
	switch {
	case v == "":
		return NetSpec{}, errors.New(prefix + "is empty (use \"any\" for every address)")
	case strings.EqualFold(v, "any"):
		return NetSpec{Any: true}, nil
	case strings.EqualFold(v, "!$HOME_NET"):
		if !external {
			return NetSpec{}, errors.New(prefix + "!$HOME_NET is only valid for --external-net")
		}
		return NetSpec{NotHome: true}, nil
	}
	want := `"any" or addresses and CIDRs`
	if external {
		want += ", or !$HOME_NET"
	}
	switch v[0] {
	case '$':
		return NetSpec{}, fmt.Errorf("%svariable %q is not supported (want %s)", prefix, v, want)
	case '!':
		return NetSpec{}, fmt.Errorf("%snegation %q is not supported (want %s)", prefix, v, want)
	case '[':
	default:
		v = "[" + v + "]"
	}
	var errs []error
	bad := func(reason string) { errs = append(errs, errors.New(prefix+reason)) }
	prefixes := parseAddrList(v, nil, bad, func(string) {})
	if len(errs) > 0 {
		return NetSpec{}, errors.Join(errs...)
	}
	return NetSpec{Prefixes: prefixes}, nil
}

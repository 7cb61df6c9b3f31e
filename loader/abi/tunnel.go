package abi

import "net/netip"

// tunnelKindNames are enum tunnel_kind's values as the event model names
// them (event.TunnelKind); "" for the others. An array: every alert and
// zone looks its kind up, and a map look-up was a tenth of decoding one.
var tunnelKindNames = [256]string{
	uint8(BpfTunnelKindTUNNEL_GRE):        "gre",
	uint8(BpfTunnelKindTUNNEL_ERSPAN_I):   "erspan-i",
	uint8(BpfTunnelKindTUNNEL_ERSPAN_II):  "erspan-ii",
	uint8(BpfTunnelKindTUNNEL_ERSPAN_III): "erspan-iii",
	uint8(BpfTunnelKindTUNNEL_VXLAN):      "vxlan",
	uint8(BpfTunnelKindTUNNEL_GENEVE):     "geneve",
	uint8(BpfTunnelKindTUNNEL_IPIP):       "ipip",
	uint8(BpfTunnelKindTUNNEL_TEREDO):     "teredo",
}

// TunnelKindName names a tunnel kind; "" for none (or one this build
// does not know).
func TunnelKindName(kind uint8) string { return tunnelKindNames[kind] }

// ZoneTunnel reads the tunnel part of an interned zone: its kind's name
// ("" when the zone is a VLAN stack only) and outer addresses, lower
// first.
func ZoneTunnel(k *BpfZoneKey) (kind string, lo, hi netip.Addr) {
	kind = TunnelKindName(k.Tunnel)
	if kind == "" {
		return "", netip.Addr{}, netip.Addr{}
	}
	return kind, Addr(k.OuterLo, k.Family), Addr(k.OuterHi, k.Family)
}

package event

// TunnelKind names an encapsulation the kernel decodes.
type TunnelKind string

const (
	TunnelGRE       TunnelKind = "gre"
	TunnelERSPANI   TunnelKind = "erspan-i"
	TunnelERSPANII  TunnelKind = "erspan-ii"
	TunnelERSPANIII TunnelKind = "erspan-iii"
	TunnelVXLAN     TunnelKind = "vxlan"
	TunnelGeneve    TunnelKind = "geneve"
	TunnelIPIP      TunnelKind = "ipip" // 4in4, 6in4, 4in6, 6in6
	TunnelTeredo    TunnelKind = "teredo"
)

// Tunnel is the innermost tunnel a packet or a flow came through: its
// outer IP endpoints and its own identity. For an alert they are the
// packet's, in its order, with the UDP ports of VXLAN, Geneve and Teredo;
// for a flow (whose zone names the tunnel) the lower address first and
// no ports.
type Tunnel struct {
	Kind     TunnelKind
	Src, Dst Endpoint
	Proto    uint8  // outer IP protocol: GRE, UDP, IPIP or IPv6
	ID       uint32 // VNI, GRE key or ERSPAN session id; 0 when the kind has none
	Depth    uint8  // tunnels decoded (nested ones: the innermost is this one)
}

// Layer says which header of a tunneled packet holds an alert's listed
// address.
type Layer string

const (
	LayerInner Layer = "inner" // the packet the flow is keyed on
	LayerOuter Layer = "outer" // the innermost tunnel's outer header
)

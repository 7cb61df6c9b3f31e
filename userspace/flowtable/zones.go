package flowtable

import (
	"sync"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// Zones names the zones of flow keys: a zone id up to abi.ZoneMaxVLAN is
// one VLAN id; others the kernel interned in its zones map (VLAN stacks
// and tunnels), read again when an unknown id shows up.
type Zones struct {
	Map *ebpf.Map

	mu    sync.Mutex
	known map[uint32]zone
}

type zone struct {
	vlans  []uint16
	tunnel *event.Tunnel
}

// VLANs returns a zone's VLAN ids, outermost first.
func (z *Zones) VLANs(id uint32) []uint16 {
	switch {
	case id == 0:
		return nil
	case id <= abi.ZoneMaxVLAN:
		return []uint16{uint16(id)}
	}
	return z.lookup(id).vlans
}

// Tunnel returns the tunnel a zone names, nil for none.
func (z *Zones) Tunnel(id uint32) *event.Tunnel {
	if id <= abi.ZoneMaxVLAN {
		return nil
	}
	return z.lookup(id).tunnel
}

func (z *Zones) lookup(id uint32) zone {
	if id == abi.ZoneOverflow || z.Map == nil {
		return zone{}
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if v, ok := z.known[id]; ok {
		return v
	}
	if z.known == nil {
		z.known = map[uint32]zone{}
	}
	var k abi.BpfZoneKey
	var n uint32
	it := z.Map.Iterate()
	for it.Next(&k, &n) {
		z.known[n] = zone{vlans: abi.VLANs(k.Vlan), tunnel: ZoneTunnel(&k)}
	}
	return z.known[id]
}

// ZoneTunnel is the tunnel of an interned zone key, nil for a VLAN stack.
func ZoneTunnel(k *abi.BpfZoneKey) *event.Tunnel {
	kind, lo, hi := abi.ZoneTunnel(k)
	if kind == "" {
		return nil
	}
	return &event.Tunnel{Kind: event.TunnelKind(kind), Src: event.Endpoint{IP: lo}, Dst: event.Endpoint{IP: hi},
		Proto: k.Proto, ID: k.TunnelId, Depth: k.Depth}
}

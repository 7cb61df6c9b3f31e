package flowtable

import (
	"sync"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader/abi"
)

// Zones names the zones of flow keys: a zone id up to abi.ZoneMaxVLAN is
// one VLAN id; others the kernel interned in its zones map, read again
// when an unknown id shows up.
type Zones struct {
	Map *ebpf.Map

	mu    sync.Mutex
	known map[uint32][]uint16
}

// VLANs returns a zone's VLAN ids, outermost first.
func (z *Zones) VLANs(zone uint32) []uint16 {
	switch {
	case zone == 0:
		return nil
	case zone <= abi.ZoneMaxVLAN:
		return []uint16{uint16(zone)}
	case zone == abi.ZoneOverflow || z.Map == nil:
		return nil
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if v, ok := z.known[zone]; ok {
		return v
	}
	if z.known == nil {
		z.known = map[uint32][]uint16{}
	}
	var k abi.BpfZoneKey
	var id uint32
	it := z.Map.Iterate()
	for it.Next(&k, &id) {
		z.known[id] = abi.VLANs(k.Vlan)
	}
	return z.known[zone]
}

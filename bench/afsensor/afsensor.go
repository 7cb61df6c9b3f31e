// Package afsensor is the classic userspace design the benchmarks compare
// xdpsensor with: capture with AF_PACKET (TPACKET_V3, through gopacket),
// decode in Go, look both addresses up in a Go map. It is the baseline, not
// a product: no flows, no outputs.
package afsensor

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
)

// Sensor reads one interface.
type Sensor struct {
	h       *afpacket.TPacket
	listed  map[netip.Addr]struct{}
	Packets uint64 // frames read
	Matches uint64 // frames with a listed address
}

// Open binds to iface (in the calling thread's network namespace).
func Open(iface string, listed []netip.Addr) (*Sensor, error) {
	h, err := afpacket.NewTPacket(afpacket.OptInterface(iface), afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
		afpacket.OptFrameSize(2048), afpacket.OptBlockSize(1<<20), afpacket.OptNumBlocks(64),
		afpacket.OptPollTimeout(50*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("AF_PACKET on %s: %w", iface, err)
	}
	s := &Sensor{h: h, listed: make(map[netip.Addr]struct{}, len(listed))}
	for _, a := range listed {
		s.listed[a] = struct{}{}
	}
	return s, nil
}

// Run reads until ctx is done.
func (s *Sensor) Run(ctx context.Context) error {
	var eth layers.Ethernet
	var ip4 layers.IPv4
	var tcp layers.TCP
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &tcp)
	parser.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 4)
	for ctx.Err() == nil {
		data, _, err := s.h.ZeroCopyReadPacketData()
		if errors.Is(err, afpacket.ErrTimeout) || errors.Is(err, afpacket.ErrPoll) {
			continue
		}
		if err != nil {
			return err
		}
		s.Packets++
		if parser.DecodeLayers(data, &decoded) != nil {
			continue
		}
		for _, l := range decoded {
			if l != layers.LayerTypeIPv4 {
				continue
			}
			src, _ := netip.AddrFromSlice(ip4.SrcIP)
			dst, _ := netip.AddrFromSlice(ip4.DstIP)
			_, a := s.listed[src.Unmap()]
			_, b := s.listed[dst.Unmap()]
			if a || b {
				s.Matches++
			}
		}
	}
	return nil
}

// Drops is what the kernel could not hand over (the ring was full).
func (s *Sensor) Drops() (uint64, error) {
	_, v3, err := s.h.SocketStats()
	if err != nil {
		return 0, err
	}
	return uint64(v3.Drops()), nil
}

// Close releases the socket.
func (s *Sensor) Close() { s.h.Close() }

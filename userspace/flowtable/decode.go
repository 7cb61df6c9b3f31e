package flowtable

import (
	"time"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// Decoder builds session records from flow-table entries (those of the
// table itself, and the snapshots flow-closed events carry).
type Decoder struct {
	// Clock converts the kernel's packet time to wall time.
	Clock func(ns uint64) time.Time
	// Rules resolves the rule ids a flow matched.
	Rules interface {
		Rule(id, generation uint32) (event.Rule, bool)
	}
}

// Flow builds a session record from a flow-table entry.
func (d *Decoder) Flow(key *abi.BpfFlowKey, v *abi.BpfFlowValue, reason event.EndReason) *event.Flow {
	client, server := uint8(v.Initiator&1), uint8(1-(v.Initiator&1))
	ends := [2]event.Endpoint{
		{IP: abi.Addr(key.AddrLo, key.Family), Port: key.PortLo},
		{IP: abi.Addr(key.AddrHi, key.Family), Port: key.PortHi},
	}
	f := &event.Flow{
		FlowID:        abi.FlowID(key, v.FirstSeenNs),
		Proto:         key.Proto,
		Client:        ends[client],
		Server:        ends[server],
		VLAN:          abi.VLANs(key.Vlan),
		Start:         d.Clock(v.FirstSeenNs),
		End:           d.Clock(v.LastSeenNs),
		ToServer:      direction(&v.Dir[client]),
		ToClient:      direction(&v.Dir[server]),
		FirstTCPFlags: v.FirstTcpFlags,
		ICMPType:      v.IcmpType,
		ICMPCode:      v.IcmpCode,
		Reason:        reason,
		Alerts:        v.Alerts,
		Suppressed:    v.Suppressed,
		History:       history(v, client),
	}
	listed := [2]bool{v.Match.Listed&uint8(abi.BpfListedBitsLISTED_LO) != 0, v.Match.Listed&uint8(abi.BpfListedBitsLISTED_HI) != 0}
	f.ClientListed, f.ServerListed = listed[client], listed[server]
	seen := map[uint32]bool{}
	for _, id := range []uint32{v.Match.LoAsSrc, v.Match.LoAsDst, v.Match.HiAsSrc, v.Match.HiAsDst} {
		if id == 0 || seen[id] {
			continue
		}
		seen[id] = true
		if r, ok := d.Rules.Rule(id, v.Match.Generation); ok {
			f.Rules = append(f.Rules, r)
		}
	}
	return f
}

// history turns the kernel's LO-upper/HI-lower letters into client-upper.
func history(v *abi.BpfFlowValue, client uint8) string {
	n := min(int(v.HistoryLen), len(v.History))
	b := make([]byte, n)
	for i := 0; i < n; i++ {
		c := byte(v.History[i])
		if client == uint8(abi.BpfFlowSideSIDE_HI) {
			switch {
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			case c >= 'a' && c <= 'z':
				c -= 'a' - 'A'
			}
		}
		b[i] = c
	}
	return string(b)
}

func direction(d *abi.BpfFlowDirection) event.DirectionStats {
	c := &d.FlagCounts
	return event.DirectionStats{
		Packets:      d.Packets,
		Bytes:        d.Bytes,
		PayloadBytes: d.PayloadBytes,
		TCPFlags:     d.TcpFlags,
		FlagCounts: event.TCPFlagCounts{
			SYN: c.Syn, SYNACK: c.Synack, ACK: c.Ack, FIN: c.Fin, RST: c.Rst,
			PSH: c.Psh, URG: c.Urg, ECE: c.Ece, CWR: c.Cwr,
		},
	}
}

// endReason maps a flow-closed event's reason.
func endReason(reason uint8) event.EndReason {
	if reason == uint8(abi.BpfFlowEndReasonFLOW_END_FIN) {
		return event.EndFIN
	}
	return event.EndRST
}

// closeReason reads why a closed flow's table entry closed.
func closeReason(v *abi.BpfFlowValue) event.EndReason {
	if v.CloseFlags&uint8(abi.BpfCloseBitsCLOSE_RST) != 0 {
		return event.EndRST
	}
	return event.EndFIN
}

package flowtable

import (
	"net/netip"
	"time"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// Decoder builds session records from flow-table entries (those of the
// table itself, and those the kernel sends through the event ring) and
// their extensions.
type Decoder struct {
	// Clock converts the kernel's packet time to wall time.
	Clock func(ns uint64) time.Time
	// Zones names a flow key's zone: its VLAN ids; nil reads a zone id
	// up to abi.ZoneMaxVLAN as one VLAN id and others as none.
	Zones func(zone uint32) []uint16
	// Listed names the rules listing addr now in a flow whose other
	// address is other, as the kernel decides them (the kernel keeps no
	// rule ids per flow), and counts those it could not name; nil names
	// none.
	Listed func(addr, other netip.Addr) (rules []event.Rule, unknown int)
	// RulesUnnamed counts the rules of listed flows their records could
	// not name: a listed side whose address no rule lists now (a reload
	// removed it, or its rule now refuses the other address), and each
	// rule id Listed could not name. Such a record says the side is
	// listed (xdpsensor_listed) without its rule.
	RulesUnnamed uint64
	// Tunnel names the tunnel of a zone (Zones.Tunnel); nil names none.
	Tunnel func(zone uint32) *event.Tunnel
}

// historyLetters are the kernel's history codes (enum history_letter).
const historyLetters = "SHADFRQIWTG"

// historyHot is FLOW_HISTORY_HOT: the letters the entry itself holds.
const historyHot = 12

// Flow builds a session record from a flow-table entry and its extension
// (nil when the flow has none).
func (d *Decoder) Flow(key *abi.BpfFlowKey, v *abi.BpfFlowValue, x *abi.BpfFlowExtra, reason event.EndReason) *event.Flow {
	client := uint8(0)
	if v.State&uint8(abi.BpfFlowStateBitsSTATE_INITIATOR_HI) != 0 {
		client = 1
	}
	server := 1 - client
	ends := [2]event.Endpoint{
		{IP: abi.Addr(key.AddrLo, key.Family), Port: key.PortLo},
		{IP: abi.Addr(key.AddrHi, key.Family), Port: key.PortHi},
	}
	read := x // nil: the flow has no extension (or it could not be read)
	if x == nil {
		x = &abi.BpfFlowExtra{}
	}
	last := v.FirstSeenNs + uint64(v.LastSeenUs)*1000
	if v.Marks&uint8(abi.BpfListedBitsMARK_LONG) != 0 && x.LastSeenNs > last {
		last = x.LastSeenNs
	}
	active := v.FirstSeenNs + uint64(v.ActiveUs)*1000
	if v.Marks&uint8(abi.BpfListedBitsMARK_LONG) != 0 && v.ActiveUs == 0xffffffff {
		active = last
	}
	f := &event.Flow{
		FlowID:    abi.FlowID(key, v.FirstSeenNs),
		Proto:     key.Proto,
		Client:    ends[client],
		Server:    ends[server],
		VLAN:      d.vlans(key.Zone),
		Start:     d.Clock(v.FirstSeenNs),
		End:       d.Clock(last),
		ActiveEnd: d.Clock(active),
		ToServer:  direction(key.Proto, &v.Dir[client], &x.Dir[client]),
		ToClient:  direction(key.Proto, &v.Dir[server], &x.Dir[server]),
		Reason:    reason,
		History:   History(v, read, client),
	}
	f.HistoryLost = HistoryLost(v, read)
	if v.Marks&uint8(abi.BpfListedBitsMARK_ALERTED) != 0 {
		f.Alerts = 1
	}
	if d.Tunnel != nil && key.Zone > abi.ZoneMaxVLAN {
		f.Tunnel = d.Tunnel(key.Zone)
	}
	f.FirstTCPFlags = firstFlags(f.History)
	if key.Proto == event.ProtoICMP || key.Proto == event.ProtoICMPv6 {
		// The key's "ports" are the type and its counterpart (for
		// request/reply pairs, whose code is 0) or the code.
		f.ICMPType = uint8(f.Client.Port)
		if !icmpPaired(key.Family, f.ICMPType) {
			f.ICMPCode = uint8(f.Server.Port)
		}
	}
	listed := [2]bool{v.Marks&uint8(abi.BpfListedBitsLISTED_LO) != 0, v.Marks&uint8(abi.BpfListedBitsLISTED_HI) != 0}
	f.ClientListed, f.ServerListed = listed[client], listed[server]
	if d.Listed != nil {
		seen := map[uint32]bool{}
		for _, e := range []struct {
			listed      bool
			addr, other netip.Addr
		}{{f.ClientListed, f.Client.IP, f.Server.IP}, {f.ServerListed, f.Server.IP, f.Client.IP}} {
			if !e.listed {
				continue
			}
			rules, unknown := d.Listed(e.addr, e.other)
			d.RulesUnnamed += uint64(unknown)
			if len(rules) == 0 && unknown == 0 {
				d.RulesUnnamed++
			}
			for _, r := range rules {
				if !seen[r.ID] {
					seen[r.ID] = true
					f.Rules = append(f.Rules, r)
				}
			}
		}
	}
	return f
}

func (d *Decoder) vlans(zone uint32) []uint16 {
	if d.Zones != nil {
		return d.Zones(zone)
	}
	if zone == 0 || zone > abi.ZoneMaxVLAN {
		return nil
	}
	return []uint16{uint16(zone)}
}

// History decodes the kernel's codes (the first FLOW_HISTORY_HOT in the
// entry, the rest in the extension) into letters, the client's in upper
// case (client 0: the LO side, 1: HI). Without the extension (x nil) the
// letters it held are left out (HistoryLost counts them).
func History(v *abi.BpfFlowValue, x *abi.BpfFlowExtra, client uint8) string {
	n := int(v.HistoryLen)
	b := make([]byte, 0, n)
	for i := 0; i < n; i++ {
		var code uint8
		switch {
		case i < historyHot:
			code = uint8(v.History >> (5 * i) & 31)
		case x != nil && i-historyHot < len(x.History):
			code = x.History[i-historyHot]
		default:
			continue
		}
		letter := code & 15
		if int(letter) >= len(historyLetters) {
			continue
		}
		c := historyLetters[letter]
		if code>>4&1 != client {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

// HistoryLost is how many history letters the kernel could not keep for
// a flow: those past the extension's room (flow_extra.history_lost),
// those dropped for want of an extension (each side's
// flow_dir.history_dropped, saturating at 255), and, when the extension
// the entry counts on is gone (x nil), the letters it held.
func HistoryLost(v *abi.BpfFlowValue, x *abi.BpfFlowExtra) uint64 {
	n := uint64(v.Dir[0].HistoryDropped) + uint64(v.Dir[1].HistoryDropped)
	switch {
	case x != nil:
		n += uint64(x.HistoryLost)
	case int(v.HistoryLen) > historyHot:
		n += uint64(v.HistoryLen) - historyHot
	}
	return n
}

// firstFlags are the flags of a TCP flow's first packet, as its history's
// first letter tells them.
func firstFlags(history string) uint8 {
	if history == "" {
		return 0
	}
	switch history[0] | 0x20 {
	case 's':
		return event.TCPSyn
	case 'h':
		return event.TCPSyn | event.TCPAck
	case 'a', 'd':
		return event.TCPAck
	case 'f':
		return event.TCPFin | event.TCPAck
	case 'r':
		return event.TCPRst
	}
	return 0
}

// icmpPaired reports ICMP types with a counterpart (request/reply).
func icmpPaired(family, typ uint8) bool {
	if family == uint8(abi.BpfAddrFamilyFAMILY_IPV4) {
		switch typ {
		case 0, 8, 9, 10, 13, 14, 15, 16, 17, 18:
			return true
		}
		return false
	}
	switch typ {
	case 128, 129, 130, 131, 133, 134, 135, 136, 139, 140, 144, 145:
		return true
	}
	return false
}

// Directions reads a flow's two directions, LO then HI, with the carries
// of its extension (x may be nil).
func Directions(proto uint8, v *abi.BpfFlowValue, x *abi.BpfFlowExtra) [2]event.DirectionStats {
	if x == nil {
		x = &abi.BpfFlowExtra{}
	}
	return [2]event.DirectionStats{direction(proto, &v.Dir[0], &x.Dir[0]), direction(proto, &v.Dir[1], &x.Dir[1])}
}

// direction reads one direction's narrow counters with their carries.
func direction(proto uint8, d *abi.BpfFlowDir, x *abi.BpfFlowExtraDir) event.DirectionStats {
	wide := func(lo uint64, hi uint32, bits uint) uint64 { return uint64(hi)<<bits | lo }
	s := event.DirectionStats{
		Packets:     wide(uint64(d.Packets), x.PacketsHi, 32),
		Bytes:       wide(uint64(d.IpBytes), x.IpBytesHi, 32),
		FrameBytes:  wide(uint64(d.FrameBytes), x.FrameBytesHi, 32),
		MissedBytes: x.MissedBytes,
		TCPFlags:    d.TcpFlags,
		FlagCounts: event.TCPFlagCounts{
			SYN:    wide(uint64(d.Syn), x.SynHi, 8),
			SYNACK: wide(uint64(d.Synack), x.SynackHi, 8),
			ACK:    wide(uint64(d.Ack), x.AckHi, 16),
			FIN:    wide(uint64(d.Fin), x.FinHi, 8),
			RST:    wide(uint64(d.Rst), x.RstHi, 8),
			PSH:    wide(uint64(d.Psh), x.PshHi, 16),
			URG:    wide(uint64(d.Urg), x.UrgHi, 8),
			ECE:    wide(uint64(d.Ece), x.EceHi, 8),
			CWR:    wide(uint64(d.Cwr), x.CwrHi, 8),
		},
	}
	if proto != event.ProtoTCP {
		s.PayloadBytes = uint64(d.SeqNext)<<32 | uint64(d.SeqFirst)
		return s
	}
	if d.Packets == 0 && x.PacketsHi == 0 {
		return s
	}
	// Zeek's endpoint size: the sequence space from the first to the
	// highest sequence number, without the SYN's and the FIN's octets.
	size := uint64(x.SeqWraps)<<32 + uint64(d.SeqNext-d.SeqFirst)
	if size > 0 {
		size-- // the SYN (or, without one, the octet before the first seen)
	}
	if s.FlagCounts.FIN > 0 && size > 0 {
		size--
	}
	s.PayloadBytes = size
	return s
}

// endReason maps a kernel record's reason.
func endReason(reason uint8) event.EndReason {
	switch reason {
	case uint8(abi.BpfFlowEndReasonFLOW_END_FIN):
		return event.EndFIN
	case uint8(abi.BpfFlowEndReasonFLOW_END_TABLE_FULL):
		return event.EndTableFull
	case uint8(abi.BpfFlowEndReasonFLOW_END_TIMEOUT):
		return event.EndTimeout
	}
	return event.EndRST
}

// closeReason reads why a closed flow's table entry closed.
func closeReason(v *abi.BpfFlowValue) event.EndReason {
	if v.State&uint8(abi.BpfFlowStateBitsSTATE_RST_LO|abi.BpfFlowStateBitsSTATE_RST_HI) != 0 {
		return event.EndRST
	}
	return event.EndFIN
}

// Package ringbuf drains the sensor's BPF ring buffer and decodes kernel
// events and flow-table entries into the event model.
package ringbuf

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/netip"
	"time"
	"unsafe"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// Decoder turns raw kernel records into events.
type Decoder struct {
	// Clock converts the kernel's packet time to wall time: CLOCK_MONOTONIC
	// on a live interface, Unix nanoseconds in replay.
	Clock func(ns uint64) time.Time
	// Rules resolves a kernel rule id to its metadata.
	Rules RuleResolver
	// Interface names an ifindex; nil leaves Packet.Interface empty.
	Interface func(ifindex uint32) string
}

// RuleResolver resolves kernel rule ids of a blocklist generation.
type RuleResolver interface {
	Rule(id, generation uint32) (event.Rule, bool)
}

// Kind is the type of a ring record.
type Kind uint8

const (
	KindAlert      = Kind(loader.BpfEventTypeEVENT_ALERT)
	KindFlowClosed = Kind(loader.BpfEventTypeEVENT_FLOW_CLOSED)
)

var (
	alertSize = int(unsafe.Sizeof(loader.BpfAlertEvent{}))
	flowSize  = int(unsafe.Sizeof(loader.BpfFlowEvent{}))
)

// RecordKind reports what a raw ring record holds.
func RecordKind(raw []byte) Kind {
	if len(raw) == 0 {
		return 0
	}
	return Kind(raw[0])
}

// AlertEvent views a raw alert record.
func AlertEvent(raw []byte) (*loader.BpfAlertEvent, error) {
	if len(raw) < alertSize {
		return nil, fmt.Errorf("alert record of %d bytes, want %d", len(raw), alertSize)
	}
	return (*loader.BpfAlertEvent)(unsafe.Pointer(&raw[0])), nil
}

// FlowEvent views a raw flow-closed record.
func FlowEvent(raw []byte) (*loader.BpfFlowEvent, error) {
	if len(raw) < flowSize {
		return nil, fmt.Errorf("flow record of %d bytes, want %d", len(raw), flowSize)
	}
	return (*loader.BpfFlowEvent)(unsafe.Pointer(&raw[0])), nil
}

// Alert decodes an alert record; the result shares nothing with raw.
func (d *Decoder) Alert(raw []byte) (*event.Alert, error) {
	ev, err := AlertEvent(raw)
	if err != nil {
		return nil, err
	}
	rule, ok := d.Rules.Rule(ev.RuleId, ev.Generation)
	if !ok {
		rule = event.Rule{ID: ev.RuleId, GID: 1, Priority: 3,
			Msg: fmt.Sprintf("rule %#x of blocklist generation %d (replaced before it was read)", ev.RuleId, ev.Generation)}
	}
	p := &ev.Pkt
	fam := p.Family
	a := &event.Alert{
		Rule:   rule,
		Listed: event.ListedDst,
		Packet: event.Packet{
			Time:         d.Clock(ev.TsNs),
			Src:          event.Endpoint{IP: Addr(p.Src, fam), Port: p.Sport},
			Dst:          event.Endpoint{IP: Addr(p.Dst, fam), Port: p.Dport},
			Proto:        p.Proto,
			VLAN:         vlans(p.Vlan),
			TTL:          p.Ttl,
			TOS:          p.Tos,
			IPHeaderLen:  p.IpHdrLen,
			IPLen:        p.IpLen,
			IPID:         p.IpId,
			IPFlags:      p.IpFlags,
			FragOffset:   p.FragOffset,
			Fragment:     p.Fragment != 0,
			TCPFlags:     p.TcpFlags,
			Seq:          p.Seq,
			Ack:          p.Ack,
			Window:       p.Window,
			UrgPtr:       p.UrgPtr,
			TCPHeaderLen: p.TcpHdrLen,
			ICMPType:     p.IcmpType,
			ICMPCode:     p.IcmpCode,
			FrameLen:     ev.FrameLen,
			Data:         append([]byte(nil), ev.Data[:min(int(ev.CapLen), len(ev.Data))]...),
		},
	}
	if ev.Listed == uint8(loader.BpfRuleDirectionRULE_LISTED_SRC) {
		a.Listed = event.ListedSrc
	}
	if ev.HasFlow != 0 {
		a.FlowID = FlowID(&ev.Key, ev.FlowStartNs)
	}
	a.ID = AlertID(&ev.Key, ev.FlowStartNs, ev.TsNs, ev.RuleId)
	if d.Interface != nil {
		a.Packet.Interface = d.Interface(ev.Ifindex)
	}
	return a, nil
}

// Flow builds a session record from a flow-table entry.
func (d *Decoder) Flow(key *loader.BpfFlowKey, v *loader.BpfFlowValue, reason event.EndReason) *event.Flow {
	client, server := uint8(v.Initiator&1), uint8(1-(v.Initiator&1))
	ends := [2]event.Endpoint{
		{IP: Addr(key.AddrLo, key.Family), Port: key.PortLo},
		{IP: Addr(key.AddrHi, key.Family), Port: key.PortHi},
	}
	f := &event.Flow{
		FlowID:        FlowID(key, v.FirstSeenNs),
		Proto:         key.Proto,
		Client:        ends[client],
		Server:        ends[server],
		VLAN:          vlans(key.Vlan),
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
	listed := [2]bool{v.Match.Listed&uint8(loader.BpfListedBitsLISTED_LO) != 0, v.Match.Listed&uint8(loader.BpfListedBitsLISTED_HI) != 0}
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
func history(v *loader.BpfFlowValue, client uint8) string {
	n := min(int(v.HistoryLen), len(v.History))
	b := make([]byte, n)
	for i := 0; i < n; i++ {
		c := byte(v.History[i])
		if client == uint8(loader.BpfFlowSideSIDE_HI) {
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

// EndReason maps the kernel's close reason.
func EndReason(reason uint8) event.EndReason {
	if reason == uint8(loader.BpfFlowEndReasonFLOW_END_FIN) {
		return event.EndFIN
	}
	return event.EndRST
}

func direction(d *loader.BpfFlowDirection) event.DirectionStats {
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

// Addr reads an address of a flow key or packet fields: IPv4 in the
// first 4 bytes.
func Addr(b [16]uint8, family uint8) netip.Addr {
	if family == uint8(loader.BpfAddrFamilyFAMILY_IPV4) {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

func vlans(v [3]uint16) []uint16 {
	var out []uint16
	for _, id := range v {
		if id == 0 {
			break
		}
		out = append(out, id)
	}
	return out
}

// AlertID names an alert: its flow, its packet's time and its rule.
func AlertID(key *loader.BpfFlowKey, flowStart, ts uint64, rule uint32) uint64 {
	h := fnv.New64a()
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], FlowID(key, flowStart))
	h.Write(buf[:])
	binary.BigEndian.PutUint64(buf[:], ts)
	h.Write(buf[:])
	binary.BigEndian.PutUint32(buf[:4], rule)
	h.Write(buf[:4])
	id := h.Sum64() & (1<<53 - 1)
	if id == 0 {
		id = 1
	}
	return id
}

// FlowID names a flow by its canonical key and start time, so that an
// alert and the flow's record computed apart agree. It fits in 53 bits
// for JSON consumers that read numbers as doubles.
func FlowID(key *loader.BpfFlowKey, startNs uint64) uint64 {
	h := fnv.New64a()
	var buf [48]byte
	copy(buf[0:16], key.AddrLo[:])
	copy(buf[16:32], key.AddrHi[:])
	binary.BigEndian.PutUint16(buf[32:], key.PortLo)
	binary.BigEndian.PutUint16(buf[34:], key.PortHi)
	binary.BigEndian.PutUint16(buf[36:], key.Vlan[0])
	binary.BigEndian.PutUint16(buf[38:], key.Vlan[1])
	binary.BigEndian.PutUint16(buf[40:], key.Vlan[2])
	buf[42] = key.Proto
	buf[43] = key.Family
	h.Write(buf[:44])
	binary.BigEndian.PutUint64(buf[:8], startNs)
	h.Write(buf[:8])
	id := h.Sum64() & (1<<53 - 1)
	if id == 0 {
		id = 1
	}
	return id
}

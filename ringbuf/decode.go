// Package ringbuf drains the sensor's BPF ring buffers and decodes alert
// records into the event model.
package ringbuf

import (
	"fmt"
	"time"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// Decoder turns raw alert records into events.
type Decoder struct {
	// Clock converts the kernel's packet time to wall time: CLOCK_MONOTONIC
	// on a live interface, Unix nanoseconds in replay.
	Clock func(ns uint64) time.Time
	// Rules resolves a kernel rule id to its metadata.
	Rules RuleResolver
	// Interface names an ifindex; nil leaves Packet.Interface empty.
	Interface func(ifindex uint32) string

	// RulesUnknown counts alerts whose rule was gone when they were read
	// (two reloads within one drain): each is written with a placeholder
	// rule naming its id and generation.
	RulesUnknown uint64

	// flowIDs remembers recent flows' ids: a flow's alerts come
	// together, and its FNV-1a id took a third of decoding an alert.
	// A Decoder is for one goroutine.
	flowIDs [flowIDSlots]flowIDSlot

	// alerts and data hand out alerts and their packets' bytes a slot
	// at a time from chunks: one allocation for many alerts instead of
	// two each, which with the collector's work behind them were half
	// of decoding. An alert lives until the outputs have written it, a
	// chunk until all of its alerts have been written.
	alerts []event.Alert
	data   []byte
}

const (
	flowIDSlots = 256
	alertChunk  = 64 // alerts a chunk: ~22 KB
)

// newAlert hands out a zero alert from the current chunk.
func (d *Decoder) newAlert() *event.Alert {
	if len(d.alerts) == 0 {
		d.alerts = make([]event.Alert, alertChunk)
	}
	a := &d.alerts[0]
	d.alerts = d.alerts[1:]
	return a
}

// copyData copies a packet's bytes into the current chunk; nil for none.
func (d *Decoder) copyData(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if len(b) > cap(d.data)-len(d.data) {
		d.data = make([]byte, 0, max(alertChunk*len(abi.BpfAlertEvent{}.Data), len(b)))
	}
	n := len(d.data)
	d.data = append(d.data, b...)
	return d.data[n:len(d.data):len(d.data)] // appending to it copies
}

type flowIDSlot struct {
	key   abi.BpfFlowKey
	start uint64
	id    uint64 // 0: empty
}

// flowID is abi.FlowID, remembered.
func (d *Decoder) flowID(key *abi.BpfFlowKey, start uint64) uint64 {
	h := start ^ uint64(key.PortLo)<<16 ^ uint64(key.PortHi) ^ uint64(key.AddrLo[3])<<24 ^ uint64(key.AddrHi[3])<<32 ^ uint64(key.AddrLo[15])<<40
	s := &d.flowIDs[(h*0x9e3779b97f4a7c15)>>56%flowIDSlots]
	if s.id != 0 && s.start == start && s.key == *key {
		return s.id
	}
	*s = flowIDSlot{key: *key, start: start, id: abi.FlowID(key, start)}
	return s.id
}

// RuleResolver resolves kernel rule ids of a blocklist generation.
type RuleResolver interface {
	// Rule returns the rule; it is shared (every alert of the rule
	// points at it) and must not be changed.
	Rule(id, generation uint32) (*event.Rule, bool)
}

// Alert decodes an alert record; the result shares nothing with raw.
func (d *Decoder) Alert(raw []byte) (*event.Alert, error) {
	ev, err := abi.AlertEvent(raw)
	if err != nil {
		return nil, err
	}
	rule, ok := d.Rules.Rule(ev.RuleId, ev.Generation)
	if !ok {
		d.RulesUnknown++
		rule = &event.Rule{ID: ev.RuleId, GID: 1, Priority: 3,
			Msg: fmt.Sprintf("rule %#x of blocklist generation %d (replaced before it was read)", ev.RuleId, ev.Generation)}
	}
	p := &ev.Pkt
	fam := p.Family
	a := d.newAlert()
	*a = event.Alert{
		Rule:   rule,
		Listed: event.ListedDst,
		Packet: event.Packet{
			Time:         d.Clock(ev.TsNs),
			Src:          event.Endpoint{IP: abi.Addr(p.Src, fam), Port: p.Sport},
			Dst:          event.Endpoint{IP: abi.Addr(p.Dst, fam), Port: p.Dport},
			Proto:        p.Proto,
			VLAN:         abi.VLANs(p.Vlan),
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
			PcapCnt:      uint64(ev.PcapCnt),
			Data:         d.copyData(ev.Data[:min(int(ev.CapLen), len(ev.Data))]),
		},
	}
	if ev.Listed == uint8(abi.BpfRuleDirectionRULE_LISTED_SRC) {
		a.Listed = event.ListedSrc
	}
	if ev.HasFlow != 0 {
		a.FlowID = d.flowID(&ev.Key, ev.FlowStartNs)
		client, server := ev.Initiator&1, 1-ev.Initiator&1
		a.ToServer = ev.Direction == client
		a.Flow = event.AlertFlow{
			PktsToServer: uint64(ev.FlowPackets[client]), PktsToClient: uint64(ev.FlowPackets[server]),
			BytesToServer: uint64(ev.FlowBytes[client]), BytesToClient: uint64(ev.FlowBytes[server]),
			Start: d.Clock(ev.FlowStartNs),
		}
	}
	a.Tunnel, a.Layer = alertTunnel(ev)
	flowID := a.FlowID
	if ev.HasFlow == 0 {
		flowID = d.flowID(&ev.Key, ev.FlowStartNs)
	}
	a.ID = abi.AlertIDOf(flowID, ev.TsNs, ev.RuleId)
	// A packet read from a capture file (it has a number in it) came
	// from no interface of ours: like Suricata reading a pcap, it names
	// none (its pcap_cnt says where it came from).
	if d.Interface != nil && ev.PcapCnt == 0 {
		a.Packet.Interface = d.Interface(ev.Ifindex)
	}
	return a, nil
}

// alertTunnel reads the tunnel an alert's packet came through and the
// layer its listed address is in.
func alertTunnel(ev *abi.BpfAlertEvent) (*event.Tunnel, event.Layer) {
	t := &ev.Tunnel
	kind := abi.TunnelKindName(t.Kind)
	if kind == "" {
		return nil, ""
	}
	layer := event.LayerInner
	if ev.Layer == uint8(abi.BpfAlertLayerLAYER_OUTER) {
		layer = event.LayerOuter
	}
	return &event.Tunnel{
		Kind:  event.TunnelKind(kind),
		Src:   event.Endpoint{IP: abi.Addr(t.Src, t.Family), Port: t.Sport},
		Dst:   event.Endpoint{IP: abi.Addr(t.Dst, t.Family), Port: t.Dport},
		Proto: t.Proto, ID: t.Id, Depth: t.Depth,
	}, layer
}

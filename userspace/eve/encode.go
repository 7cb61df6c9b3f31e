package eve

import (
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"strconv"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/communityid"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// The link type of Packet.Data, which starts at the Ethernet header.
const (
	linktypeEthernet     = 1
	linktypeEthernetName = "EN10MB"
)

// AppendAlert appends the EVE `alert` record of a to b, without a
// trailing newline.
func AppendAlert(b []byte, a *event.Alert, opts Options) []byte {
	return appendAlert(b, a, &opts, nil)
}

// AppendFlow appends the EVE `flow` record of f to b, without a trailing
// newline.
func AppendFlow(b []byte, f *event.Flow, opts Options) []byte {
	return appendFlow(b, f, &opts, nil)
}

func isICMP(p uint8) bool {
	return p == event.ProtoICMP || p == event.ProtoICMPv6
}

// header is what the fields common to every event type say.
type header struct {
	time         time.Time
	flowID       uint64 // 0: not in a flow, no flow_id
	iface        string
	pcapCnt      uint64 // the packet's number in the capture read (replay), 0: none
	eventType    string
	vlan         []uint16
	src, dst     event.Endpoint
	proto        uint8
	l4           bool // the L4 header was seen: ports or ICMP type/code are known
	icmpType     uint8
	icmpCode     uint8
	compressIPv6 bool
	// packet: the event is about a packet (an alert), whose header
	// Suricata writes with CreateEveHeader; flow records get
	// CreateEveHeaderFromFlow's (ip_v before proto, no pkt_src).
	packet bool
}

// header writes the fields Suricata's CreateEveHeader (packet events) or
// CreateEveHeaderFromFlow (flow records) writes, in their order, up to but
// not including community_id: timestamp, flow_id, in_iface, pcap_cnt,
// event_type, vlan, src_ip, src_port, dest_ip, dest_port, proto and ip_v
// (ip_v first for flows), icmp_type, icmp_code, and pkt_src for packets.
func (o *object) header(h *header) {
	o.time("timestamp", h.time)
	if h.flowID != 0 {
		o.uint("flow_id", h.flowID)
	}
	if h.iface != "" {
		o.str("in_iface", h.iface)
	}
	if h.pcapCnt != 0 {
		o.uint("pcap_cnt", h.pcapCnt)
	}
	o.str("event_type", h.eventType)
	if len(h.vlan) > 0 {
		o.openArray("vlan")
		for _, id := range h.vlan {
			o.elem()
			o.b = strconv.AppendUint(o.b, uint64(id), 10)
		}
		o.closeArray()
	}
	ports := h.l4 && event.HasPorts(h.proto)
	if h.src.IP.IsValid() {
		o.ip("src_ip", h.src.IP, h.compressIPv6)
	}
	if ports {
		o.uint("src_port", uint64(h.src.Port))
	}
	if h.dst.IP.IsValid() {
		o.ip("dest_ip", h.dst.IP, h.compressIPv6)
	}
	if ports {
		o.uint("dest_port", uint64(h.dst.Port))
	}
	if !h.packet {
		o.ipVersion(h.src.IP)
	}
	o.key("proto")
	o.b = append(o.b, '"')
	o.b = appendProto(o.b, h.proto)
	o.b = append(o.b, '"')
	if h.packet {
		o.ipVersion(h.src.IP)
	}
	if h.l4 && isICMP(h.proto) {
		o.uint("icmp_type", uint64(h.icmpType))
		o.uint("icmp_code", uint64(h.icmpCode))
	}
	if h.packet {
		// Every packet reaches the kernel program from an interface or
		// a capture file: Suricata's PKT_SRC_WIRE.
		o.str("pkt_src", "wire/pcap")
	}
}

// ipVersion writes ip_v: 4 or 6.
func (o *object) ipVersion(a netip.Addr) {
	switch {
	case a.Is4() || a.Is4In6():
		o.uint("ip_v", 4)
	case a.Is6():
		o.uint("ip_v", 6)
	}
}

// communityID writes community_id (seed 0) when it can be computed: both
// addresses known and of one family, and the ports or ICMP type/code
// known for the protocols whose ID includes them.
func (o *object) communityID(h *header) {
	if !h.l4 && (event.HasPorts(h.proto) || isICMP(h.proto)) {
		return
	}
	sport, dport := h.src.Port, h.dst.Port
	if isICMP(h.proto) {
		sport, dport = uint16(h.icmpType), uint16(h.icmpCode)
	}
	var buf [communityid.Len]byte
	id := o.ids.get(buf[:0], h.src.IP, h.dst.IP, sport, dport, h.proto)
	if len(id) == 0 {
		return
	}
	o.key("community_id")
	o.b = append(o.b, '"')
	o.b = append(o.b, id...)
	o.b = append(o.b, '"')
}

func appendAlert(b []byte, a *event.Alert, opts *Options, ids *idCache) []byte {
	p := &a.Packet
	h := header{
		time:         p.Time,
		flowID:       a.FlowID,
		iface:        p.Interface,
		pcapCnt:      p.PcapCnt,
		eventType:    "alert",
		vlan:         p.VLAN,
		src:          p.Src,
		dst:          p.Dst,
		proto:        p.Proto,
		l4:           !p.Fragment,
		icmpType:     p.ICMPType,
		icmpCode:     p.ICMPCode,
		compressIPv6: opts.CompressIPv6,
		packet:       true,
	}
	o := object{b: append(b, '{'), ids: ids}
	o.header(&h)
	o.communityID(&h)

	r := &a.Rule
	o.open("alert")
	o.str("action", "allowed")
	o.uint("gid", uint64(r.GID))
	o.uint("signature_id", uint64(r.SID))
	o.uint("rev", uint64(r.Rev))
	o.str("signature", r.Msg)
	o.str("category", r.Category)
	sev := uint64(r.Priority)
	if sev == 0 {
		sev = 3 // Suricata's severity for rules without a classification
	}
	o.uint("severity", sev)
	if len(r.References) > 0 {
		systems := opts.ReferenceSystems
		if systems == nil {
			systems = DefaultReferenceSystems
		}
		o.openArray("references")
		for _, ref := range r.References {
			o.elem()
			prefix, val := referenceParts(ref, systems)
			o.b = append(o.b, '"')
			o.b = appendEscaped(o.b, prefix)
			o.b = appendEscaped(o.b, val)
			o.b = append(o.b, '"')
		}
		o.closeArray()
	}
	o.close()
	o.tunnel(a.Tunnel, p.PcapCnt, opts.CompressIPv6)

	if a.FlowID != 0 {
		o.alertFlow(a, opts)
	}
	if len(p.Data) > 0 {
		o.key("packet")
		o.b = append(o.b, '"')
		o.b = base64.StdEncoding.AppendEncode(o.b, p.Data)
		o.b = append(o.b, '"')
		o.open("packet_info")
		o.uint("linktype", linktypeEthernet)
		o.str("linktype_name", linktypeEthernetName)
		o.close()
	}
	if a.CaptureFile != "" {
		o.str("capture_file", a.CaptureFile)
	}
	if a.Listed != "" {
		o.str("xdpsensor_listed", string(a.Listed))
	}
	if a.Layer != "" {
		o.str("xdpsensor_layer", string(a.Layer))
	}
	if a.ID != 0 {
		o.uint("xdpsensor_alert_id", a.ID)
	}
	return o.end(opts)
}

// alertFlow writes what Suricata writes of a packet's flow in an alert:
// the packet's direction in it, and (alert metadata "flow", on by
// default) the flow's counters when the alert fired, its start and its
// client and server.
func (o *object) alertFlow(a *event.Alert, opts *Options) {
	p := &a.Packet
	client, server := p.Src, p.Dst
	if a.ToServer {
		o.str("direction", "to_server")
	} else {
		o.str("direction", "to_client")
		client, server = p.Dst, p.Src
	}
	fl := &a.Flow
	o.open("flow")
	o.uint("pkts_toserver", fl.PktsToServer)
	o.uint("pkts_toclient", fl.PktsToClient)
	o.uint("bytes_toserver", fl.BytesToServer)
	o.uint("bytes_toclient", fl.BytesToClient)
	o.time("start", fl.Start)
	o.ip("src_ip", client.IP, opts.CompressIPv6)
	o.ip("dest_ip", server.IP, opts.CompressIPv6)
	// Suricata writes the ports when the packet's source port is not 0.
	if event.HasPorts(p.Proto) && !p.Fragment && p.Src.Port != 0 {
		o.uint("src_port", uint64(client.Port))
		o.uint("dest_port", uint64(server.Port))
	}
	o.close()
}

// end writes the fields Suricata writes last and closes the record.
func (o *object) end(opts *Options) []byte {
	if opts.SensorName != "" {
		o.str("host", opts.SensorName)
	}
	return append(o.b, '}')
}

// flowState is Suricata's flow.state. A TCP flow's follows its session
// (StreamTcpPacketSetState): "established" from the handshake through
// the first FIN, "closed" from time_wait, last_ack or closed on, "new"
// before the handshake and for flows without a session. Other protocols
// are "established" once both sides sent.
func flowState(f *event.Flow) string {
	if f.Proto == event.ProtoTCP {
		switch TCPState(f) {
		case "established", "fin_wait1", "fin_wait2", "closing", "close_wait":
			return "established"
		case "last_ack", "time_wait", "closed":
			return "closed"
		}
		return "new"
	}
	if f.ToServer.Packets > 0 && f.ToClient.Packets > 0 {
		return "established"
	}
	return "new"
}

// flowReason is Suricata's flow.reason. Suricata ends TCP sessions by
// timeout too (after the closed state's shorter timeout), so FIN and RST
// map to "timeout"; so does an emergency timeout, which Suricata marks
// with flow.emergency (FLOW_END_FLAG_EMERGENCY beside _TIMEOUT). A
// table-full record has no Suricata counterpart: "unknown". Our precise
// reason goes to flow.xdpsensor_end.
func flowReason(r event.EndReason) string {
	switch r {
	case event.EndFIN, event.EndRST, event.EndTimeout, event.EndEmergency:
		return "timeout"
	case event.EndShutdown:
		return "shutdown"
	case event.EndActive:
		return "forced" // Suricata's word for a flow logged while alive
	default:
		return "unknown"
	}
}

func appendFlow(b []byte, f *event.Flow, opts *Options, ids *idCache) []byte {
	// Suricata timestamps a flow record when it writes it; the flow's
	// last packet is our nearest equivalent.
	h := header{
		time:         f.End,
		flowID:       f.FlowID,
		eventType:    "flow",
		vlan:         f.VLAN,
		src:          f.Client,
		dst:          f.Server,
		proto:        f.Proto,
		l4:           true,
		icmpType:     f.ICMPType,
		icmpCode:     f.ICMPCode,
		compressIPv6: opts.CompressIPv6,
	}
	o := object{b: append(b, '{'), ids: ids}
	o.header(&h)

	o.open("flow")
	o.uint("pkts_toserver", f.ToServer.Packets)
	o.uint("pkts_toclient", f.ToClient.Packets)
	// Suricata counts whole frames (GET_PKT_LEN); IP bytes, which Zeek
	// counts, are xdpsensor_ip_bytes_* below.
	o.uint("bytes_toserver", f.ToServer.FrameBytes)
	o.uint("bytes_toclient", f.ToClient.FrameBytes)
	o.time("start", f.Start)
	o.time("end", f.End)
	// Like Suricata: the difference of the whole seconds of end and start.
	age := f.End.Unix() - f.Start.Unix()
	if age < 0 {
		age = 0
	}
	o.uint("age", uint64(age))
	if f.Reason == event.EndEmergency {
		o.bool("emergency", true)
	}
	o.str("state", flowState(f))
	o.str("reason", flowReason(f.Reason))
	o.bool("alerted", f.Alerts > 0)
	if f.Reason != "" {
		o.str("xdpsensor_end", string(f.Reason))
	}
	o.uint("xdpsensor_payload_toserver", f.ToServer.PayloadBytes)
	o.uint("xdpsensor_payload_toclient", f.ToClient.PayloadBytes)
	o.uint("xdpsensor_ip_bytes_toserver", f.ToServer.Bytes)
	o.uint("xdpsensor_ip_bytes_toclient", f.ToClient.Bytes)
	if f.ClientListed || f.ServerListed {
		o.openArray("xdpsensor_listed")
		if f.ClientListed {
			o.elem()
			o.b = appendString(o.b, "client")
		}
		if f.ServerListed {
			o.elem()
			o.b = appendString(o.b, "server")
		}
		o.closeArray()
	}
	if f.Label != "" {
		o.str("xdpsensor_label", f.Label)
	}
	if f.LabelNote != "" {
		o.str("xdpsensor_label_note", f.LabelNote)
	}
	if f.HistoryLost > 0 {
		// Zeek history letters the kernel had no room for: the flow's
		// conn.log history is cut short by this many.
		o.uint("xdpsensor_history_lost", f.HistoryLost)
	}
	o.close()

	// Suricata writes community_id after the flow object in flow records.
	o.communityID(&h)
	o.tunnel(f.Tunnel, 0, opts.CompressIPv6)

	if f.Proto == event.ProtoTCP {
		o.tcp(f)
		o.open("xdpsensor_flag_counts")
		o.flagCounts("toserver", &f.ToServer.FlagCounts)
		o.flagCounts("toclient", &f.ToClient.FlagCounts)
		o.close()
	}
	if len(f.Rules) > 0 {
		o.openArray("xdpsensor_rules")
		for i := range f.Rules {
			r := &f.Rules[i]
			o.elem()
			o.b = append(o.b, '{')
			o.comma = false
			o.uint("gid", uint64(r.GID))
			o.uint("signature_id", uint64(r.SID))
			o.uint("rev", uint64(r.Rev))
			o.str("signature", r.Msg)
			o.close()
		}
		o.closeArray()
	}
	return o.end(opts)
}

// tcp writes the tcp object of a flow record as Suricata's EveFlowLogJSON
// and EveTcpFlags do: hex flag summaries, then only the flags seen, as
// true, then the TCP session's state and its gaps.
func (o *object) tcp(f *event.Flow) {
	ts, tc := f.ToServer.TCPFlags, f.ToClient.TCPFlags
	all := ts | tc
	o.open("tcp")
	o.hex2("tcp_flags", all)
	o.hex2("tcp_flags_ts", ts)
	o.hex2("tcp_flags_tc", tc)
	for _, fl := range [...]struct {
		bit  uint8
		name string
	}{
		{event.TCPSyn, "syn"},
		{event.TCPFin, "fin"},
		{event.TCPRst, "rst"},
		{event.TCPPsh, "psh"},
		{event.TCPAck, "ack"},
		{event.TCPUrg, "urg"},
		{event.TCPEce, "ecn"},
		{event.TCPCwr, "cwr"},
	} {
		if all&fl.bit != 0 {
			o.bool(fl.name, true)
		}
	}
	if state := TCPState(f); state != "" {
		o.str("state", state)
		if f.ToClient.MissedBytes > 0 {
			o.bool("tc_gap", true)
		}
		if f.ToServer.MissedBytes > 0 {
			o.bool("ts_gap", true)
		}
	}
	o.close()
}

func (o *object) flagCounts(k string, c *event.TCPFlagCounts) {
	o.open(k)
	o.uint("syn", uint64(c.SYN))
	o.uint("synack", uint64(c.SYNACK))
	o.uint("ack", uint64(c.ACK))
	o.uint("fin", uint64(c.FIN))
	o.uint("rst", uint64(c.RST))
	o.uint("psh", uint64(c.PSH))
	o.uint("urg", uint64(c.URG))
	o.uint("ece", uint64(c.ECE))
	o.uint("cwr", uint64(c.CWR))
	o.close()
}

// idCache remembers the Community IDs of recent flows: a flow's alerts and
// its record share one, and its SHA-1 cost more than the rest of an alert
// record. Direct-mapped by a hash of the tuple; a nil cache computes each.
type idCache struct {
	slots [idCacheSlots]idSlot
}

const idCacheSlots = 1024

type idSlot struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8
	n            uint8 // bytes of id; 0: empty, or an ID that cannot be made
	id           [communityid.Len]byte
}

// get appends the Community ID of the tuple to b.
func (c *idCache) get(b []byte, src, dst netip.Addr, sport, dport uint16, proto uint8) []byte {
	if c == nil {
		return communityid.Append(b, 0, src, dst, sport, dport, proto)
	}
	h := uint64(sport)<<24 ^ uint64(dport)<<8 ^ uint64(proto)
	for _, a := range [2]netip.Addr{src, dst} {
		x := a.As16()
		h = (h ^ binary.LittleEndian.Uint64(x[0:]) ^ binary.LittleEndian.Uint64(x[8:])*0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9
	}
	s := &c.slots[(h>>40)%idCacheSlots]
	if s.n != 0 && s.src == src && s.dst == dst && s.sport == sport && s.dport == dport && s.proto == proto {
		return append(b, s.id[:s.n]...)
	}
	id := communityid.Append(s.id[:0], 0, src, dst, sport, dport, proto)
	*s = idSlot{src: src, dst: dst, sport: sport, dport: dport, proto: proto, n: uint8(len(id)), id: s.id}
	return append(b, id...)
}

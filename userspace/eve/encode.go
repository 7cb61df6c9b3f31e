package eve

import (
	"encoding/base64"
	"net/netip"
	"strconv"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// The encoders append each record to a byte slice held in a local
// variable, member after member, writing the constant text between the
// values (keys, quotes, commas) as one string each: a record is some
// forty members, and this keeps the slice in registers and copies each
// run of constant text once. Every record opens with the header's
// timestamp, so every later member starts with its comma.

// packetInfo is what follows a packet's bytes in an alert: Packet.Data
// starts at the Ethernet header (pcap link type 1, EN10MB).
const packetInfo = `","packet_info":{"linktype":1,"linktype_name":"EN10MB"}`

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

// appendHeader writes the fields Suricata's CreateEveHeader (packet events) or
// CreateEveHeaderFromFlow (flow records) writes, in their order, up to but
// not including community_id: timestamp, flow_id, in_iface, pcap_cnt,
// event_type, vlan, src_ip, src_port, dest_ip, dest_port, proto and ip_v
// (ip_v first for flows), icmp_type, icmp_code, and pkt_src for packets.
func appendHeader(b []byte, h *header, m *memo) []byte {
	b = append(b, `"timestamp":"`...)
	b = m.time(b, h.time)
	if h.flowID != 0 {
		b = appendUintMember(b, `","flow_id":`, h.flowID)
		b = append(b, ',')
	} else {
		b = append(b, '"', ',')
	}
	if h.iface != "" {
		b = append(b, `"in_iface":`...)
		b = appendString(b, h.iface)
		b = append(b, ',')
	}
	if h.pcapCnt != 0 {
		b = appendUintMember(b, `"pcap_cnt":`, h.pcapCnt)
		b = append(b, ',')
	}
	b = append(b, `"event_type":`...)
	b = appendString(b, h.eventType)
	if len(h.vlan) > 0 {
		b = append(b, `,"vlan":[`...)
		for i, id := range h.vlan {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendUint(b, uint64(id))
		}
		b = append(b, ']')
	}
	ports := h.l4 && event.HasPorts(h.proto)
	if h.src.IP.IsValid() {
		b = append(b, `,"src_ip":"`...)
		b = appendAddr(b, h.src.IP, h.compressIPv6)
		b = append(b, '"')
	}
	if ports {
		b = appendUintMember(b, `,"src_port":`, uint64(h.src.Port))
	}
	if h.dst.IP.IsValid() {
		b = append(b, `,"dest_ip":"`...)
		b = appendAddr(b, h.dst.IP, h.compressIPv6)
		b = append(b, '"')
	}
	if ports {
		b = appendUintMember(b, `,"dest_port":`, uint64(h.dst.Port))
	}
	if !h.packet {
		b = appendIPVersion(b, h.src.IP)
	}
	b = append(b, `,"proto":"`...)
	b = appendProto(b, h.proto)
	b = append(b, '"')
	if h.packet {
		b = appendIPVersion(b, h.src.IP)
	}
	if h.l4 && isICMP(h.proto) {
		b = appendUintMember(b, `,"icmp_type":`, uint64(h.icmpType))
		b = appendUintMember(b, `,"icmp_code":`, uint64(h.icmpCode))
	}
	if h.packet {
		// Every packet reaches the kernel program from an interface or
		// a capture file: Suricata's PKT_SRC_WIRE.
		b = append(b, `,"pkt_src":"wire/pcap"`...)
	}
	return b
}

// appendIPVersion writes ip_v: 4 or 6.
func appendIPVersion(b []byte, a netip.Addr) []byte {
	switch {
	case a.Is4() || a.Is4In6():
		return append(b, `,"ip_v":4`...)
	case a.Is6():
		return append(b, `,"ip_v":6`...)
	}
	return b
}

// appendCommunityID writes community_id (seed 0) when it can be
// computed: both addresses known and of one family, and the ports or
// ICMP type/code known for the protocols whose ID includes them.
func appendCommunityID(b []byte, h *header, m *memo) []byte {
	if !h.l4 && (event.HasPorts(h.proto) || isICMP(h.proto)) {
		return b
	}
	sport, dport := h.src.Port, h.dst.Port
	if isICMP(h.proto) {
		sport, dport = uint16(h.icmpType), uint16(h.icmpCode)
	}
	before := len(b)
	b = append(b, `,"community_id":"`...)
	id := len(b)
	b = m.communityID(b, h.src.IP, h.dst.IP, sport, dport, h.proto)
	if len(b) == id {
		return b[:before] // none can be made
	}
	return append(b, '"')
}

func appendAlert(b []byte, a *event.Alert, opts *Options, m *memo) []byte {
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
	b = append(b, '{')
	b = appendHeader(b, &h, m)
	b = appendCommunityID(b, &h, m)
	b = m.rule(b, a.Rule, opts)
	b = appendTunnel(b, a.Tunnel, p.PcapCnt, opts.CompressIPv6)
	if a.FlowID != 0 {
		b = appendAlertFlow(b, a, opts, m)
	}
	if len(p.Data) > 0 {
		b = append(b, `,"packet":"`...)
		b = base64.StdEncoding.AppendEncode(b, p.Data)
		b = append(b, packetInfo...)
	}
	if a.CaptureFile != "" {
		b = append(b, `,"capture_file":`...)
		b = appendString(b, a.CaptureFile)
	}
	if a.Listed != "" {
		b = append(b, `,"xdpsensor_listed":`...)
		b = appendString(b, string(a.Listed))
	}
	if a.Layer != "" {
		b = append(b, `,"xdpsensor_layer":`...)
		b = appendString(b, string(a.Layer))
	}
	if a.ID != 0 {
		b = appendUintMember(b, `,"xdpsensor_alert_id":`, a.ID)
	}
	return appendEnd(b, opts)
}

// appendRule writes an alert's alert object: the rule that fired.
func appendRule(b []byte, r *event.Rule, opts *Options) []byte {
	b = appendUintMember(b, `,"alert":{"action":"allowed","gid":`, uint64(r.GID))
	b = appendUintMember(b, `,"signature_id":`, uint64(r.SID))
	b = appendUintMember(b, `,"rev":`, uint64(r.Rev))
	b = append(b, `,"signature":`...)
	b = appendString(b, r.Msg)
	b = append(b, `,"category":`...)
	b = appendString(b, r.Category)
	sev := uint64(r.Priority)
	if sev == 0 {
		sev = 3 // Suricata's severity for rules without a classification
	}
	b = appendUintMember(b, `,"severity":`, sev)
	if len(r.References) > 0 {
		systems := opts.ReferenceSystems
		if systems == nil {
			systems = DefaultReferenceSystems
		}
		b = append(b, `,"references":[`...)
		for i, ref := range r.References {
			if i > 0 {
				b = append(b, ',')
			}
			prefix, val := referenceParts(ref, systems)
			b = append(b, '"')
			b = appendEscaped(b, prefix)
			b = appendEscaped(b, val)
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendAlertFlow writes what Suricata writes of a packet's flow in an
// alert: the packet's direction in it, and (alert metadata "flow", on by
// default) the flow's counters when the alert fired, its start and its
// client and server.
func appendAlertFlow(b []byte, a *event.Alert, opts *Options, m *memo) []byte {
	p := &a.Packet
	client, server := p.Src, p.Dst
	if a.ToServer {
		b = append(b, `,"direction":"to_server"`...)
	} else {
		b = append(b, `,"direction":"to_client"`...)
		client, server = p.Dst, p.Src
	}
	fl := &a.Flow
	b = appendUintMember(b, `,"flow":{"pkts_toserver":`, fl.PktsToServer)
	b = appendUintMember(b, `,"pkts_toclient":`, fl.PktsToClient)
	b = appendUintMember(b, `,"bytes_toserver":`, fl.BytesToServer)
	b = appendUintMember(b, `,"bytes_toclient":`, fl.BytesToClient)
	b = append(b, `,"start":"`...)
	b = m.time(b, fl.Start)
	b = append(b, `","src_ip":"`...)
	b = appendAddr(b, client.IP, opts.CompressIPv6)
	b = append(b, `","dest_ip":"`...)
	b = appendAddr(b, server.IP, opts.CompressIPv6)
	b = append(b, '"')
	// Suricata writes the ports when the packet's source port is not 0.
	if event.HasPorts(p.Proto) && !p.Fragment && p.Src.Port != 0 {
		b = appendUintMember(b, `,"src_port":`, uint64(client.Port))
		b = appendUintMember(b, `,"dest_port":`, uint64(server.Port))
	}
	return append(b, '}')
}

// appendEnd writes the fields Suricata writes last and closes the record.
func appendEnd(b []byte, opts *Options) []byte {
	if opts.SensorName != "" {
		b = append(b, `,"host":`...)
		b = appendString(b, opts.SensorName)
	}
	return append(b, '}')
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

func appendFlow(b []byte, f *event.Flow, opts *Options, m *memo) []byte {
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
	b = append(b, '{')
	b = appendHeader(b, &h, m)

	b = appendUintMember(b, `,"flow":{"pkts_toserver":`, f.ToServer.Packets)
	b = appendUintMember(b, `,"pkts_toclient":`, f.ToClient.Packets)
	// Suricata counts whole frames (GET_PKT_LEN); IP bytes, which Zeek
	// counts, are xdpsensor_ip_bytes_* below.
	b = appendUintMember(b, `,"bytes_toserver":`, f.ToServer.FrameBytes)
	b = appendUintMember(b, `,"bytes_toclient":`, f.ToClient.FrameBytes)
	b = append(b, `,"start":"`...)
	b = m.time(b, f.Start)
	b = append(b, `","end":"`...)
	b = m.time(b, f.End)
	// Like Suricata: the difference of the whole seconds of end and start.
	age := f.End.Unix() - f.Start.Unix()
	if age < 0 {
		age = 0
	}
	b = appendUintMember(b, `","age":`, uint64(age))
	if f.Reason == event.EndEmergency {
		b = append(b, `,"emergency":true`...)
	}
	b = append(b, `,"state":`...)
	b = appendString(b, flowState(f))
	b = append(b, `,"reason":`...)
	b = appendString(b, flowReason(f.Reason))
	b = append(b, `,"alerted":`...)
	b = strconv.AppendBool(b, f.Alerts > 0)
	if f.Reason != "" {
		b = append(b, `,"xdpsensor_end":`...)
		b = appendString(b, string(f.Reason))
	}
	b = appendUintMember(b, `,"xdpsensor_payload_toserver":`, f.ToServer.PayloadBytes)
	b = appendUintMember(b, `,"xdpsensor_payload_toclient":`, f.ToClient.PayloadBytes)
	b = appendUintMember(b, `,"xdpsensor_ip_bytes_toserver":`, f.ToServer.Bytes)
	b = appendUintMember(b, `,"xdpsensor_ip_bytes_toclient":`, f.ToClient.Bytes)
	switch {
	case f.ClientListed && f.ServerListed:
		b = append(b, `,"xdpsensor_listed":["client","server"]`...)
	case f.ClientListed:
		b = append(b, `,"xdpsensor_listed":["client"]`...)
	case f.ServerListed:
		b = append(b, `,"xdpsensor_listed":["server"]`...)
	}
	if f.Label != "" {
		b = append(b, `,"xdpsensor_label":`...)
		b = appendString(b, f.Label)
	}
	if f.LabelNote != "" {
		b = append(b, `,"xdpsensor_label_note":`...)
		b = appendString(b, f.LabelNote)
	}
	if f.HistoryLost > 0 {
		// Zeek history letters the kernel had no room for: the flow's
		// conn.log history is cut short by this many.
		b = appendUintMember(b, `,"xdpsensor_history_lost":`, f.HistoryLost)
	}
	b = append(b, '}')

	// Suricata writes community_id after the flow object in flow records.
	b = appendCommunityID(b, &h, m)
	b = appendTunnel(b, f.Tunnel, 0, opts.CompressIPv6)

	if f.Proto == event.ProtoTCP {
		b = appendTCP(b, f)
		b = append(b, `,"xdpsensor_flag_counts":{"toserver":`...)
		b = appendFlagCounts(b, &f.ToServer.FlagCounts)
		b = append(b, `,"toclient":`...)
		b = appendFlagCounts(b, &f.ToClient.FlagCounts)
		b = append(b, '}')
	}
	if len(f.Rules) > 0 {
		b = append(b, `,"xdpsensor_rules":[`...)
		for i := range f.Rules {
			r := &f.Rules[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = appendUintMember(b, `{"gid":`, uint64(r.GID))
			b = appendUintMember(b, `,"signature_id":`, uint64(r.SID))
			b = appendUintMember(b, `,"rev":`, uint64(r.Rev))
			b = append(b, `,"signature":`...)
			b = appendString(b, r.Msg)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return appendEnd(b, opts)
}

// tcpFlagMembers are the members Suricata's EveTcpFlags writes for the
// flags seen, in its order.
var tcpFlagMembers = [...]struct {
	bit    uint8
	member string
}{
	{event.TCPSyn, `,"syn":true`},
	{event.TCPFin, `,"fin":true`},
	{event.TCPRst, `,"rst":true`},
	{event.TCPPsh, `,"psh":true`},
	{event.TCPAck, `,"ack":true`},
	{event.TCPUrg, `,"urg":true`},
	{event.TCPEce, `,"ecn":true`},
	{event.TCPCwr, `,"cwr":true`},
}

// appendTCP writes the tcp object of a flow record as Suricata's
// EveFlowLogJSON and EveTcpFlags do: hex flag summaries, then only the
// flags seen, as true, then the TCP session's state and its gaps.
func appendTCP(b []byte, f *event.Flow) []byte {
	ts, tc := f.ToServer.TCPFlags, f.ToClient.TCPFlags
	all := ts | tc
	b = append(b, `,"tcp":{"tcp_flags":`...)
	b = appendHex2(b, all)
	b = append(b, `,"tcp_flags_ts":`...)
	b = appendHex2(b, ts)
	b = append(b, `,"tcp_flags_tc":`...)
	b = appendHex2(b, tc)
	for _, fl := range tcpFlagMembers {
		if all&fl.bit != 0 {
			b = append(b, fl.member...)
		}
	}
	if state := TCPState(f); state != "" {
		b = append(b, `,"state":`...)
		b = appendString(b, state)
		if f.ToClient.MissedBytes > 0 {
			b = append(b, `,"tc_gap":true`...)
		}
		if f.ToServer.MissedBytes > 0 {
			b = append(b, `,"ts_gap":true`...)
		}
	}
	return append(b, '}')
}

// appendFlagCounts writes one direction's per-flag packet counts.
func appendFlagCounts(b []byte, c *event.TCPFlagCounts) []byte {
	b = appendUintMember(b, `{"syn":`, uint64(c.SYN))
	b = appendUintMember(b, `,"synack":`, uint64(c.SYNACK))
	b = appendUintMember(b, `,"ack":`, uint64(c.ACK))
	b = appendUintMember(b, `,"fin":`, uint64(c.FIN))
	b = appendUintMember(b, `,"rst":`, uint64(c.RST))
	b = appendUintMember(b, `,"psh":`, uint64(c.PSH))
	b = appendUintMember(b, `,"urg":`, uint64(c.URG))
	b = appendUintMember(b, `,"ece":`, uint64(c.ECE))
	b = appendUintMember(b, `,"cwr":`, uint64(c.CWR))
	return append(b, '}')
}

// Package event is the one model every output encodes: alerts and flow
// records decoded from the kernel, whatever the packet source.
package event

import (
	"net/netip"
	"time"
)

// IP protocol numbers the encoders name.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
	ProtoSCTP   = 132
)

// HasPorts reports whether protocol p carries ports (TCP, UDP, SCTP): the
// ones whose ports Suricata logs, SANCP shows and carve matches.
func HasPorts(p uint8) bool {
	return p == ProtoTCP || p == ProtoUDP || p == ProtoSCTP
}

// TCP flag bits as on the wire.
const (
	TCPFin = 0x01
	TCPSyn = 0x02
	TCPRst = 0x04
	TCPPsh = 0x08
	TCPAck = 0x10
	TCPUrg = 0x20
	TCPEce = 0x40
	TCPCwr = 0x80
)

// IPv4 flag bits in Packet.IPFlags.
const (
	IPFlagMF = 0x1
	IPFlagDF = 0x2
)

// Endpoint is one end of a conversation. Port is 0 for protocols without ports.
type Endpoint struct {
	IP   netip.Addr
	Port uint16
}

// TCPFlagCounts counts the packets of one direction carrying each flag.
// SYN counts SYN without ACK, SYNACK SYN with ACK, ACK pure ACKs (no
// SYN/FIN/RST and no payload).
type TCPFlagCounts struct {
	SYN, SYNACK, ACK, FIN, RST, PSH, URG, ECE, CWR uint64
}

// FlagCount is one flag's count, named as the outputs name it.
type FlagCount struct {
	Name string // syn, synack, ack, fin, rst, psh, urg, ece, cwr
	N    uint64
}

// Named lists the counts in the order the outputs print them.
func (c *TCPFlagCounts) Named() []FlagCount {
	return []FlagCount{{"syn", c.SYN}, {"synack", c.SYNACK}, {"ack", c.ACK}, {"fin", c.FIN}, {"rst", c.RST},
		{"psh", c.PSH}, {"urg", c.URG}, {"ece", c.ECE}, {"cwr", c.CWR}}
}

// DirectionStats are the counters of one direction of a flow.
type DirectionStats struct {
	Packets    uint64
	Bytes      uint64 // IP bytes: the IP length field, headers included (Zeek's *_ip_bytes)
	FrameBytes uint64 // whole frames as captured, link layer included (Suricata's bytes_to*)
	// PayloadBytes is the payload sent: for TCP from the sequence numbers
	// (Zeek's orig_bytes/resp_bytes, retransmissions not counted twice,
	// gaps included), for other protocols the L4 payload.
	PayloadBytes uint64
	MissedBytes  uint64 // bytes acknowledged that the sensor never saw (TCP content gaps)
	TCPFlags     uint8  // OR of every flag seen
	FlagCounts   TCPFlagCounts
}

// Rule is the blocklist rule an alert or flow matched.
type Rule struct {
	ID         uint32 // kernel rule id
	GID        uint32
	SID        uint32
	Rev        uint32
	Msg        string
	Classtype  string // short name, e.g. trojan-activity
	Category   string // classification long name, e.g. "A Network Trojan was detected"
	Priority   uint32 // 1 is the most severe
	References []string
}

// Packet holds the header fields of the packet that raised an alert.
type Packet struct {
	Time         time.Time
	Src, Dst     Endpoint
	Proto        uint8
	VLAN         []uint16 // outermost first
	TTL          uint8    // hop limit for IPv6
	TOS          uint8    // traffic class for IPv6
	IPHeaderLen  uint8
	IPLen        uint16 // IPv4 total length; IPv6 payload length + 40
	IPID         uint16
	IPFlags      uint8  // IPFlagDF | IPFlagMF
	FragOffset   uint16 // in 8-byte units
	Fragment     bool   // a later fragment: no L4 header, no ports
	TCPFlags     uint8
	Seq, Ack     uint32
	Window       uint16
	UrgPtr       uint16
	TCPHeaderLen uint8
	ICMPType     uint8
	ICMPCode     uint8
	FrameLen     uint32 // length on the wire
	Data         []byte // the first bytes of the frame, from Ethernet on
	Interface    string // receiving interface, when known
	PcapCnt      uint64 // replay: the packet's number among those read (Suricata's pcap_cnt); 0 live
}

// Listed says which address of a packet is on the blocklist.
type Listed string

const (
	ListedSrc Listed = "src"
	ListedDst Listed = "dst"
)

// AlertFlow is an alert's flow when it fired, its packet counted
// (Suricata's alert.flow); client is the side that sent the first packet.
type AlertFlow struct {
	PktsToServer, PktsToClient   uint64
	BytesToServer, BytesToClient uint64 // frame bytes, as Suricata counts them
	Start                        time.Time
}

// Alert is one packet that matched the blocklist.
type Alert struct {
	ID     uint64 // names this alert (carve --alert-id); 53 bits
	FlowID uint64 // shared with the flow record; 0 for fragments outside any flow
	Rule   *Rule  // shared by every alert of the rule: read only
	Listed Listed
	Packet Packet
	// ToServer: the packet went from the flow's client (the side of its
	// first packet) to its server (Suricata's alert.direction).
	ToServer    bool
	Flow        AlertFlow // zero for packets outside any flow
	CaptureFile string    // pcap file holding the packet, when captured
	// Tunnel is the tunnel the packet came through (nil: none); Layer
	// which of its headers holds the listed address (see tunnel.go).
	Tunnel *Tunnel
	Layer  Layer
}

// EndReason says why a flow record was written.
type EndReason string

const (
	EndFIN      EndReason = "fin"      // both sides sent FIN
	EndRST      EndReason = "rst"      // a side sent RST
	EndTimeout  EndReason = "timeout"  // idle past the flow timeout
	EndShutdown EndReason = "shutdown" // still open when the sensor stopped
	EndActive   EndReason = "active"   // not ended: a snapshot of a live flow
	// EndEmergency: idle past the emergency timeout, while the flow table
	// was nearly full (Suricata's emergency mode).
	EndEmergency EndReason = "emergency-timeout"
	// EndTableFull: the flow table had no room; this packet is a record
	// of its own.
	EndTableFull EndReason = "table-full"
)

// Flow is a session record. Client is the side that sent the first packet.
type Flow struct {
	FlowID         uint64
	Proto          uint8
	Client, Server Endpoint
	VLAN           []uint16
	Start, End     time.Time
	// ActiveEnd is the last packet before both sides closed: where Zeek
	// ends a connection's duration (the final ACK after FIN/FIN is not in
	// it). End is the last packet, as Suricata ends a flow.
	ActiveEnd     time.Time
	ToServer      DirectionStats
	ToClient      DirectionStats
	FirstTCPFlags uint8 // flags of the first packet: SYN, or SYN-ACK for backscatter
	ICMPType      uint8 // of the first ICMP packet
	ICMPCode      uint8
	Reason        EndReason
	// Alerts is 1 when the flow raised an alert (the kernel keeps a bit
	// per flow, not a count: EVE's flow.alerted).
	Alerts uint32
	// History is Zeek's connection history as the kernel saw it, in order
	// of occurrence: upper case for the client, lower case for the server
	// (S SYN, H SYN-ACK, A pure ACK, D data, F FIN, R RST, Q SYN with
	// FIN/RST, I FIN with RST; S H F R again at a new sequence number;
	// W zero window, T retransmission, G content gap at 1, 10, 100...).
	// No '^' flip: encoders that follow Zeek's orientation apply it.
	History string
	// HistoryLost is how many more letters the flow's history had than
	// the kernel could keep (FLOW_HISTORY_HOT in the entry and
	// FLOW_HISTORY_EXTRA in its extension, or the extension could not be
	// made): History is the letters kept, cut short by this many, whose
	// kinds and places are unknown. Counting letters dropped for want of
	// an extension saturates at 255 per side.
	HistoryLost  uint64
	ClientListed bool // the client address is on the blocklist
	ServerListed bool
	Rules        []Rule // rules that list either end
	// Label is the analyst's reading of a flow that touches a listed
	// address (backscatter, cc-unanswered, cc-rejected, cc-established,
	// listed-inbound; see userspace/label), empty for other flows.
	Label string
	// LabelNote qualifies the label, e.g. "no-data-out" or "3 SYNs".
	LabelNote string
	// Tunnel is the tunnel the flow's packets came through (nil: none).
	Tunnel *Tunnel
}

// Sink receives decoded events; every output format implements it.
type Sink interface {
	WriteAlert(*Alert) error
	WriteFlow(*Flow) error
	Close() error
}

// Counter is one named counter of a stats event. Names are dotted paths,
// as Suricata names its counters ("decoder.pkts", "flow.end.state.closed");
// encoders that nest (EVE) split them at the dots.
type Counter struct {
	Name  string
	Value uint64
}

// Stats is a periodic snapshot of the sensor's counters: the kernel's and
// the daemon's, losses included (Suricata's EVE stats event).
type Stats struct {
	Time     time.Time
	Uptime   time.Duration
	Counters []Counter
}

// StatsSink is implemented by outputs that also write stats events.
type StatsSink interface {
	WriteStats(*Stats) error
}

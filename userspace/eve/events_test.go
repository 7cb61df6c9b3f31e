package eve

import (
	"encoding/hex"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/event/eventtest"
)

// The events the golden tests encode. The seed is the first SYN of a
// bot's connection to its IRC C&C server (2007-02-21), and its flow.

var seedTime = time.Date(2007, 2, 21, 10, 17, 54, 366236000, time.UTC)

var seedRule = event.Rule{
	ID:         1,
	GID:        1,
	SID:        2405000,
	Rev:        602,
	Msg:        "BLEEDING-EDGE DROP Known Bot C&C Traffic (group 1) - BLOCKING SOURCE",
	Classtype:  "trojan-activity",
	Category:   "A Network Trojan was detected",
	Priority:   1,
	References: []string{"url,www.shadowserver.org"},
}

var group2Rule = event.Rule{
	ID:         2,
	GID:        1,
	SID:        2405001,
	Rev:        602,
	Msg:        "BLEEDING-EDGE DROP Known Bot C&C Traffic (group 2) - BLOCKING SOURCE",
	Classtype:  "trojan-activity",
	Category:   "A Network Trojan was detected",
	Priority:   1,
	References: []string{"url,www.shadowserver.org"},
}

// policyRule is a rule without references, as plain address lists give.
var policyRule = event.Rule{
	ID:       3,
	GID:      1,
	SID:      9000001,
	Rev:      1,
	Msg:      "xdpsensor listed address",
	Category: "Potential Corporate Privacy Violation",
	Priority: 1,
}

const seedFlowID = 1159843557329870

// seedFrame is the seed SYN: Ethernet, IPv4 (DF, TTL 128), TCP with MSS
// 1460, NOP, NOP, SACK permitted.
var seedFrame, _ = hex.DecodeString("0013f7a4d2e0000c29b1c45e0800450000301f5c40008006c67ec0a8001fa135b2f008cd1a0b5e3e8f1a000000007002ffff5e010000020405b401010402")

var ep = eventtest.Endpoint

func at(base time.Time, d string) time.Time {
	dd, err := time.ParseDuration(d)
	if err != nil {
		panic(err)
	}
	return base.Add(dd)
}

func seedAlert() *event.Alert {
	return &event.Alert{
		FlowID: seedFlowID,
		Rule:   new(seedRule),
		Listed: event.ListedDst,
		Packet: event.Packet{
			Time:         seedTime,
			Src:          ep("192.168.0.31", 2253),
			Dst:          ep("161.53.178.240", 6667),
			Proto:        event.ProtoTCP,
			TTL:          128,
			IPHeaderLen:  20,
			IPLen:        48,
			IPID:         0x1f5c,
			IPFlags:      event.IPFlagDF,
			TCPFlags:     event.TCPSyn,
			Seq:          0x5e3e8f1a,
			Window:       65535,
			TCPHeaderLen: 28,
			FrameLen:     62,
			Data:         seedFrame,
			PcapCnt:      1,
		},
		ToServer: true,
		Flow:     event.AlertFlow{PktsToServer: 1, BytesToServer: 62, Start: seedTime},
	}
}

// seedFlow is the seed SYN's flow: the server never answered, the client
// retransmitted its SYN twice.
func seedFlow() *event.Flow {
	return &event.Flow{
		FlowID: seedFlowID,
		Proto:  event.ProtoTCP,
		Client: ep("192.168.0.31", 2253),
		Server: ep("161.53.178.240", 6667),
		Start:  seedTime,
		End:    at(seedTime, "9.015566s"),
		ToServer: event.DirectionStats{
			Packets:    3,
			Bytes:      144,
			FrameBytes: 186,
			TCPFlags:   event.TCPSyn,
			FlagCounts: event.TCPFlagCounts{SYN: 3},
		},
		FirstTCPFlags: event.TCPSyn,
		History:       "S",
		Reason:        event.EndTimeout,
		Alerts:        1,
		ServerListed:  true,
		Rules:         []event.Rule{seedRule},
		Label:         "cc-unanswered",
		LabelNote:     "3 SYNs",
	}
}

var backscatterTime = time.Date(2007, 2, 21, 10, 21, 7, 5081000, time.UTC)

// backscatterAlert is the SYN-ACK a listed IRC server sent to an address
// that never sent it a SYN (spoofed elsewhere); it was written to a pcap.
func backscatterAlert() *event.Alert {
	return &event.Alert{
		FlowID: 1159843557331002,
		Rule:   new(group2Rule),
		Listed: event.ListedSrc,
		Packet: event.Packet{
			Time:         backscatterTime,
			Src:          ep("193.109.122.67", 6667),
			Dst:          ep("69.143.202.28", 1024),
			Proto:        event.ProtoTCP,
			TTL:          51,
			IPHeaderLen:  20,
			IPLen:        44,
			TCPFlags:     event.TCPSyn | event.TCPAck,
			Seq:          0x2a7c01f3,
			Ack:          0x11d7a001,
			Window:       5840,
			TCPHeaderLen: 24,
			FrameLen:     60,
			PcapCnt:      4,
		},
		ToServer:    true,
		Flow:        event.AlertFlow{PktsToServer: 1, BytesToServer: 60, Start: backscatterTime},
		CaptureFile: "/var/log/xdpsensor/pcap/xdpsensor_00001_20070221102107.pcap",
	}
}

// backscatterRSTAlert is the RST our host sent back to the listed
// server: it travels to the flow's client.
func backscatterRSTAlert() *event.Alert {
	return &event.Alert{
		FlowID: 1159843557331002,
		Rule:   new(group2Rule),
		Listed: event.ListedDst,
		Packet: event.Packet{
			Time:         at(backscatterTime, "87.554ms"),
			Src:          ep("69.143.202.28", 1024),
			Dst:          ep("193.109.122.67", 6667),
			Proto:        event.ProtoTCP,
			TTL:          64,
			IPHeaderLen:  20,
			IPLen:        40,
			TCPFlags:     event.TCPRst,
			Seq:          0x11d7a001,
			TCPHeaderLen: 20,
			FrameLen:     60,
			PcapCnt:      5,
		},
		Flow: event.AlertFlow{PktsToServer: 1, PktsToClient: 1, BytesToServer: 60, BytesToClient: 60,
			Start: backscatterTime},
		CaptureFile: "/var/log/xdpsensor/pcap/xdpsensor_00001_20070221102107.pcap",
	}
}

// backscatterFlow: the listed server (the "client": it sent the first
// packet) sent a SYN-ACK, the other end answered with RST.
func backscatterFlow() *event.Flow {
	return &event.Flow{
		FlowID: 1159843557331002,
		Proto:  event.ProtoTCP,
		Client: ep("193.109.122.67", 6667),
		Server: ep("69.143.202.28", 1024),
		Start:  backscatterTime,
		End:    at(backscatterTime, "87.554ms"),
		ToServer: event.DirectionStats{
			Packets:    1,
			Bytes:      44,
			FrameBytes: 60,
			TCPFlags:   event.TCPSyn | event.TCPAck,
			FlagCounts: event.TCPFlagCounts{SYNACK: 1},
		},
		ToClient: event.DirectionStats{
			Packets:    1,
			Bytes:      40,
			FrameBytes: 60,
			TCPFlags:   event.TCPRst,
			FlagCounts: event.TCPFlagCounts{RST: 1},
		},
		FirstTCPFlags: event.TCPSyn | event.TCPAck,
		History:       "Hr",
		Reason:        event.EndRST,
		Alerts:        1,
		ClientListed:  true,
		Rules:         []event.Rule{group2Rule},
		Label:         "backscatter",
		LabelNote:     "answered by RST",
	}
}

var laterTime = time.Date(2024, 5, 17, 8, 30, 1, 250000000, time.UTC)

func icmpAlert() *event.Alert {
	return &event.Alert{
		FlowID: 42,
		Rule:   new(policyRule),
		Listed: event.ListedDst,
		Packet: event.Packet{
			Time:        laterTime,
			Src:         ep("192.0.2.10", 0),
			Dst:         ep("198.51.100.66", 0),
			Proto:       event.ProtoICMP,
			TTL:         64,
			IPHeaderLen: 20,
			IPLen:       84,
			ICMPType:    8,
			FrameLen:    98,
			Interface:   "eth0",
		},
		ToServer: true,
		Flow:     event.AlertFlow{PktsToServer: 1, BytesToServer: 98, Start: laterTime},
	}
}

func icmpFlow() *event.Flow {
	return &event.Flow{
		FlowID:       42,
		Proto:        event.ProtoICMP,
		Client:       ep("192.0.2.10", 0),
		Server:       ep("198.51.100.66", 0),
		Start:        laterTime,
		End:          at(laterTime, "2.001s"),
		ToServer:     event.DirectionStats{Packets: 3, Bytes: 252, FrameBytes: 294, PayloadBytes: 168},
		ToClient:     event.DirectionStats{Packets: 3, Bytes: 252, FrameBytes: 294, PayloadBytes: 168},
		ICMPType:     8,
		Reason:       event.EndTimeout,
		Alerts:       3,
		ServerListed: true,
		Rules:        []event.Rule{policyRule},
	}
}

// icmpUnreachableFlow is a one-way ICMP flow nothing listed.
func icmpUnreachableFlow() *event.Flow {
	return &event.Flow{
		FlowID:   43,
		Proto:    event.ProtoICMP,
		Client:   ep("198.51.100.1", 0),
		Server:   ep("192.0.2.10", 0),
		Start:    laterTime,
		End:      laterTime,
		ToServer: event.DirectionStats{Packets: 1, Bytes: 56, FrameBytes: 70, PayloadBytes: 28},
		ICMPType: 3,
		ICMPCode: 3,
		Reason:   event.EndShutdown,
	}
}

func ipv6Alert() *event.Alert {
	return &event.Alert{
		FlowID: 7001,
		Rule:   new(policyRule),
		Listed: event.ListedDst,
		Packet: event.Packet{
			Time:         laterTime,
			Src:          ep("2001:db8:1::10", 51000),
			Dst:          ep("2001:db8:bad::66", 443),
			Proto:        event.ProtoTCP,
			TTL:          64,
			IPHeaderLen:  40,
			IPLen:        80,
			TCPFlags:     event.TCPSyn | event.TCPEce | event.TCPCwr,
			Seq:          1,
			Window:       64800,
			TCPHeaderLen: 40,
			FrameLen:     94,
			Interface:    "eth1",
		},
		ToServer: true,
		Flow:     event.AlertFlow{PktsToServer: 1, BytesToServer: 94, Start: laterTime},
	}
}

func ipv6Flow() *event.Flow {
	return &event.Flow{
		FlowID: 7001,
		Proto:  event.ProtoTCP,
		Client: ep("2001:db8:1::10", 51000),
		Server: ep("2001:db8:bad::66", 443),
		Start:  laterTime,
		End:    at(laterTime, "1m30.5s"),
		ToServer: event.DirectionStats{
			Packets: 12, Bytes: 2417, FrameBytes: 2585, PayloadBytes: 1497,
			TCPFlags:   event.TCPSyn | event.TCPAck | event.TCPPsh | event.TCPFin | event.TCPEce | event.TCPCwr,
			FlagCounts: event.TCPFlagCounts{SYN: 1, ACK: 7, FIN: 1, PSH: 3, ECE: 1, CWR: 1},
		},
		ToClient: event.DirectionStats{
			Packets: 10, Bytes: 6201, FrameBytes: 6341, PayloadBytes: 5401, MissedBytes: 1448,
			TCPFlags:   event.TCPSyn | event.TCPAck | event.TCPPsh | event.TCPFin | event.TCPEce,
			FlagCounts: event.TCPFlagCounts{SYNACK: 1, ACK: 3, FIN: 1, PSH: 5, ECE: 1},
		},
		FirstTCPFlags: event.TCPSyn,
		// The server's data had a hole (the sensor missed a segment);
		// the client's last ACK came after both FINs.
		History:      "ShADadgFf",
		ActiveEnd:    at(laterTime, "1m30.4s"),
		Reason:       event.EndFIN,
		Alerts:       1,
		ServerListed: true,
		Rules:        []event.Rule{policyRule},
	}
}

func icmp6Flow() *event.Flow {
	return &event.Flow{
		FlowID:       7002,
		Proto:        event.ProtoICMPv6,
		Client:       ep("2001:db8:1::10", 0),
		Server:       ep("2001:db8:bad::66", 0),
		Start:        laterTime,
		End:          at(laterTime, "3.0004s"),
		ToServer:     event.DirectionStats{Packets: 4, Bytes: 416, FrameBytes: 472, PayloadBytes: 224},
		ToClient:     event.DirectionStats{Packets: 4, Bytes: 416, FrameBytes: 472, PayloadBytes: 224},
		ICMPType:     128,
		Reason:       event.EndTimeout,
		Alerts:       4,
		ServerListed: true,
		Rules:        []event.Rule{policyRule},
	}
}

func vlanAlert() *event.Alert {
	return &event.Alert{
		FlowID: 9100,
		Rule:   new(policyRule),
		Listed: event.ListedDst,
		Packet: event.Packet{
			Time:        laterTime,
			Src:         ep("10.1.1.5", 5353),
			Dst:         ep("203.0.113.53", 53),
			Proto:       event.ProtoUDP,
			VLAN:        []uint16{100, 200},
			TTL:         63,
			IPHeaderLen: 20,
			IPLen:       61,
			FrameLen:    83,
			PcapCnt:     17,
		},
		ToServer: true,
		Flow:     event.AlertFlow{PktsToServer: 1, BytesToServer: 83, Start: laterTime},
	}
}

func vlanFlow() *event.Flow {
	return &event.Flow{
		FlowID:       9100,
		Proto:        event.ProtoUDP,
		Client:       ep("10.1.1.5", 5353),
		Server:       ep("203.0.113.53", 53),
		VLAN:         []uint16{100, 200},
		Start:        laterTime,
		End:          at(laterTime, "31.7ms"),
		ToServer:     event.DirectionStats{Packets: 1, Bytes: 61, FrameBytes: 83, PayloadBytes: 33},
		ToClient:     event.DirectionStats{Packets: 1, Bytes: 93, FrameBytes: 115, PayloadBytes: 65},
		Reason:       event.EndTimeout,
		Alerts:       1,
		ServerListed: true,
		Rules:        []event.Rule{policyRule},
	}
}

// fragmentAlert is a later fragment outside any flow: no ports, no
// flow_id, no community_id.
func fragmentAlert() *event.Alert {
	return &event.Alert{
		Rule:   new(policyRule),
		Listed: event.ListedSrc,
		Packet: event.Packet{
			Time:        laterTime,
			Src:         ep("203.0.113.53", 0),
			Dst:         ep("10.1.1.5", 0),
			Proto:       event.ProtoUDP,
			TTL:         57,
			IPHeaderLen: 20,
			IPLen:       548,
			IPID:        0x4242,
			FragOffset:  185,
			Fragment:    true,
			FrameLen:    562,
		},
	}
}

// greFlow: a protocol without ports, unanswered, still open at shutdown,
// both ends listed by different rules.
func greFlow() *event.Flow {
	return &event.Flow{
		FlowID:       9200,
		Proto:        47,
		Client:       ep("203.0.113.9", 0),
		Server:       ep("198.51.100.66", 0),
		Start:        laterTime,
		End:          at(laterTime, "4.5s"),
		ToServer:     event.DirectionStats{Packets: 2, Bytes: 200, FrameBytes: 228, PayloadBytes: 160},
		Reason:       event.EndShutdown,
		ClientListed: true,
		ServerListed: true,
		Rules:        []event.Rule{policyRule, seedRule},
	}
}

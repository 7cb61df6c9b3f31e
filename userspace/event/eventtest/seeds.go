// Package eventtest holds the seed cases as event-model values, for the
// encoders' and classifiers' tests to share.
package eventtest

import (
	"net/netip"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// Endpoint is an address and port, panicking on a malformed address.
func Endpoint(addr string, port uint16) event.Endpoint {
	return event.Endpoint{IP: netip.MustParseAddr(addr), Port: port}
}

// BotCCFlow is the "Bot C&C" seed's flow as the kernel reports it: the
// infected host's SYN to its IRC C&C, retransmitted twice, never answered.
func BotCCFlow() *event.Flow {
	t := time.Date(2007, 2, 21, 10, 17, 54, 366236000, time.UTC)
	return &event.Flow{
		FlowID: 1159843557329870,
		Proto:  event.ProtoTCP,
		Client: Endpoint("192.168.0.31", 2253),
		Server: Endpoint("161.53.178.240", 6667),
		Start:  t,
		End:    t.Add(9015566 * time.Microsecond),
		ToServer: event.DirectionStats{
			Packets: 3, Bytes: 144, TCPFlags: event.TCPSyn,
			FlagCounts: event.TCPFlagCounts{SYN: 3},
		},
		FirstTCPFlags: event.TCPSyn,
		Reason:        event.EndTimeout,
		History:       "S",
		ServerListed:  true,
	}
}

// BackscatterFlow is the "Backscatter Detected" seed's first session as
// the kernel reports it: the listed IRC server's SYN-ACK to an address
// that never sent it a SYN, answered by RST 338 µs later.
func BackscatterFlow() *event.Flow {
	t := time.Date(2007, 3, 20, 18, 4, 19, 731091000, time.UTC)
	return &event.Flow{
		FlowID: 5044069116374886360,
		Proto:  event.ProtoTCP,
		Client: Endpoint("193.109.122.67", 6667),
		Server: Endpoint("69.143.202.28", 1024),
		Start:  t,
		End:    t.Add(338 * time.Microsecond),
		ToServer: event.DirectionStats{
			Packets: 1, Bytes: 40, TCPFlags: event.TCPSyn | event.TCPAck,
			FlagCounts: event.TCPFlagCounts{SYNACK: 1},
		},
		ToClient: event.DirectionStats{
			Packets: 1, Bytes: 40, TCPFlags: event.TCPRst,
			FlagCounts: event.TCPFlagCounts{RST: 1},
		},
		FirstTCPFlags: event.TCPSyn | event.TCPAck,
		Reason:        event.EndRST,
		History:       "Hr",
		ClientListed:  true,
	}
}

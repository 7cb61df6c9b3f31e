package eve

import "github.com/xdpsensor/xdpsensor/userspace/event"

// TCPState is the state Suricata's stream engine leaves a TCP flow's
// session in by the time the flow is logged (EVE's tcp.state, as
// StreamTcpStateAsString names it), read from the kernel's history
// letters; "" when Suricata would have no session at all. With
// Suricata's default configuration (stream.midstream: false) only a
// client's SYN starts a session: a flow begun by a SYN-ACK (backscatter)
// or picked up mid-stream has none, and Suricata writes no state.
//
// The kernel records each kind of letter once per side (S, H, F and R
// again only at a new sequence number), not every acknowledgment, so
// the acknowledgment of a lone FIN is taken as given (the peer's stack
// sends it at once): a client's FIN alone reads fin_wait2, a server's
// close_wait. Both FINs read closed once a packet came after them (the
// last ACK: the flow's end is past its active end), else time_wait or
// last_ack, by who closed first.
func TCPState(f *event.Flow) string {
	if f.Proto != event.ProtoTCP || f.FirstTCPFlags != event.TCPSyn || f.History == "" {
		return ""
	}
	const (
		synSent = iota
		synRecv
		established
	)
	state := synSent
	clientFIN, serverFIN, clientClosedFirst := false, false, false
	for i := 1; i < len(f.History); i++ {
		c := f.History[i]
		fromClient := c >= 'A' && c <= 'Z'
		switch c | 0x20 {
		case 'h':
			if !fromClient && state == synSent {
				state = synRecv
			}
		case 'a', 'd':
			if fromClient && state == synRecv {
				state = established
			}
		case 'f':
			if state == synSent {
				break // a FIN before the SYN-ACK: Suricata ignores it
			}
			state = established
			if fromClient && !clientFIN {
				clientFIN, clientClosedFirst = true, !serverFIN
			} else if !fromClient {
				serverFIN = true
			}
		case 'r', 'i':
			return "closed"
		}
	}
	switch {
	case clientFIN && serverFIN:
		if f.End.After(f.ActiveEnd) {
			return "closed"
		}
		if clientClosedFirst {
			return "time_wait"
		}
		return "last_ack"
	case clientFIN:
		return "fin_wait2"
	case serverFIN:
		return "close_wait"
	}
	return [...]string{"syn_sent", "syn_recv", "established"}[state]
}

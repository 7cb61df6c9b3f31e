package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Replay of captures holding each kind of encapsulation: the same frames
// through the same program as on the wire. Each capture is a TCP handshake
// (SYN, SYN-ACK, ACK) with a listed C&C server, through the tunnel both
// ways. The alert names the inner flow (its flow_id is the flow record's)
// and the tunnel; the flow record, conn.log and tunnel.log name the tunnel.

const (
	tunClient  = "10.1.0.1"
	tunServer  = "203.0.113.66"
	tunClient6 = "2001:db8:1::1"
	tunServer6 = "2001:db8:bad::66"
)

var tunMACs = [2]net.HardwareAddr{{2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2}}

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// handshake is the inner conversation as IP packets (no link layer);
// reply[i] says packet i goes server to client.
func handshake(t *testing.T, v6 bool) (pkts [][]byte, reply []bool) {
	steps := []struct {
		flags string
		back  bool
	}{{"S", false}, {"SA", true}, {"A", false}}
	for i, s := range steps {
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 6667, Seq: 1000 + uint32(i), Window: 65535}
		src, dst := tunClient, tunServer
		if v6 {
			src, dst = tunClient6, tunServer6
		}
		if s.back {
			tcp.SrcPort, tcp.DstPort = tcp.DstPort, tcp.SrcPort
			src, dst = dst, src
		}
		tcp.SYN = strings.Contains(s.flags, "S")
		tcp.ACK = strings.Contains(s.flags, "A")
		var ip gopacket.SerializableLayer
		if v6 {
			ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
		} else {
			ip = &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
		}
		pkts = append(pkts, serialize(t, ip, tcp))
		reply = append(reply, s.back)
	}
	return pkts, reply
}

// ether is an Ethernet header for payload of type et.
func ether(t *testing.T, et layers.EthernetType, back bool, payload []byte) []byte {
	src, dst := tunMACs[0], tunMACs[1]
	if back {
		src, dst = dst, src
	}
	return serialize(t, &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: et}, gopacket.Payload(payload))
}

func ipType(ip []byte) layers.EthernetType {
	if ip[0]>>4 == 6 {
		return layers.EthernetTypeIPv6
	}
	return layers.EthernetTypeIPv4
}

// outerIPv4 wraps payload in the tunnel endpoints' IPv4 header, each
// direction its way.
func outerIPv4(t *testing.T, back bool, proto layers.IPProtocol, ls ...gopacket.SerializableLayer) []byte {
	a, b := net.ParseIP("198.51.100.1"), net.ParseIP("198.51.100.2")
	if back {
		a, b = b, a
	}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: a, DstIP: b}
	return ether(t, layers.EthernetTypeIPv4, back, serialize(t, append([]gopacket.SerializableLayer{ip}, ls...)...))
}

// udpTo is a VXLAN or Geneve datagram's UDP header: both ways to the
// tunnel's port, from a port the sender picks per inner flow.
func udpTo(back bool, port uint16) *layers.UDP {
	if back {
		return &layers.UDP{SrcPort: 50002, DstPort: layers.UDPPort(port)}
	}
	return &layers.UDP{SrcPort: 50001, DstPort: layers.UDPPort(port)}
}

type tunnelKindCase struct {
	name       string
	v6         bool
	wrap       func(t *testing.T, ip []byte, back bool) []byte
	tunnelType string // tunnel.log's, "" for a layer-2 encapsulation
	kind       string // EVE's xdpsensor_type
	proto      string // the tunnel object's
}

func tunnelKindCases() []tunnelKindCase {
	return []tunnelKindCase{
		{name: "mpls", wrap: func(t *testing.T, ip []byte, back bool) []byte {
			return ether(t, layers.EthernetTypeMPLSUnicast, back, serialize(t, &layers.MPLS{Label: 16, StackBottom: true, TTL: 64}, gopacket.Payload(ip)))
		}},
		{name: "pppoe", wrap: func(t *testing.T, ip []byte, back bool) []byte {
			return ether(t, layers.EthernetTypePPPoESession, back, serialize(t,
				&layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: 7}, &layers.PPP{PPPType: layers.PPPTypeIPv4}, gopacket.Payload(ip)))
		}},
		{name: "pbb", wrap: func(t *testing.T, ip []byte, back bool) []byte {
			// B-tag, I-TAG (I-SID 0x10203) and the customer's addresses
			itag := append([]byte{0, 0x01, 0x02, 0x03}, append(append([]byte(nil), tunMACs[1]...), tunMACs[0]...)...)
			itag = binary.BigEndian.AppendUint16(itag, uint16(layers.EthernetTypeIPv4))
			return ether(t, layers.EthernetTypeQinQ, back, append([]byte{0, 10, 0x88, 0xe7}, append(itag, ip...)...))
		}},
		{name: "vn-tag", wrap: func(t *testing.T, ip []byte, back bool) []byte {
			return ether(t, 0x8926, back, append([]byte{0x80, 0x05, 0, 7, 0x08, 0}, ip...))
		}},
		{name: "e-tag", wrap: func(t *testing.T, ip []byte, back bool) []byte {
			return ether(t, 0x893f, back, append([]byte{0, 0, 0x10, 0x05, 0, 0, 0x08, 0}, ip...))
		}},
		{name: "nsh", wrap: func(t *testing.T, ip []byte, back bool) []byte {
			return ether(t, 0x894f, back, append([]byte{0x0f, 0xc2, 0x02, 1, 0, 0, 1, 0xff}, ip...))
		}},
		{name: "gre", tunnelType: "Tunnel::GRE", kind: "gre", proto: "GRE", wrap: func(t *testing.T, ip []byte, back bool) []byte {
			return outerIPv4(t, back, layers.IPProtocolGRE, &layers.GRE{Protocol: ipType(ip), KeyPresent: true, Key: 42}, gopacket.Payload(ip))
		}},
		{name: "erspan", tunnelType: "Tunnel::GRE", kind: "erspan-ii", proto: "GRE", wrap: func(t *testing.T, ip []byte, back bool) []byte {
			return outerIPv4(t, back, layers.IPProtocolGRE, &layers.GRE{Protocol: layers.EthernetTypeERSPAN, SeqPresent: true},
				&layers.ERSPANII{Version: 1, SessionID: 5}, gopacket.Payload(ether(t, ipType(ip), back, ip)))
		}},
		{name: "vxlan", tunnelType: "Tunnel::VXLAN", kind: "vxlan", proto: "UDP", wrap: func(t *testing.T, ip []byte, back bool) []byte {
			return outerIPv4(t, back, layers.IPProtocolUDP, udpTo(back, 4789), &layers.VXLAN{ValidIDFlag: true, VNI: 1001},
				gopacket.Payload(ether(t, ipType(ip), back, ip)))
		}},
		{name: "geneve", tunnelType: "Tunnel::GENEVE", kind: "geneve", proto: "UDP", wrap: func(t *testing.T, ip []byte, back bool) []byte {
			g := make([]byte, 8)
			binary.BigEndian.PutUint16(g[2:], uint16(layers.EthernetTypeTransparentEthernetBridging))
			g[6] = 77
			return outerIPv4(t, back, layers.IPProtocolUDP, udpTo(back, 6081), gopacket.Payload(append(g, ether(t, ipType(ip), back, ip)...)))
		}},
		{name: "ipip", tunnelType: "Tunnel::IP", kind: "ipip", proto: "IP-in-IP", wrap: func(t *testing.T, ip []byte, back bool) []byte {
			return outerIPv4(t, back, layers.IPProtocolIPv4, gopacket.Payload(ip))
		}},
		{name: "6in4", v6: true, tunnelType: "Tunnel::IP", kind: "ipip", proto: "IPv6", wrap: func(t *testing.T, ip []byte, back bool) []byte {
			return outerIPv4(t, back, layers.IPProtocolIPv6, gopacket.Payload(ip))
		}},
		{name: "erspan-iii", tunnelType: "Tunnel::GRE", kind: "erspan-iii", proto: "GRE", wrap: func(t *testing.T, ip []byte, back bool) []byte {
			hdr := make([]byte, 12) // version 2, session 9
			hdr[0], hdr[3] = 2<<4, 9
			return outerIPv4(t, back, layers.IPProtocolGRE, &layers.GRE{Protocol: 0x22eb, SeqPresent: true},
				gopacket.Payload(append(hdr, ether(t, ipType(ip), back, ip)...)))
		}},
		{name: "teredo", v6: true, tunnelType: "Tunnel::TEREDO", kind: "teredo", proto: "UDP", wrap: func(t *testing.T, ip []byte, back bool) []byte {
			u := &layers.UDP{SrcPort: 3544, DstPort: 50001}
			if back {
				u.SrcPort, u.DstPort = 50001, 3544
			}
			return outerIPv4(t, back, layers.IPProtocolUDP, u, gopacket.Payload(ip))
		}},
	}
}

func TestReplayTunnels(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("replay loads the BPF program: run as root (make test does)")
	}
	dir := t.TempDir()
	rules := filepath.Join(dir, "cc.rules")
	if err := os.WriteFile(rules, []byte(
		"alert ip any any -> [203.0.113.66,2001:db8:bad::66] any (msg:\"C&C in a tunnel\"; classtype:trojan-activity; sid:9000001; rev:1;)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range tunnelKindCases() {
		t.Run(c.name, func(t *testing.T) {
			pcap := filepath.Join(t.TempDir(), c.name+".pcap")
			pkts, reply := handshake(t, c.v6)
			writePcap(t, pcap, func(yield func([]byte)) {
				for i, p := range pkts {
					yield(c.wrap(t, p, reply[i]))
				}
			})
			out := t.TempDir()
			sum, err := Replay(context.Background(), Config{Blocklists: []string{rules}, OutDir: out, FlowTableSize: 1024, RingSize: 1 << 20}, []string{pcap})
			if err != nil {
				t.Fatalf("replay: %+v", err)
			}
			if sum.Alerts != 1 || sum.Flows != 1 {
				t.Fatalf("%d alerts, %d flows; want 1 and 1", sum.Alerts, sum.Flows)
			}
			var alert, flow map[string]any
			for _, l := range readLines(t, filepath.Join(out, "eve.json")) {
				var m map[string]any
				if err := json.Unmarshal(l, &m); err != nil {
					t.Fatal(err)
				}
				switch m["event_type"] {
				case "alert":
					alert = m
				case "flow":
					flow = m
				}
			}
			server := tunServer
			if c.v6 {
				server = tunServer6
			}
			dst, _ := netip.ParseAddr(fmt.Sprint(alert["dest_ip"]))
			if dst != netip.MustParseAddr(server) || alert["flow_id"] != flow["flow_id"] || alert["community_id"] != flow["community_id"] {
				t.Errorf("alert %v -> %v flow_id %v community_id %v; want the inner flow %v %v", alert["src_ip"], alert["dest_ip"],
					alert["flow_id"], alert["community_id"], flow["flow_id"], flow["community_id"])
			}
			fl := flow["flow"].(map[string]any)
			if fl["pkts_toserver"] != 2.0 || fl["pkts_toclient"] != 1.0 || fl["alerted"] != true {
				t.Errorf("flow %v", fl)
			}
			if c.kind == "" {
				if alert["tunnel"] != nil || flow["tunnel"] != nil {
					t.Errorf("a layer-2 encapsulation carries a tunnel object: %v %v", alert["tunnel"], flow["tunnel"])
				}
				if _, err := os.Stat(filepath.Join(out, "tunnel.log")); !os.IsNotExist(err) {
					t.Errorf("tunnel.log written without a tunnel")
				}
				return
			}
			at, _ := alert["tunnel"].(map[string]any)
			ft, _ := flow["tunnel"].(map[string]any)
			if at == nil || ft == nil {
				t.Fatalf("tunnel objects: alert %v, flow %v", at, ft)
			}
			if at["src_ip"] != "198.51.100.1" || at["dest_ip"] != "198.51.100.2" || at["proto"] != c.proto || at["depth"] != 1.0 ||
				at["pcap_cnt"] != 1.0 || at["xdpsensor_type"] != c.kind || alert["xdpsensor_layer"] != "inner" {
				t.Errorf("alert tunnel %v layer %v", at, alert["xdpsensor_layer"])
			}
			if ft["src_ip"] != "198.51.100.1" || ft["dest_ip"] != "198.51.100.2" || ft["xdpsensor_type"] != c.kind {
				t.Errorf("flow tunnel %v", ft)
			}
			conn := readLines(t, filepath.Join(out, "conn.log"))
			tunnels := readLines(t, filepath.Join(out, "tunnel.log"))
			var parents, uid, typ string
			for _, l := range conn {
				if !bytes.HasPrefix(l, []byte("#")) {
					parents = strings.Split(string(l), "\t")[20]
				}
			}
			for _, l := range tunnels {
				if !bytes.HasPrefix(l, []byte("#")) {
					f := strings.Split(string(l), "\t")
					uid, typ = f[1], f[6]+" "+f[7]
				}
			}
			if parents == "" || parents != uid || typ != c.tunnelType+" Tunnel::DISCOVER" {
				t.Errorf("conn.log tunnel_parents %q, tunnel.log uid %q %q; want one tunnel %s", parents, uid, typ, c.tunnelType)
			}
		})
	}
}

func writePcap(t *testing.T, path string, frames func(yield func([]byte))) {
	t.Helper()
	w := createEthernetPcap(t, path)
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	frames(func(b []byte) {
		ts = ts.Add(10 * time.Millisecond)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(b), Length: len(b)}, b); err != nil {
			t.Fatal(err)
		}
	})
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(data), []byte("\n"))
}

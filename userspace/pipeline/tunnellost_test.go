package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestTunnelLogThatCannotBeCreatedIsCountedLost: tunnel.log is created
// on its first line; when that fails (here the name is taken by a
// directory) the replay still runs to its end, every other output is
// whole, and tunnel.log's records are counted lost (output_records_lost),
// exactly, and logged once with the path and the error.
func TestTunnelLogThatCannotBeCreatedIsCountedLost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("replay loads the BPF program: run as root (make test does)")
	}
	for _, zeekJSON := range []bool{false, true} {
		name := "tsv"
		if zeekJSON {
			name = "json"
		}
		t.Run(name, func(t *testing.T) {
			// One handshake through each tunnel kind that tunnel.log lists
			// (a DISCOVER line each: the kinds tell the tunnels apart),
			// each inner connection on a port of its own, and plain flows.
			var tunnels int
			pcap := filepath.Join(t.TempDir(), "tunnels.pcap")
			const plain = 5
			writePcap(t, pcap, func(yield func([]byte)) {
				for i, c := range tunnelKindCases() {
					if c.tunnelType == "" {
						continue
					}
					tunnels++
					pkts, reply := handshake(t, c.v6)
					for j, p := range pkts {
						yield(c.wrap(t, withPorts(t, p, uint16(41000+i)), reply[j]))
					}
				}
				for i := 0; i < plain; i++ {
					tcp := &layers.TCP{SrcPort: layers.TCPPort(42000 + i), DstPort: 80, Seq: 1, SYN: true, Window: 65535}
					ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
						SrcIP: net.ParseIP("192.0.2.1"), DstIP: net.ParseIP("198.51.100.80")}
					tcp.SetNetworkLayerForChecksum(ip)
					yield(ether(t, layers.EthernetTypeIPv4, false, serialize(t, ip, tcp)))
				}
			})
			cfg := Config{FlowTableSize: 1024, RingSize: 1 << 20, ZeekJSON: zeekJSON}
			// What tunnel.log holds when it can be written: its records
			// (TSV: the header block and #close are one each).
			cfg.OutDir = t.TempDir()
			if _, err := Replay(context.Background(), cfg, []string{pcap}); err != nil {
				t.Fatal(err)
			}
			var records uint64
			for _, l := range readLines(t, filepath.Join(cfg.OutDir, "tunnel.log")) {
				if l[0] != '#' || bytes.HasPrefix(l, []byte("#separator")) || bytes.HasPrefix(l, []byte("#close")) {
					records++
				}
			}
			want := uint64(tunnels - 1) // 6in4 and IP in IP share their outer addresses: one tunnel
			if !zeekJSON {
				want += 2
			}
			if records != want {
				t.Fatalf("tunnel.log holds %d records, want %d", records, want)
			}

			out := t.TempDir()
			if err := os.Mkdir(filepath.Join(out, "tunnel.log"), 0o700); err != nil {
				t.Fatal(err)
			}
			var logged bytes.Buffer
			cfg.OutDir, cfg.Logger = out, slog.New(slog.NewTextHandler(&logged, nil))
			sum, err := Replay(context.Background(), cfg, []string{pcap})
			// Lost records fail the close, as on a full disk, after every
			// record went to the other outputs.
			if err == nil || !strings.Contains(err.Error(), "closing output") || !strings.Contains(err.Error(), "tunnel.log") {
				t.Fatalf("replay: %v; want it to run to the end and say tunnel.log lost records", err)
			}
			if want := uint64(tunnels + plain); sum.Flows != want {
				t.Fatalf("%d flows written, want %d", sum.Flows, want)
			}
			if lost := records; sum.Daemon.OutputRecordsLost != lost || len(sum.Losses) != 1 || sum.Losses[0].Counter != "output_records_lost" || sum.Losses[0].N != lost {
				t.Errorf("output_records_lost %d, losses %+v; want %d (tunnel.log's records)", sum.Daemon.OutputRecordsLost, sum.Losses, lost)
			}
			conns := 0
			for _, l := range readLines(t, filepath.Join(out, "conn.log")) {
				if len(l) > 0 && l[0] != '#' {
					conns++
				}
			}
			eveFlows := 0
			for _, l := range readLines(t, filepath.Join(out, "eve.json")) {
				if bytes.Contains(l, []byte(`"event_type":"flow"`)) {
					eveFlows++
				}
			}
			if conns != int(sum.Flows) || eveFlows != int(sum.Flows) {
				t.Errorf("conn.log %d lines, eve.json %d flows; want %d each", conns, eveFlows, sum.Flows)
			}
			failing := 0
			for _, l := range strings.Split(logged.String(), "\n") {
				if strings.Contains(l, "output cannot be written") {
					failing++
					if !strings.Contains(l, "file="+filepath.Join(out, "tunnel.log")) || !strings.Contains(l, "is a directory") {
						t.Errorf("log line lacks the path or the error: %s", l)
					}
				}
			}
			if failing != 1 {
				t.Errorf("%d log lines say an output cannot be written, want 1:\n%s", failing, logged.String())
			}
			// The records lost as the outputs closed are in the run's
			// last loss report.
			if want := fmt.Sprintf(`output_records_lost="%d (`, records); !strings.Contains(logged.String(), want) {
				t.Errorf("no loss report with %s in the log:\n%s", want, logged.String())
			}
		})
	}
}

// withPorts gives an inner IP packet of handshake the client port port
// (the server keeps its own), checksums recomputed.
func withPorts(t *testing.T, ip []byte, port uint16) []byte {
	t.Helper()
	first := layers.LayerTypeIPv4
	if ip[0]>>4 == 6 {
		first = layers.LayerTypeIPv6
	}
	pkt := gopacket.NewPacket(ip, first, gopacket.Default)
	tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if tcp == nil {
		t.Fatal("handshake packet without TCP")
	}
	if tcp.SrcPort == 6667 {
		tcp.DstPort = layers.TCPPort(port)
	} else {
		tcp.SrcPort = layers.TCPPort(port)
	}
	nl := pkt.NetworkLayer().(gopacket.SerializableLayer)
	tcp.SetNetworkLayerForChecksum(pkt.NetworkLayer())
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, nl, tcp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

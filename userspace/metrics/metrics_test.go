package metrics

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
)

var pinSeq atomic.Int32

// testSensor loads a pinned instance under a directory of its own.
func testSensor(t *testing.T) *loader.Sensor {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("metrics tests load BPF programs: run them as root (make test does)")
	}
	pin := fmt.Sprintf("/sys/fs/bpf/xdpsensor-metrics-%d-%d", os.Getpid(), pinSeq.Add(1))
	s, err := loader.Load(loader.Config{PinDir: pin, FlowTableSize: 1024, RingSize: 1 << 16, ReplayClock: true})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	t.Cleanup(func() {
		s.Close()
		loader.Unpin(pin)
	})
	return s
}

var clock atomic.Uint64

// runFrame feeds one frame through the program with BPF_PROG_TEST_RUN.
func runFrame(t *testing.T, s *loader.Sensor, frame []byte) {
	t.Helper()
	data := make([]byte, 8+len(frame))
	binary.NativeEndian.PutUint64(data, 1_000_000_000+clock.Add(uint64(time.Millisecond)))
	copy(data[8:], frame)
	ctx := loader.XDPContext{Data: 8, DataEnd: uint32(len(data))}
	if _, err := s.Objects.Xdpsensor.Run(&ebpf.RunOptions{Data: data, Context: ctx}); err != nil {
		t.Fatalf("prog.Run: %v", err)
	}
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func tcpSYN(t *testing.T, src, dst string) []byte {
	ip := ip4(src, dst, layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: 2253, DstPort: 6667, SYN: true, Window: 512, Seq: 1}
	tcp.SetNetworkLayerForChecksum(ip)
	return serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip, tcp)
}

func udp4(t *testing.T, payload int) []byte {
	ip := ip4("10.0.0.1", "10.0.0.2", layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: 53, DstPort: 40000}
	udp.SetNetworkLayerForChecksum(ip)
	return serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip, udp,
		gopacket.Payload(make([]byte, payload)))
}

func icmp4(t *testing.T) []byte {
	return serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
		ip4("10.0.0.1", "10.0.0.3", layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1},
		gopacket.Payload(make([]byte, 8)))
}

func icmp6(t *testing.T, payload int) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6,
		SrcIP: net.ParseIP("2001:db8:1::10"), DstIP: net.ParseIP("2001:db8:1::20")}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
	icmp.SetNetworkLayerForChecksum(ip)
	return serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv6}, ip, icmp,
		&layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1}, gopacket.Payload(make([]byte, payload)))
}

func arp(t *testing.T) []byte {
	return serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: []byte{10, 0, 0, 1},
			DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 2}})
}

// testList lists one address or prefix of each kind under one rule.
func testList() *blocklist.List {
	l := &blocklist.List{Rules: []blocklist.Rule{{
		GID: 1, SID: 2405000, Rev: 1, Msg: "test rule", Classtype: "trojan-activity",
		Direction: blocklist.ListedAsDst, OtherNet: blocklist.NetAny, Source: "test:1",
	}}}
	for _, p := range []string{"161.53.178.240/32", "203.0.113.0/24", "2001:db8:3::66/128", "2001:db8:4::/48"} {
		l.Entries = append(l.Entries, blocklist.Entry{Prefix: netip.MustParsePrefix(p), Source: "test:2"})
	}
	return l
}

func install(t *testing.T, s *loader.Sensor, l *blocklist.List) {
	t.Helper()
	bl, err := blocklistmaps.New(s.Maps(), s.Config.PinDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bl.Replace(l); err != nil {
		t.Fatalf("%+v", err)
	}
}

func TestKernelCounters(t *testing.T) {
	s := testSensor(t)
	install(t, s, testList())

	syn := tcpSYN(t, "192.168.0.31", "161.53.178.240") // listed: match and alert
	udp := udp4(t, 10)
	icmp := icmp4(t)
	v6 := icmp6(t, 8)
	nonIP := arp(t)
	badIHL := udp4(t, 10)
	badIHL[14] = 0x44 // IPv4, IHL 4
	frames := [][]byte{syn, udp, udp, icmp, v6, nonIP, badIHL}
	var frameBytes int
	for _, f := range frames {
		runFrame(t, s, f)
		frameBytes += len(f)
	}

	// What a daemon publishes in its counters map.
	if err := s.Maps().WriteDaemonStats(&abi.BpfDaemonStats{AlertsWritten: 1, PcapBytesWritten: 4096, PcapFramesLost: 3, FlowTableEntries: 4, HistoryLettersLost: 5}); err != nil {
		t.Fatal(err)
	}
	c := NewCollector(s.Maps(), Options{
		Interfaces: []Interface{{Name: "eth-a", Mode: "native"}, {Name: "eth-b", Mode: "generic", EgressMode: "tcx"}},
		Netns:      "/proc/self/ns/net",
	})
	// The interfaces do not exist: leave out the NIC counters here
	// (TestInterfaceCounters has them) by comparing the other metrics.
	want := fmt.Sprintf(`
# HELP xdpsensor_frames_total Frames the XDP/TC program saw, malformed ones included.
# TYPE xdpsensor_frames_total counter
xdpsensor_frames_total 7
# HELP xdpsensor_frame_bytes_total Bytes of the frames the program saw.
# TYPE xdpsensor_frame_bytes_total counter
xdpsensor_frame_bytes_total %d
# HELP xdpsensor_packets_total IP packets by L4 protocol, and non-IP frames (proto=non_ip).
# TYPE xdpsensor_packets_total counter
xdpsensor_packets_total{proto="icmp"} 1
xdpsensor_packets_total{proto="icmpv6"} 1
xdpsensor_packets_total{proto="non_ip"} 1
xdpsensor_packets_total{proto="other_ip"} 0
xdpsensor_packets_total{proto="tcp"} 1
xdpsensor_packets_total{proto="udp"} 2
# HELP xdpsensor_bytes_total Bytes by protocol: the IP length for IP packets, the frame length for non-IP frames.
# TYPE xdpsensor_bytes_total counter
xdpsensor_bytes_total{proto="icmp"} 36
xdpsensor_bytes_total{proto="icmpv6"} 56
xdpsensor_bytes_total{proto="non_ip"} %d
xdpsensor_bytes_total{proto="other_ip"} 0
xdpsensor_bytes_total{proto="tcp"} 40
xdpsensor_bytes_total{proto="udp"} 76
# HELP xdpsensor_ip_packets_total Well-formed IP packets by IP version.
# TYPE xdpsensor_ip_packets_total counter
xdpsensor_ip_packets_total{version="4"} 4
xdpsensor_ip_packets_total{version="6"} 1
# HELP xdpsensor_malformed_packets_total Frames the parser rejected, by reason.
# TYPE xdpsensor_malformed_packets_total counter
xdpsensor_malformed_packets_total{reason="encap"} 0
xdpsensor_malformed_packets_total{reason="ihl"} 1
xdpsensor_malformed_packets_total{reason="ip_len"} 0
xdpsensor_malformed_packets_total{reason="ipv6_ext"} 0
xdpsensor_malformed_packets_total{reason="l2"} 0
xdpsensor_malformed_packets_total{reason="l3"} 0
xdpsensor_malformed_packets_total{reason="l4"} 0
xdpsensor_malformed_packets_total{reason="tcp_doff"} 0
xdpsensor_malformed_packets_total{reason="vlan"} 0
# HELP xdpsensor_matches_total Packets whose addresses matched a blocklist rule.
# TYPE xdpsensor_matches_total counter
xdpsensor_matches_total 1
# HELP xdpsensor_alerts_total Alert events the kernel emitted to the event ring.
# TYPE xdpsensor_alerts_total counter
xdpsensor_alerts_total 1
# HELP xdpsensor_daemon_alerts_written_total Daemon counter daemon_stats.alerts_written.
# TYPE xdpsensor_daemon_alerts_written_total counter
xdpsensor_daemon_alerts_written_total 1
# HELP xdpsensor_alerts_suppressed_total Matches a rule's threshold held back.
# TYPE xdpsensor_alerts_suppressed_total counter
xdpsensor_alerts_suppressed_total 0
# HELP xdpsensor_alerts_lost_total Alerts the event ring had no room for (the direction's next packet tries again).
# TYPE xdpsensor_alerts_lost_total counter
xdpsensor_alerts_lost_total 0
# HELP xdpsensor_thresholds_full_total Matches whose threshold window the full thresholds table could not take: alerted, not held to their threshold.
# TYPE xdpsensor_thresholds_full_total counter
xdpsensor_thresholds_full_total 0
# HELP xdpsensor_lost_events_total Event ring reservations that failed: alerts, flow records and close hints (each also counted by its own name but close hints, which lose nothing).
# TYPE xdpsensor_lost_events_total counter
xdpsensor_lost_events_total 0
# HELP xdpsensor_flows_created_total Flows the kernel created in its flow table.
# TYPE xdpsensor_flows_created_total counter
xdpsensor_flows_created_total 4
# HELP xdpsensor_daemon_flow_table_entries Daemon gauge daemon_stats.flow_table_entries.
# TYPE xdpsensor_daemon_flow_table_entries gauge
xdpsensor_daemon_flow_table_entries 4
# HELP xdpsensor_blocklist_entries Entries of the live blocklist slot, by kind.
# TYPE xdpsensor_blocklist_entries gauge
xdpsensor_blocklist_entries{kind="exact_v4"} 1
xdpsensor_blocklist_entries{kind="exact_v6"} 1
xdpsensor_blocklist_entries{kind="prefix_v4"} 1
xdpsensor_blocklist_entries{kind="prefix_v6"} 1
# HELP xdpsensor_blocklist_generation Generation of the live blocklist (each install adds one).
# TYPE xdpsensor_blocklist_generation gauge
xdpsensor_blocklist_generation 1
# HELP xdpsensor_capture_packets_total Frames the kernel handed to the capture ring.
# TYPE xdpsensor_capture_packets_total counter
xdpsensor_capture_packets_total 0
# HELP xdpsensor_daemon_pcap_bytes_written_total Daemon counter daemon_stats.pcap_bytes_written.
# TYPE xdpsensor_daemon_pcap_bytes_written_total counter
xdpsensor_daemon_pcap_bytes_written_total 4096
# HELP xdpsensor_daemon_pcap_frames_lost_total Daemon counter daemon_stats.pcap_frames_lost.
# TYPE xdpsensor_daemon_pcap_frames_lost_total counter
xdpsensor_daemon_pcap_frames_lost_total 3
# HELP xdpsensor_daemon_history_letters_lost_total Daemon counter daemon_stats.history_letters_lost.
# TYPE xdpsensor_daemon_history_letters_lost_total counter
xdpsensor_daemon_history_letters_lost_total 5
# HELP xdpsensor_interface_attach_mode XDP attach mode per interface (always 1).
# TYPE xdpsensor_interface_attach_mode gauge
xdpsensor_interface_attach_mode{interface="eth-a",mode="native"} 1
xdpsensor_interface_attach_mode{interface="eth-b",mode="generic"} 1
# HELP xdpsensor_interface_egress_attach_mode Host mode's TC egress hook per interface (always 1).
# TYPE xdpsensor_interface_egress_attach_mode gauge
xdpsensor_interface_egress_attach_mode{interface="eth-b",mode="tcx"} 1
`, frameBytes, len(nonIP))
	names := []string{}
	for _, l := range strings.Split(want, "\n") {
		if n, ok := strings.CutPrefix(l, "# TYPE "); ok {
			names = append(names, strings.Fields(n)[0])
		}
	}
	// The interfaces eth-a and eth-b do not exist: the collector reports
	// that as an error, which CollectAndCompare would fail on. Compare a
	// collector without them for the counters, and this one's attach
	// modes through a registry that tolerates the error.
	noIf := NewCollector(s.Maps(), Options{})
	var kernelNames []string
	for _, n := range names {
		if !strings.Contains(n, "attach_mode") {
			kernelNames = append(kernelNames, n)
		}
	}
	if err := testutil.CollectAndCompare(noIf, strings.NewReader(want), kernelNames...); err != nil {
		t.Fatal(err)
	}
	got, err := gatherText(c)
	if err == nil || !strings.Contains(err.Error(), `interface "eth-a"`) {
		t.Errorf("scrape error %v, want it to name interface eth-a", err)
	}
	for _, line := range []string{
		`xdpsensor_interface_attach_mode{interface="eth-a",mode="native"} 1`,
		`xdpsensor_interface_attach_mode{interface="eth-b",mode="generic"} 1`,
		`xdpsensor_interface_egress_attach_mode{interface="eth-b",mode="tcx"} 1`,
		`xdpsensor_frames_total 7`,
	} {
		if !strings.Contains(got, line+"\n") {
			t.Errorf("scrape lacks %q:\n%s", line, got)
		}
	}
	if strings.Contains(got, "xdpsensor_interface_rx_packets_total") {
		t.Errorf("counters for interfaces that do not exist:\n%s", got)
	}
}

// gatherText scrapes c as the HTTP handler would with ContinueOnError.
func gatherText(c prometheus.Collector) (string, error) {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		return "", err
	}
	mfs, gerr := reg.Gather()
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			name := mf.GetName()
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			fmt.Fprintf(&b, "%s %g\n", name, v)
		}
	}
	return b.String(), gerr
}

// Every kernel counter has a name of its own (no generic fallback), and
// every name follows Prometheus conventions.
func TestEveryCounterNamedAndLinted(t *testing.T) {
	s := testSensor(t)
	c := NewCollector(s.Maps(), Options{})
	for _, k := range c.kernel {
		if strings.Contains(k.desc.String(), "Kernel counter sensor_stats.") {
			t.Errorf("sensor_stats field without a metric name of its own: %s", k.desc)
		}
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	var zero abi.BpfSensorStats
	counters, _ := abi.Counters(&zero)
	var zeroDaemon abi.BpfDaemonStats
	daemon, _ := abi.DaemonCounters(&zeroDaemon)
	// One series per kernel and daemon counter, plus the blocklist (4
	// kinds and generation).
	if n, want := testutil.CollectAndCount(c), len(counters)+len(daemon)+5; n != want {
		t.Errorf("%d series, want %d", n, want)
	}
}

// The NIC's own counters, from a namespace of our own where nothing else
// sends: its loopback sees exactly the datagrams we send.
func TestInterfaceCounters(t *testing.T) {
	testSensor(t) // root check
	ns := fmt.Sprintf("xdpsensor-metrics-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v: %s", err, out)
	}
	const n, payload = 3, 100
	err := loader.InNetns(ns, func() error {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return err
		}
		defer conn.Close()
		for i := 0; i < n; i++ {
			if _, err := conn.WriteToUDP(make([]byte, payload), conn.LocalAddr().(*net.UDPAddr)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s := testSensor(t)
	c := NewCollector(s.Maps(), Options{Netns: ns, Interfaces: []Interface{{Name: "lo", Mode: "generic"}}})
	want := fmt.Sprintf(`
# HELP xdpsensor_interface_rx_packets_total Packets the NIC received (its own counters, netlink).
# TYPE xdpsensor_interface_rx_packets_total counter
xdpsensor_interface_rx_packets_total{interface="lo"} %d
# HELP xdpsensor_interface_rx_bytes_total Bytes the NIC received (its own counters, netlink).
# TYPE xdpsensor_interface_rx_bytes_total counter
xdpsensor_interface_rx_bytes_total{interface="lo"} %d
# HELP xdpsensor_interface_attach_mode XDP attach mode per interface (always 1).
# TYPE xdpsensor_interface_attach_mode gauge
xdpsensor_interface_attach_mode{interface="lo",mode="generic"} 1
`, n, n*(20+8+payload)) // loopback counts bytes past the Ethernet header
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"xdpsensor_interface_rx_packets_total", "xdpsensor_interface_rx_bytes_total", "xdpsensor_interface_attach_mode"); err != nil {
		t.Fatal(err)
	}
}

func TestServe(t *testing.T) {
	s := testSensor(t)
	runFrame(t, s, udp4(t, 10))
	c := NewCollector(s.Maps(), Options{Interfaces: []Interface{{Name: "xsnosuchif0", Mode: "native"}}})
	reg, err := NewRegistry(c)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, ln, reg, nil) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	// A missing interface costs its own series only.
	for _, line := range []string{
		`xdpsensor_packets_total{proto="udp"} 1`,
		`xdpsensor_frames_total 1`,
		`xdpsensor_daemon_flows_written_total 0`,
		`xdpsensor_interface_attach_mode{interface="xsnosuchif0",mode="native"} 1`,
		`# TYPE go_goroutines gauge`,
	} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/metrics"); err == nil {
		t.Error("still serving after shutdown")
	}
	if err := Serve(context.Background(), ln.Addr().String()+"0000", reg, nil); err == nil {
		t.Error("Serve on a bad address: no error")
	}
}

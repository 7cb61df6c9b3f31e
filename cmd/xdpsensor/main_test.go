package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/userspace/pipeline"
)

const testdata = "../../testdata"

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), err
}

func TestReplayCommand(t *testing.T) {
	dir := t.TempDir()
	out, err := runCLI(t, "replay", "-b", filepath.Join(testdata, "bleeding-botcc-group1.rules"), "-o", dir,
		"--flow-table-size", "1024", filepath.Join(testdata, "bot-cc-syn.pcap"), filepath.Join(testdata, "backscatter.pcap"))
	if err != nil {
		t.Fatalf("%+v", err)
	}
	// Thresholds (limit 1 per hour by source) leave the first C&C SYN and
	// both backscatter RSTs, two hours apart.
	want := "replayed 7 packets: 3 alerts, 3 flow records written to " + dir + "; 0 lost\n"
	if out != want {
		t.Fatalf("stdout %q, want %q", out, want)
	}
	data, err := os.ReadFile(filepath.Join(dir, "eve.json"))
	if err != nil {
		t.Fatal(err)
	}
	// 3 alerts, 3 flows and the stats event a replay ends with.
	if n := bytes.Count(data, []byte("\n")); n != 7 {
		t.Fatalf("eve.json has %d lines, want 7", n)
	}
	if n := bytes.Count(data, []byte(`"event_type":"stats"`)); n != 1 {
		t.Fatalf("eve.json has %d stats events, want 1", n)
	}
}

// tcpSYN is an Ethernet frame holding a TCP SYN, checksums computed.
func tcpSYN(t *testing.T, src, dst net.IP, sport, dport uint16) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Window: 1024}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeEthernetPcap writes frames as an Ethernet pcap, step apart from
// 2007-02-21 10:00:00 UTC.
func writeEthernetPcap(t *testing.T, path string, step time.Duration, frames ...[]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2007, 2, 21, 10, 0, 0, 0, time.UTC)
	for i, data := range frames {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * step), CaptureLength: len(data), Length: len(data)}, data); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReplaySummaryLine: the line a replay ends with names the records
// it skipped and counts the problems reading the captures, when there are
// any, after what was lost.
func TestReplaySummaryLine(t *testing.T) {
	// A dumpcap capture of eth0 and wlan0mon: a C&C SYN, a wlan beacon,
	// an Ethernet record of 10 bytes (too short for the kernel), a SYN.
	path := filepath.Join(t.TempDir(), "eth-wlan.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgo.NewNgWriterInterface(f, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	radio, err := w.AddInterface(pcapgo.NgInterface{Name: "wlan0mon", LinkType: layers.LinkTypeIEEE80211Radio, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	syn := func(src byte) []byte {
		return tcpSYN(t, net.IP{192, 168, 0, src}, net.IP{161, 53, 178, 240}, 2000, 6667)
	}
	beacon := append([]byte{0, 0, 8, 0, 0, 0, 0, 0, 0x80, 0, 0, 0}, make([]byte, 18)...)
	t0 := time.Date(2007, 2, 21, 10, 0, 0, 0, time.UTC)
	for i, r := range []struct {
		iface int
		data  []byte
	}{{0, syn(31)}, {radio, beacon}, {0, syn(32)[:10]}, {0, syn(33)}} {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Second), CaptureLength: len(r.data), Length: len(r.data), InterfaceIndex: r.iface}
		if err := w.WritePacket(ci, r.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	dir := t.TempDir()
	out, err := runCLI(t, "replay", "-b", filepath.Join(testdata, "bleeding-botcc-group1.rules"), "-o", dir,
		"--flow-table-size", "1024", path)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	want := "replayed 2 packets: 2 alerts, 2 flow records written to " + dir + "; 0 lost; " +
		"skipped: 1 record not readable as Ethernet, 1 frame the kernel program could not run; 1 problem reading the captures (logged)\n"
	if out != want {
		t.Errorf("stdout %q\nwant   %q", out, want)
	}

	// Counts above one, beside losses.
	got := replaySummary(&pipeline.Summary{Packets: 9, Skipped: 2, NotEthernet: 3, OutDir: "out", Problems: []string{"a", "b"},
		Counts: pipeline.Counts{Alerts: 4, Flows: 5}, Losses: []pipeline.Loss{{Counter: "alerts_lost", What: "alerts (event ring full)", N: 6}}})
	if want := "replayed 9 packets: 4 alerts, 5 flow records written to out; lost: 6 alerts (event ring full); " +
		"skipped: 3 records not readable as Ethernet, 2 frames the kernel program could not run; 2 problems reading the captures (logged)\n"; got != want {
		t.Errorf("summary %q\nwant    %q", got, want)
	}
	// Frames the kernel counted in no flow are said too.
	sum := pipeline.Summary{Packets: 9, OutDir: "out"}
	sum.Kernel.MalformedIhl, sum.Kernel.MalformedL4, sum.Kernel.NonIpPackets, sum.Kernel.FragmentsOrphaned = 1, 2, 4, 1
	if got, want := replaySummary(&sum), "replayed 9 packets: 0 alerts, 0 flow records written to out; 0 lost; in no flow: 3 malformed, 4 non-IP, 1 orphaned fragment\n"; got != want {
		t.Errorf("summary %q\nwant    %q", got, want)
	}
}

// The frames a replay puts in no flow are in its summary line, counted by
// the kernel: an ARP request, an IPv4 header with IHL 4, a later fragment
// whose first never came.
func TestReplaySummarySaysFramesInNoFlow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "noflow.pcap")
	eth := func(etype uint16, payload []byte) []byte {
		return append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, byte(etype >> 8), byte(etype)}, payload...)
	}
	arp := eth(0x0806, append([]byte{0, 1, 8, 0, 6, 4, 0, 1}, make([]byte, 20)...))
	ihl4 := eth(0x0800, append([]byte{0x44, 0, 0, 40}, make([]byte, 36)...))
	// IPv4, offset 185 (x8), protocol UDP: a later fragment, no ports.
	frag := eth(0x0800, append([]byte{0x45, 0, 0, 28, 0, 1, 0, 185, 64, 17, 0, 0, 192, 168, 0, 1, 192, 168, 0, 2}, make([]byte, 8)...))
	writeEthernetPcap(t, path, time.Second, arp, ihl4, frag)
	dir := t.TempDir()
	out, err := runCLI(t, "replay", "-b", filepath.Join(testdata, "bleeding-botcc-group1.rules"), "-o", dir, "--flow-table-size", "1024", path)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	if want := "replayed 3 packets: 0 alerts, 0 flow records written to " + dir + "; 0 lost; in no flow: 1 malformed, 1 non-IP, 1 orphaned fragment\n"; out != want {
		t.Errorf("stdout %q\nwant   %q", out, want)
	}
}

func TestReplayErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.rules")
	os.WriteFile(bad, []byte("alert ip $HOME_NET any -> [192.0.2.1,192.0.2.999] any (msg:\"x\"; sid:1;)\n"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"replay", "-o", dir}, "requires at least 1 arg"},
		{[]string{"replay", "-o", dir, filepath.Join(dir, "missing.pcap")}, "missing.pcap: no such file"},
		{[]string{"replay", "-o", dir, "-b", bad, filepath.Join(testdata, "bot-cc-syn.pcap")}, bad + ":1:"},
		{[]string{"replay", "-o", dir, "--home-net", "10.0.0.0/33", filepath.Join(testdata, "bot-cc-syn.pcap")}, "--home-net"},
		{[]string{"replay", "-o", dir, filepath.Join(testdata, "bot-cc.txt")}, "not a pcap or pcapng file"},
		{[]string{"run", "-o", dir, "--pin-dir", "/sys/fs/bpf/xdpsensor-clitest-none", "-i", "xsnosuchif0"}, `interface "xsnosuchif0": no such interface`},
		{[]string{"run", "-o", dir, "-i", "lo", "--xdp-mode", "turbo"}, "--xdp-mode"},
		{[]string{"stats", "--pin-dir", filepath.Join(dir, "nothing")}, "no sensor maps are pinned under"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args[:1], " ")+" "+c.want, func(t *testing.T) {
			_, err := runCLI(t, c.args...)
			if err == nil || !strings.Contains(fmt.Sprintf("%+v", err), c.want) {
				t.Fatalf("error %v, want it to mention %q", err, c.want)
			}
		})
	}
}

// stats, flows and detach read the maps a sensor pinned.
func TestInspectPinnedSensor(t *testing.T) {
	pin := fmt.Sprintf("/sys/fs/bpf/xdpsensor-clitest-%d", os.Getpid())
	t.Cleanup(func() { loader.Unpin(pin) })
	s, err := loader.Load(loader.Config{PinDir: pin, FlowTableSize: 1024, RingSize: 1 << 16, ReplayClock: true})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer s.Close()
	// The SYN's destination listed: flows names its rule, as a flow
	// record does.
	list := filepath.Join(t.TempDir(), "cc.txt")
	os.WriteFile(list, []byte("161.53.178.240\n"), 0o644)
	if _, err := runCLI(t, "blocklist", "load", list, "--pin-dir", pin); err != nil {
		t.Fatalf("%+v", err)
	}
	frame, _ := os.ReadFile(filepath.Join(testdata, "bot-cc-syn.pcap"))
	// The first frame of the capture: pcap header 24 bytes, record header 16.
	pkt := frame[24+16 : 24+16+62]
	data := make([]byte, 8+len(pkt))
	binary.NativeEndian.PutUint64(data, 1)
	copy(data[8:], pkt)
	if _, err := s.Objects.Xdpsensor.Run(&ebpf.RunOptions{Data: data, Context: loader.XDPContext{Data: 8, DataEnd: uint32(len(data))}}); err != nil {
		t.Fatal(err)
	}

	out, err := runCLI(t, "stats", "--json", "--pin-dir", pin)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	var st map[string]uint64
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("stats --json: %v\n%s", err, out)
	}
	for k, v := range map[string]uint64{"packets": 1, "tcp_packets": 1, "ipv4_packets": 1, "flows_new": 1, "alerts": 1, "lost_events": 0} {
		if st[k] != v {
			t.Errorf("stats %s = %d, want %d", k, st[k], v)
		}
	}
	out, err = runCLI(t, "stats", "--pin-dir", pin)
	if err != nil || !strings.Contains(out, "tcp_packets") || !strings.Contains(out, "malformed_tcp_doff") {
		t.Errorf("stats: %v\n%s", err, out)
	}

	out, err = runCLI(t, "flows", "--json", "--pin-dir", pin)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	var f struct {
		SrcIP    string `json:"src_ip"`
		DestPort int    `json:"dest_port"`
		Flow     struct {
			Pkts   int      `json:"pkts_toserver"`
			Reason string   `json:"reason"`
			Listed []string `json:"xdpsensor_listed"`
		} `json:"flow"`
		Rules []struct {
			SID int `json:"signature_id"`
		} `json:"xdpsensor_rules"`
	}
	if err := json.Unmarshal([]byte(out), &f); err != nil || f.SrcIP != "192.168.0.31" || f.DestPort != 6667 || f.Flow.Pkts != 1 || f.Flow.Reason != "forced" ||
		fmt.Sprint(f.Flow.Listed) != "[server]" || len(f.Rules) != 1 || f.Rules[0].SID != 3000000 {
		t.Errorf("flows --json: %v %+v\n%s", err, f, out)
	}
	out, err = runCLI(t, "flows", "--pin-dir", pin)
	if err != nil || !strings.Contains(out, "192.168.0.31:2253") || !strings.Contains(out, "161.53.178.240:6667") || !strings.Contains(out, "server 1:3000000:1") {
		t.Errorf("flows: %v\n%s", err, out)
	}

	if out, err = runCLI(t, "detach", "--pin-dir", pin); err != nil || out != "removed "+pin+"\n" {
		t.Fatalf("detach: %v %q", err, out)
	}
	if _, err := os.Stat(pin); !os.IsNotExist(err) {
		t.Fatalf("%s still exists after detach", pin)
	}
}

// An unprivileged user gets one clear sentence, not a kernel errno.
func TestUnprivilegedUser(t *testing.T) {
	// t.TempDir's parent is root-only; nobody must reach the binary.
	dir, err := os.MkdirTemp("", "xdpsensor-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "xdpsensor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"stats"}, {"replay", "-o", dir, filepath.Join(testdata, "bot-cc-syn.pcap")}} {
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "needs root (or CAP_BPF") {
			t.Errorf("%v as nobody: %v\n%s", args, err, out)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/xdpsensor/xdpsensor/userspace/capture"
)

const seedFlowID = 1159843557329870

// runCarveCLI runs the command line with separate stdout and stderr.
func runCarveCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	if c, _, _ := newRootCommand().Find(args[:1]); c == nil || c.Name() != args[0] {
		t.Fatalf("the %s command is not registered: add newCarveCommand(g), newPcapCommand(g) to root.AddCommand in root.go", args[0])
	}
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// pcapRecords returns a classic pcap's bytes after the file header:
// its records, timestamps and lengths included.
func pcapRecords(t *testing.T, data []byte) []byte {
	t.Helper()
	if len(data) < 24 {
		t.Fatalf("%d bytes: not a pcap", len(data))
	}
	return data[24:]
}

// recordsOf returns records [from, to) of a microsecond pcap.
func recordsOf(t *testing.T, path string, from, to int) []byte {
	t.Helper()
	data, _ := os.ReadFile(path)
	var out []byte
	off := 24
	for i := 0; off < len(data); i++ {
		n := 16 + int(binary.LittleEndian.Uint32(data[off+8:]))
		if i >= from && i < to {
			out = append(out, data[off:off+n]...)
		}
		off += n
	}
	return out
}

// sensorDir is a sensor output directory: the seed captures in a pcap ring
// under DIR/pcap (the C&C SYNs in a closed file, the backscatter in two
// more, the last still open) and alerts in DIR/eve.json.
func sensorDir(t *testing.T) string {
	dir := t.TempDir()
	r, err := capture.OpenRing(capture.RingOptions{Dir: filepath.Join(dir, "pcap"), Rotate: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	flows := []uint64{seedFlowID, seedFlowID, seedFlowID, 101, 101, 102, 102}
	i := 0
	for _, f := range []string{"bot-cc-syn.pcap", "backscatter.pcap"} {
		rd, err := capture.Open(filepath.Join(testdata, f))
		if err != nil {
			t.Fatal(err)
		}
		for {
			p, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			pk := gopacket.NewPacket(p.Data, layers.LayerTypeEthernet, gopacket.Default)
			ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			tcp := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
			src, _ := netip.AddrFromSlice(ip.SrcIP)
			dst, _ := netip.AddrFromSlice(ip.DstIP)
			if _, err := r.Write(&capture.Record{Time: p.Time, Data: p.Data, OrigLen: p.OrigLen, Interface: "eth0", FlowID: flows[i],
				Proto: 6, Src: src, Dst: dst, SrcPort: uint16(tcp.SrcPort), DstPort: uint16(tcp.DstPort)}); err != nil {
				t.Fatal(err)
			}
			i++
		}
		rd.Close()
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Files()); n != 3 {
		t.Fatalf("%d ring files", n)
	}
	eveJSON := fmt.Sprintf(`{"timestamp":"2007-02-21T10:17:54.366236+0000","flow_id":%d,"in_iface":"eth0","event_type":"alert","src_ip":"192.168.0.31","src_port":2253,"dest_ip":"161.53.178.240","dest_port":6667,"proto":"TCP","alert":{"signature_id":2404000},"xdpsensor_alert_id":1}
{"timestamp":"2007-03-20T18:04:19.731429+0000","flow_id":101,"event_type":"flow","src_ip":"193.109.122.67","src_port":6667,"dest_ip":"69.143.202.28","dest_port":1024,"proto":"TCP"}
{"timestamp":"2007-03-20T20:17:14.402455+0000","flow_id":102,"event_type":"alert","src_ip":"69.143.202.28","src_port":3072,"dest_ip":"193.109.122.67","dest_port":6667,"proto":"TCP","xdpsensor_alert_id":"2"}
`, seedFlowID)
	if err := os.WriteFile(filepath.Join(dir, "eve.json"), []byte(eveJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCarveCommand(t *testing.T) {
	dir := sensorDir(t)
	seed, back := filepath.Join(testdata, "bot-cc-syn.pcap"), filepath.Join(testdata, "backscatter.pcap")
	out := filepath.Join(t.TempDir(), "alert1.pcap")

	// The C&C alert's flow: the seed's three SYNs, byte for byte.
	stdout, _, err := runCarveCLI(t, "carve", "--dir", dir, "--alert-id", "1", "-w", out)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	if want := "carved 3 packets from 3 ring files into " + out + " (pcap)\n"; stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(pcapRecords(t, got), recordsOf(t, seed, 0, 3)) {
		t.Error("carved alert 1 differs from the seed's packets")
	}

	cases := []struct {
		name string
		args []string
		want []byte
	}{
		// Flow 102 is in the file being written (no index): its 5-tuple comes from eve.json.
		{"alert 2 in the open file", []string{"--alert-id", "2"}, recordsOf(t, back, 2, 4)},
		{"flow 101", []string{"--flow-id", "101"}, recordsOf(t, back, 0, 2)},
		{"flows 101,102", []string{"--flow-id", "101,102"}, recordsOf(t, back, 0, 4)},
		{"host", []string{"--host", "193.109.122.67"}, recordsOf(t, back, 0, 4)},
		{"host and port", []string{"--host", "69.143.202.28", "--port", "3072", "--proto", "TCP"}, recordsOf(t, back, 2, 4)},
		{"port either side", []string{"--port", "6667"}, append(recordsOf(t, seed, 0, 3), recordsOf(t, back, 0, 4)...)},
		{"udp", []string{"--proto", "udp"}, nil},
		{"whole seconds", []string{"--from", "2007-02-21 10:17:57", "--to", "2007-02-21T10:18:03Z"}, recordsOf(t, seed, 1, 3)},
		{"fraction", []string{"--from", "2007-02-21 10:17:57", "--to", "2007-02-21 10:18:03.2"}, recordsOf(t, seed, 1, 2)},
		{"its last digit", []string{"--from", "2007-02-21 10:17:57", "--to", "2007-02-21 10:18:03.3"}, recordsOf(t, seed, 1, 3)},
		{"EVE timestamps", []string{"--from", "2007-02-21T10:17:57.287574+0000", "--to", "2007-02-21T10:17:57.287574+0000"}, recordsOf(t, seed, 1, 2)},
		{"unix seconds", []string{"--from", "1174413859.7314", "--to", "1174421834"}, recordsOf(t, back, 1, 4)},
		{"rfc3339 zone", []string{"--from", "2007-03-20T14:04:19.7311-04:00", "--to", "2007-03-20T18:04:19.7315Z"}, recordsOf(t, back, 1, 2)},
	}
	for _, c := range cases {
		stdout, stderr, err := runCarveCLI(t, append([]string{"carve", "--dir", dir, "-w", "-"}, c.args...)...)
		if err != nil {
			t.Errorf("%s: %+v", c.name, err)
			continue
		}
		if !bytes.Equal(pcapRecords(t, []byte(stdout)), c.want) {
			t.Errorf("%s: carved %d bytes of records, want %d", c.name, len(stdout)-24, len(c.want))
		}
		if !strings.HasPrefix(stderr, "carved ") || !strings.Contains(stderr, "into standard output (pcap)") {
			t.Errorf("%s: stderr %q", c.name, stderr)
		}
	}

	// pcapng by the extension (a pcap ring has no interface names).
	ng := filepath.Join(t.TempDir(), "flow.pcapng")
	if _, _, err := runCarveCLI(t, "carve", "--dir", dir, "--flow-id", "102", "-w", ng); err != nil {
		t.Fatalf("%+v", err)
	}
	f, _ := os.Open(ng)
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if intf, _ := r.Interface(ci.InterfaceIndex); intf.LinkType != layers.LinkTypeEthernet {
			t.Errorf("interface %+v", intf)
		}
		n++
	}
	if n != 2 {
		t.Errorf("pcapng: %d packets, want 2", n)
	}
}

// TestCarvePipeTcpdump: xdpsensor carve --host ADDR -w - | tcpdump -r -
func TestCarvePipeTcpdump(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("no tcpdump")
	}
	dir := sensorDir(t)
	stdout, _, err := runCarveCLI(t, "carve", "--dir", dir, "--host", "161.53.178.240", "-w", "-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("tcpdump", "-nn", "-tt", "-r", "-")
	cmd.Stdin = strings.NewReader(stdout)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	want := "1172053074.366236 IP 192.168.0.31.2253 > 161.53.178.240.6667: Flags [S]"
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], want) {
		t.Errorf("tcpdump read:\n%s", out)
	}
}

func TestCarveErrors(t *testing.T) {
	dir := sensorDir(t)
	empty := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--dir", dir}, "-w FILE (or -w - for standard output) is required"},
		{[]string{"--dir", empty, "-w", "-"}, "no pcap ring files (PREFIX_NNNNN_YYYYMMDDhhmmss.pcap or .pcapng) in " + empty},
		{[]string{"--dir", filepath.Join(empty, "nope"), "-w", "-"}, "not a directory"},
		{[]string{"--dir", dir, "--from", "yesterday", "-w", "-"}, `--from "yesterday": want RFC 3339`},
		{[]string{"--dir", dir, "--to", "2007-02-31 10:00:00", "-w", "-"}, `--to "2007-02-31 10:00:00"`},
		{[]string{"--dir", dir, "--from", "2007-02-22", "--to", "2007-02-21T00:00:00Z", "-w", "-"}, `--from "2007-02-22"`},
		{[]string{"--dir", dir, "--from", "1172053077", "--to", "1172053070", "-w", "-"}, "is after --to"},
		{[]string{"--dir", dir, "--host", "161.53.178", "-w", "-"}, `--host "161.53.178": not an IP address`},
		{[]string{"--dir", dir, "--proto", "tcpp", "-w", "-"}, `--proto "tcpp"`},
		{[]string{"--dir", dir, "--flow-id", "x1", "-w", "-"}, `--flow-id "x1"`},
		{[]string{"--dir", dir, "--alert-id", "77", "-w", "-"}, `no alert with "xdpsensor_alert_id": 77 in ` + filepath.Join(dir, "eve.json")},
		{[]string{"--dir", dir, "--format", "erf", "-w", "-"}, `--format "erf"`},
		{[]string{"--dir", dir, "-w", filepath.Join(empty, "no", "such", "dir.pcap")}, "no such file or directory"},
	}
	for _, c := range cases {
		_, _, err := runCarveCLI(t, append([]string{"carve"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want it to mention %q", c.args, err, c.want)
		}
	}
}

func TestPcapInfoCommand(t *testing.T) {
	seed := filepath.Join(testdata, "bot-cc-syn.pcap")
	stdout, _, err := runCarveCLI(t, "pcap", "info", "--utc", seed, filepath.Join(testdata, "backscatter.pcap"))
	if err != nil {
		t.Fatalf("%+v", err)
	}
	for _, line := range []string{
		"File name:           " + seed + "\n",
		"Number of packets:   3\n",
		"Data size:           186 bytes\n",
		"Capture duration:    8.940217 seconds\n",
		"First packet time:   2007-02-21 10:17:54.366236\n",
		"Data byte rate:      20.80 bytes/s\n",
		"\nFile name:           ../../testdata/backscatter.pcap\n",
		"Capture duration:    7974.671364 seconds\n",
		"Average packet size: 54.00 bytes\n",
	} {
		if !strings.Contains(stdout, line) {
			t.Errorf("no %q in\n%s", line, stdout)
		}
	}
	if _, _, err := runCarveCLI(t, "pcap", "info", filepath.Join(testdata, "bot-cc.txt")); err == nil || !strings.Contains(err.Error(), "not a pcap or pcapng file") {
		t.Errorf("a text file: %v", err)
	}
	if _, _, err := runCarveCLI(t, "pcap", "info"); err == nil {
		t.Error("no file accepted")
	}
}

// TestProgress: a bar only on a terminal, and only after a second.
func TestProgress(t *testing.T) {
	now := time.Unix(0, 0)
	clock := func() time.Time { return now }
	var quiet, shown bytes.Buffer
	pq, ps := newProgress(&quiet, false, clock), newProgress(&shown, true, clock)
	pq.throttle, ps.throttle = 0, 0
	for i := int64(0); i <= 10; i++ {
		pq.update(i<<20, 10<<20)
		ps.update(i<<20, 10<<20)
		if i == 2 && shown.Len() != 0 {
			t.Errorf("a bar within the first second: %q", shown.String())
		}
		now = now.Add(300 * time.Millisecond)
	}
	pq.finish()
	ps.finish()
	if quiet.Len() != 0 {
		t.Errorf("a bar on a non-terminal: %q", quiet.String())
	}
	if !strings.Contains(shown.String(), "carving") {
		t.Errorf("no bar on a terminal: %q", shown.String())
	}
}

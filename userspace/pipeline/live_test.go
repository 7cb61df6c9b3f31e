package pipeline

import (
	"bytes"
	"net/netip"

	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/xdpsensor/xdpsensor/userspace/capture"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"

	"github.com/xdpsensor/xdpsensor/loader"
)

const labScript = "../../scripts/lab.sh"

// lab runs a lab.sh command and returns its key=value output.
func lab(t *testing.T, args ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, labScript, args...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("lab.sh %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	kv := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = v
		}
	}
	return kv
}

// labRun is a lab the test brought up, with its blocklist written, a pin
// directory of its own and an output directory; all removed at cleanup.
type labRun struct {
	name   string
	env    map[string]string
	rules  string
	pinDir string
	outDir string
}

// startLab brings up the lab named prefix+pid (extra: lab.sh up's
// options), writes its blocklist and names the pin and output
// directories.
func startLab(t *testing.T, prefix string, extra ...string) labRun {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the live lab needs root (make test does)")
	}
	l := labRun{name: fmt.Sprintf("%s%d", prefix, os.Getpid()%10000)}
	t.Cleanup(func() { exec.Command(labScript, "down", l.name).Run() })
	l.env = lab(t, append([]string{"up", l.name}, extra...)...)
	dir := t.TempDir()
	l.rules = filepath.Join(dir, "lab.rules")
	out, err := exec.Command(labScript, "blocklist", l.name).Output()
	if err != nil {
		t.Fatalf("lab.sh blocklist: %v", err)
	}
	if err := os.WriteFile(l.rules, out, 0o644); err != nil {
		t.Fatal(err)
	}
	l.pinDir = "/sys/fs/bpf/xdpsensor-test-" + l.name
	t.Cleanup(func() { loader.Unpin(l.pinDir) })
	l.outDir = filepath.Join(dir, "out")
	return l
}

// stopSensor cancels a Live run and waits, at most limit, for it to
// return without error.
func stopSensor(t *testing.T, cancel context.CancelFunc, done <-chan error, limit time.Duration) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sensor: %+v", err)
		}
	case <-time.After(limit):
		t.Fatalf("sensor did not stop within %v of cancel", limit)
	}
}

// TestLiveLab runs the sensor on the lab's SPAN port and replays both seed
// stories with real kernels: a C&C connection attempt that is never
// answered, and an unsolicited SYN-ACK answered by RST.
func TestLiveLab(t *testing.T) {
	l := startLab(t, "t")
	name, env, rules, pinDir, outDir := l.name, l.env, l.rules, l.pinDir, l.outDir
	span := env["span_iface"]
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", 20000+os.Getpid()%20000)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Live(ctx, LiveConfig{
			Config: Config{
				Blocklists: []string{rules}, OutDir: outDir, FlowTableSize: 4096, RingSize: 1 << 20,
				HomeNet: "[192.0.2.0/24,2001:db8:1::/64]",
			},
			Interfaces: []string{span}, MonitorPort: true, PinDir: pinDir,
			MetricsAddr: metricsAddr,
		})
		done <- err
	}()
	waitAttached(t, span, done)
	// The kernel splits a flow idle past the flow timeout (2 minutes by
	// default) at its next packet.
	if maps, err := loader.OpenPinned(pinDir); err != nil {
		t.Fatal(err)
	} else {
		cfg, err := maps.ReadConfig()
		maps.Close()
		if err != nil || cfg.IdleSplitS != 120 {
			t.Errorf("pinned config: idle_split_s %d (%v), want 120", cfg.IdleSplitS, err)
		}
	}

	// Story 1: the inside host's kernel retransmits SYNs to a silent C&C.
	start := time.Now()
	attempt := exec.Command(labScript, "cc-attempt", name, "v4")
	if err := attempt.Start(); err != nil {
		t.Fatal(err)
	}
	a := waitAlert(t, filepath.Join(outDir, "eve.json"), env["cc_v4"], start.Add(2*time.Second))
	t.Logf("first alert %v after the connect()", time.Since(start).Round(time.Millisecond))
	if a.SrcIP != env["inside_v4"] || a.DestIP != env["cc_v4"] || a.DestPort != 6667 || a.Proto != "TCP" ||
		a.Alert.SignatureID != 9000001 || a.Listed != "dst" {
		t.Errorf("alert %+v", a)
	}
	if flags := tcpFlags(t, a.Packet); flags != "S" {
		t.Errorf("alerting packet flags %q, want a bare SYN", flags)
	}
	if err := attempt.Wait(); err != nil {
		t.Fatalf("cc-attempt: %v", err)
	}

	// Story 2: backscatter from the listed IRC server.
	bs := lab(t, "backscatter", name, "v4", "1024")
	if bs["rst_seen"] != "1" {
		t.Fatalf("the inside host sent no RST: %v", bs)
	}
	waitAlert(t, filepath.Join(outDir, "eve.json"), env["irc_v4"], time.Now().Add(2*time.Second))

	// Prometheus sees the same: the alerts the kernel emitted, the mode.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`xdpsensor_interface_attach_mode{interface="` + span + `",mode="native"} 1`,
		`xdpsensor_blocklist_entries{kind="exact_v4"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^xdpsensor_alerts_total [1-9]`).Match(body) {
		t.Errorf("metrics show no alerts:\n%.2000s", body)
	}

	stopSensor(t, cancel, done, 10*time.Second)

	// Full content from the first packet: the SYN-ACK (no alert) and the
	// RST, in order, from the pcap ring.
	var carved bytes.Buffer
	if n, err := capture.Carve(filepath.Join(outDir, "pcap"), capture.Filter{Host: netip.MustParseAddr(env["irc_v4"])}, &carved, "pcap", nil); err != nil || n != 2 {
		t.Errorf("carved %d packets of the backscatter flow (%v), want 2", n, err)
	} else {
		r, _ := pcapgo.NewReader(&carved)
		var flags []string
		for {
			data, _, err := r.ReadPacketData()
			if err != nil {
				break
			}
			p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
			if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
				switch {
				case tcp.SYN && tcp.ACK:
					flags = append(flags, "SA")
				case tcp.RST:
					flags = append(flags, "R")
				}
			}
		}
		if strings.Join(flags, ",") != "SA,R" {
			t.Errorf("carved packets %v, want the SYN-ACK then the RST", flags)
		}
	}

	alerts, flows := split(readEVE(t, filepath.Join(outDir, "eve.json")))
	var cc, back *eveLine
	for i := range flows {
		f := &flows[i]
		switch {
		case f.DestIP == env["cc_v4"]:
			cc = f
		case f.SrcIP == env["irc_v4"]:
			back = f
		}
	}
	if cc == nil || back == nil {
		t.Fatalf("flow records missing (cc %v, backscatter %v) among %d flows", cc != nil, back != nil, len(flows))
	}
	syns := cc.FlagCounts["toserver"]["syn"]
	if cc.SrcIP != env["inside_v4"] || cc.DestPort != 6667 || syns < 3 || cc.Flow.PktsToServer != syns ||
		cc.Flow.PktsToClient != 0 || cc.Flow.State != "new" {
		t.Errorf("C&C attempt flow: %+v flags %v", *cc.Flow, cc.FlagCounts)
	}
	ccAlerts := 0
	for _, a := range alerts {
		if a.FlowID == cc.FlowID {
			ccAlerts++
		}
	}
	// The address list is inspected once per flow direction, as
	// Suricata inspects IP-only rules: the retransmitted SYNs raise none.
	if ccAlerts != 1 {
		t.Errorf("%d alerts for the %d SYNs of one flow, want 1", ccAlerts, syns)
	}
	ts, tc := back.FlagCounts["toserver"], back.FlagCounts["toclient"]
	if back.SrcPort != 6667 || back.DestIP != env["inside_v4"] || back.DestPort != 1024 ||
		ts["synack"] != 1 || tc["rst"] != 1 || back.Flow.PktsToServer != 1 || back.Flow.PktsToClient != 1 ||
		back.Flow.End2 != "rst" {
		t.Errorf("backscatter flow: %+v toserver %v toclient %v", *back.Flow, ts, tc)
	}
}

func waitAttached(t *testing.T, ifname string, done chan error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("sensor stopped while starting: %+v", err)
		default:
		}
		if l, err := netlink.LinkByName(ifname); err == nil && l.Attrs().Xdp != nil && l.Attrs().Xdp.Attached {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no XDP program on %s after 15 s", ifname)
}

// waitAlert polls eve.json for an alert naming addr until deadline.
func waitAlert(t *testing.T, path, addr string, deadline time.Time) eveLine {
	t.Helper()
	for {
		if f, err := os.Open(path); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				var a eveLine
				if json.Unmarshal(sc.Bytes(), &a) == nil && a.EventType == "alert" && (a.DestIP == addr || a.SrcIP == addr) {
					f.Close()
					return a
				}
			}
			f.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alert for %s in %s by the deadline", addr, path)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// tcpFlags decodes the alert's packet and names its TCP flags.
func tcpFlags(t *testing.T, b64 string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("alert packet: %v", err)
	}
	p := gopacket.NewPacket(raw, layers.LayerTypeEthernet, gopacket.Default)
	tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok {
		t.Fatalf("alert packet has no TCP layer")
	}
	var s string
	for _, f := range []struct {
		on bool
		c  string
	}{{tcp.SYN, "S"}, {tcp.ACK, "A"}, {tcp.RST, "R"}, {tcp.FIN, "F"}, {tcp.PSH, "P"}} {
		if f.on {
			s += f.c
		}
	}
	return s
}

// Host mode on the inside host's own NIC (in its namespace): the SYN-ACK
// arrives through XDP, the RST and the C&C SYNs leave through TC egress,
// and both directions meet in one flow.
func TestLiveHostMode(t *testing.T) {
	l := startLab(t, "h")
	name, env, rules, pinDir, outDir := l.name, l.env, l.rules, l.pinDir, l.outDir

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		_, err := Live(ctx, LiveConfig{
			Config:     Config{Blocklists: []string{rules}, OutDir: outDir, FlowTableSize: 4096, RingSize: 1 << 20},
			Interfaces: []string{"eth0"}, Netns: env["inside_ns"], HostMode: true, PinDir: pinDir,
			Ready: func() { close(ready) },
		})
		done <- err
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("sensor stopped while starting: %+v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("sensor not ready after 15 s")
	}

	bs := lab(t, "backscatter", name, "v4", "1024")
	if bs["rst_seen"] != "1" {
		t.Fatalf("no RST: %v", bs)
	}
	a := waitAlert(t, filepath.Join(outDir, "eve.json"), env["irc_v4"], time.Now().Add(2*time.Second))
	if a.SrcIP != env["inside_v4"] || a.DestPort != 6667 || tcpFlags(t, a.Packet) != "R" {
		t.Errorf("egress alert %+v", a)
	}
	stopSensor(t, cancel, done, 10*time.Second)
	_, flows := split(readEVE(t, filepath.Join(outDir, "eve.json")))
	var back *eveLine
	for i := range flows {
		if flows[i].SrcIP == env["irc_v4"] {
			back = &flows[i]
		}
	}
	if back == nil {
		t.Fatalf("no backscatter flow among %d", len(flows))
	}
	if back.FlagCounts["toserver"]["synack"] != 1 || back.FlagCounts["toclient"]["rst"] != 1 || back.Flow.End2 != "rst" {
		t.Errorf("host-mode backscatter flow %+v %v", *back.Flow, back.FlagCounts)
	}
}

// A passive tap delivers each direction on its own NIC: with both given,
// a flow's two directions meet in one record.
func TestLiveTapPair(t *testing.T) {
	l := startLab(t, "p", "tap")
	name, env, rules, pinDir, outDir := l.name, l.env, l.rules, l.pinDir, l.outDir
	if env["tap_b_iface"] == "" {
		t.Fatalf("lab did not build a tap pair: %v", env)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	ready := make(chan struct{})
	reopen := make(chan struct{}, 1)
	go func() {
		_, err := Live(ctx, LiveConfig{
			Config:     Config{Blocklists: []string{rules}, OutDir: outDir, FlowTableSize: 4096, RingSize: 1 << 20},
			Interfaces: []string{env["span_iface"], env["tap_b_iface"]}, MonitorPort: true, PinDir: pinDir,
			Ready: func() { close(ready) }, Reopen: reopen,
		})
		done <- err
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("sensor: %+v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("sensor not ready")
	}
	lab(t, "backscatter", name, "v4", "1024")
	waitAlert(t, filepath.Join(outDir, "eve.json"), env["irc_v4"], time.Now().Add(2*time.Second))
	// logrotate: move the file away, then SIGHUP (here: the channel run's
	// SIGHUP handler feeds) — later records go to a new eve.json.
	if err := os.Rename(filepath.Join(outDir, "eve.json"), filepath.Join(outDir, "eve.json.1")); err != nil {
		t.Fatal(err)
	}
	reopen <- struct{}{}
	time.Sleep(300 * time.Millisecond)
	lab(t, "traffic", name, "3")
	stopSensor(t, cancel, done, 15*time.Second)
	if old, _ := split(readEVE(t, filepath.Join(outDir, "eve.json.1"))); len(old) != 1 {
		t.Errorf("the rotated file holds %d alerts, want the backscatter RST's", len(old))
	}
	if _, err := os.Stat(filepath.Join(outDir, "alert.fast")); err != nil {
		t.Errorf("alert.fast was not reopened: %v", err)
	}
	_, flows := split(readEVE(t, filepath.Join(outDir, "eve.json")))
	var back, session *eveLine
	for i := range flows {
		f := &flows[i]
		if f.SrcIP == env["irc_v4"] {
			back = f
		}
		if f.DestIP == env["benign_v4"] && f.DestPort == 8080 {
			session = f
		}
	}
	if back == nil || back.FlagCounts["toserver"]["synack"] != 1 || back.FlagCounts["toclient"]["rst"] != 1 {
		t.Fatalf("backscatter flow across the tap pair: %+v", back)
	}
	if session == nil || session.Flow.PktsToServer < 4 || session.Flow.PktsToClient < 4 || session.Flow.End2 != "fin" {
		t.Fatalf("TCP session across the tap pair: %+v", session)
	}
}

func TestOneDaemonPerPinDir(t *testing.T) {
	pin := "/sys/fs/bpf/xdpsensor-lock-test"
	unlock, err := lockDaemon(pin)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = Live(context.Background(), LiveConfig{Config: Config{OutDir: t.TempDir()}, Interfaces: []string{"lo"}, PinDir: pin})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("another xdpsensor run (pid %d) is using %s", os.Getpid(), pin)) {
		t.Fatalf("second daemon: %v", err)
	}
}

package pipeline

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xdpsensor/xdpsensor/userspace/capture"
)

// ringPacket is a frame of the pcap ring with its 5-tuple.
type ringPacket struct {
	capture.Packet
	tuple string // "src:sport>dst:dport"
}

func ringPackets(t *testing.T, path string) []ringPacket {
	t.Helper()
	var out []ringPacket
	for _, p := range readAll(t, path) {
		rp := ringPacket{Packet: p}
		pk := gopacket.NewPacket(p.Data, layers.LayerTypeEthernet, gopacket.Default)
		if ip, ok := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
			if tcp, ok := pk.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
				rp.tuple = fmt.Sprintf("%s:%d>%s:%d", ip.SrcIP, tcp.SrcPort, ip.DstIP, tcp.DstPort)
			}
		}
		out = append(out, rp)
	}
	return out
}

// TestLiveAlertsNameTheirPcapFile: on the lab's SPAN port, a burst of C&C
// connection attempts and of backscatter, through a pcap ring that
// rotates every few packets. Every alert names the ring file that holds
// its packet, at its own timestamp to the microsecond, and the interface
// it arrived on; one alert per flow direction; each flow's EVE bytes are
// the sum of its frames in the ring.
func TestLiveAlertsNameTheirPcapFile(t *testing.T) {
	l := startLab(t, "e")
	env, rules, pinDir, outDir := l.env, l.rules, l.pinDir, l.outDir
	span := env["span_iface"]

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Live(ctx, LiveConfig{
			Config: Config{
				Blocklists: []string{rules}, OutDir: outDir, FlowTableSize: 4096, RingSize: 1 << 20,
				HomeNet: "[192.0.2.0/24,2001:db8:1::/64]",
				Capture: CaptureConfig{FileSize: 2 << 10, Files: 100000},
			},
			Interfaces: []string{span}, MonitorPort: true, PinDir: pinDir,
		})
		done <- err
	}()
	waitAttached(t, span, done)

	// 120 SYNs to the silent C&C, each from its own source port (a flow
	// each), and 80 SYN-ACKs from the listed IRC server to ports the
	// inside host answers with RST, at once.
	const attempts, backscatter = 120, 80
	hping := func(ns string, args ...string) *exec.Cmd {
		return exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns, "--", "hping3", "-q"}, args...)...)
	}
	syns := hping(env["inside_ns"], "-S", "-p", "6667", "-i", "u2000", "-c", fmt.Sprint(attempts), env["cc_v4"])
	synacks := hping(env["out_ns"], "-S", "-A", "-s", "6667", "-k", "-p", "++20000", "-i", "u3000", "-c", fmt.Sprint(backscatter),
		"-a", env["irc_v4"], env["inside_v4"])
	for _, c := range []*exec.Cmd{syns, synacks} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*exec.Cmd{syns, synacks} {
		c.Wait() // hping3 exits 1 when nothing answered it
	}
	time.Sleep(300 * time.Millisecond) // the last RSTs, and a drain round
	stopSensor(t, cancel, done, 15*time.Second)

	alerts, flows := split(readEVE(t, filepath.Join(outDir, "eve.json")))
	ringFiles, err := capture.FindOutputRing(outDir)
	if err != nil || len(ringFiles) < 5 {
		t.Fatalf("%d ring files (%v): want the ring to rotate during the burst", len(ringFiles), err)
	}
	files := map[string][]ringPacket{}
	var all []ringPacket
	for _, rf := range ringFiles {
		files[rf.Path] = ringPackets(t, rf.Path)
		all = append(all, files[rf.Path]...)
	}

	var toCC, toIRC, named int
	for i := range alerts {
		a := &alerts[i]
		switch {
		case a.DestIP == env["cc_v4"] && a.Direction == "to_server":
			toCC++
		case a.DestIP == env["irc_v4"] && a.Direction == "to_client":
			toIRC++ // the RST goes to the flow's client, the SYN-ACK's sender
		default:
			t.Errorf("alert %s:%d > %s:%d %s", a.SrcIP, a.SrcPort, a.DestIP, a.DestPort, a.Direction)
		}
		if a.InIface != span || a.PcapCnt != 0 {
			t.Errorf("alert in_iface %q pcap_cnt %d, want %s and none", a.InIface, a.PcapCnt, span)
		}
		if a.CaptureFile == "" {
			continue
		}
		named++
		want, _ := base64.StdEncoding.DecodeString(a.Packet)
		at, err := time.Parse("2006-01-02T15:04:05.999999-0700", a.Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range files[a.CaptureFile] {
			if p.Time.Truncate(time.Microsecond).Equal(at) && len(want) > 0 && bytes.HasPrefix(p.Data, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("alert at %s (%s:%d > %s:%d): %s does not hold its packet", a.Timestamp, a.SrcIP, a.SrcPort, a.DestIP, a.DestPort,
				filepath.Base(a.CaptureFile))
		}
	}
	t.Logf("%d alerts (%d C&C attempts, %d backscatter RSTs), %d name their pcap file, through %d ring files",
		len(alerts), toCC, toIRC, named, len(ringFiles))
	if toCC != attempts || toIRC != backscatter {
		t.Errorf("%d alerts for the %d C&C attempts and %d for the %d backscatter RSTs: want one per flow direction", toCC, attempts, toIRC, backscatter)
	}
	if named != len(alerts) {
		t.Errorf("%d of %d alerts name their pcap file", named, len(alerts))
	}

	// Capture starts at a listed flow's first packet and keeps whole
	// frames: the ring holds each listed flow's frames, and EVE's bytes
	// are their lengths' sum.
	frameBytes := map[string]uint64{}
	for _, p := range all {
		frameBytes[p.tuple] += uint64(p.OrigLen)
	}
	checked := 0
	for _, f := range flows {
		if f.DestIP != env["cc_v4"] && f.SrcIP != env["irc_v4"] {
			continue
		}
		fwd := fmt.Sprintf("%s:%d>%s:%d", f.SrcIP, f.SrcPort, f.DestIP, f.DestPort)
		rev := fmt.Sprintf("%s:%d>%s:%d", f.DestIP, f.DestPort, f.SrcIP, f.SrcPort)
		if uint64(f.Flow.BytesToServer) != frameBytes[fwd] || uint64(f.Flow.BytesToClient) != frameBytes[rev] {
			t.Errorf("flow %s: EVE bytes %d/%d, its frames in the ring %d/%d", fwd, f.Flow.BytesToServer, f.Flow.BytesToClient, frameBytes[fwd], frameBytes[rev])
		}
		checked++
	}
	if checked != attempts+backscatter {
		t.Errorf("%d listed flows, want %d", checked, attempts+backscatter)
	}
}

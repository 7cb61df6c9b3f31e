package loader

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/capture"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/flowtable"
)

// differentialList exercises every matching path: destination-only,
// source-only and either-way rules, exact and prefix, IPv4 and IPv6.
func differentialList() *blocklist.List {
	l := &blocklist.List{Rules: []blocklist.Rule{
		{GID: 1, SID: 1, Rev: 1, Msg: "dst", Direction: blocklist.ListedAsDst},
		{GID: 1, SID: 2, Rev: 1, Msg: "src", Direction: blocklist.ListedAsSrc},
		{GID: 1, SID: 3, Rev: 1, Msg: "any", Direction: blocklist.ListedAsAny},
	}}
	add := func(rule int, s string) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a := netip.MustParseAddr(s)
			p = netip.PrefixFrom(a, a.BitLen())
		}
		l.Entries = append(l.Entries, blocklist.Entry{Prefix: p, Rule: rule})
	}
	add(0, "161.53.178.240")
	add(0, "193.109.122.67")
	add(1, "193.109.122.67")
	add(0, "203.0.113.66")
	add(2, "198.51.100.0/24")
	add(1, "198.51.100.128/25")
	add(0, "10.0.0.0/8")
	add(1, "10.0.0.2")
	add(0, "2001:db8::2")
	add(2, "2001:db8:3::/48")
	add(1, "2001:db8::/32")
	return l
}

var (
	diffOnce    sync.Once
	diffHarness *harness
	diffMatcher *refMatcher
)

func differentialHarness(t *testing.T) (*harness, *refMatcher) {
	diffOnce.Do(func() {
		h := openHarness(t, Config{FlowTableSize: 256, RingSize: 1 << 16})
		list := differentialList()
		h.block(list)
		diffHarness, diffMatcher = h, newRefMatcher(list)
	})
	if diffHarness == nil {
		t.Fatal("differential harness failed to load")
	}
	diffHarness.t = t
	return diffHarness, diffMatcher
}

// kernelVerdict names the counter a frame moved.
func kernelVerdict(d *abi.BpfSensorStats) refVerdict {
	switch {
	case d.MalformedL2 > 0:
		return refBadL2
	case d.MalformedVlan > 0:
		return refBadVLAN
	case d.MalformedL3 > 0:
		return refBadL3
	case d.MalformedIhl > 0:
		return refBadIHL
	case d.MalformedIpLen > 0:
		return refBadIPLen
	case d.MalformedIpv6Ext > 0:
		return refBadIPv6Ext
	case d.MalformedL4 > 0:
		return refBadL4
	case d.MalformedTcpDoff > 0:
		return refBadTCPDoff
	case d.MalformedEncap > 0:
		return refBadEncap
	case d.NonIpPackets > 0:
		return refNonIP
	}
	return refIP
}

// compareFrame runs one frame through the kernel and the reference and
// fails on any difference in parse result or match decision.
func compareFrame(t *testing.T, h *harness, m *refMatcher, frame []byte) {
	t.Helper()
	h.clearFlows()
	h.events()
	before := h.stats()
	h.run(frame)
	after := h.stats()
	var d abi.BpfSensorStats
	subStats(&d, &after, &before)
	ref := refDecode(frame)

	if got := kernelVerdict(&d); got != ref.Verdict {
		t.Fatalf("frame %x: kernel %v, reference %v", frame, got, ref.Verdict)
	}
	if malformedTotal(&d)+d.NonIpPackets > 1 {
		t.Fatalf("frame %x: more than one verdict counter moved: %+v", frame, d)
	}
	flows := h.flows()
	alerts, _ := h.events()
	if ref.Verdict != refIP {
		if len(flows) != 0 || len(alerts) != 0 {
			t.Fatalf("frame %x (%v): %d flows, %d alerts", frame, ref.Verdict, len(flows), len(alerts))
		}
		return
	}
	if ref.Fragment {
		if len(flows) != 0 || d.Fragments != 1 {
			t.Fatalf("frame %x: later fragment made %d flows, fragments counter +%d", frame, len(flows), d.Fragments)
		}
	} else {
		if len(flows) != 1 {
			t.Fatalf("frame %x: %d flows, want 1", frame, len(flows))
		}
		for k, v := range flows {
			want := abi.BpfFlowKey{AddrLo: ref.Key.AddrLo, AddrHi: ref.Key.AddrHi, PortLo: ref.Key.PortLo, PortHi: ref.Key.PortHi,
				Zone: k.Zone, Proto: ref.Key.Proto, Family: ref.Key.Family}
			if k != want {
				t.Fatalf("frame %x: flow key\n kernel    %+v\n reference %+v", frame, k, want)
			}
			zones := &flowtable.Zones{Map: h.s.Objects.Zones}
			if got, wantVLANs := zones.VLANs(k.Zone), abi.VLANs(ref.Key.VLAN); !slices.Equal(got, wantVLANs) {
				t.Fatalf("frame %x: zone %d is VLANs %v; reference %v", frame, k.Zone, got, wantVLANs)
			}
			dir := v.dir[ref.Side]
			if v.initiator() != ref.Side || dir.Packets != 1 || dir.Bytes != ref.L3Len || dir.PayloadBytes != ref.Payload {
				t.Fatalf("frame %x: side %d packets %d bytes %d payload %d; reference side %d bytes %d payload %d",
					frame, v.initiator(), dir.Packets, dir.Bytes, dir.PayloadBytes, ref.Side, ref.L3Len, ref.Payload)
			}
			wantFlags := uint8(0)
			if ref.HasL4 && ref.Proto == 6 {
				wantFlags = ref.TCPFlags
			}
			if dir.TCPFlags != wantFlags {
				t.Fatalf("frame %x: flags %#x; reference %#x", frame, dir.TCPFlags, wantFlags)
			}
		}
	}
	// The inner packet's alert, then the tunnel's outer addresses' (a
	// later fragment is matched on its inner addresses only).
	type expected struct {
		rule   int
		listed string
		layer  abi.BpfAlertLayer
	}
	var wantAlerts []expected
	if rule, listed, ok := m.Alert(ref); ok {
		wantAlerts = append(wantAlerts, expected{rule, listed, abi.BpfAlertLayerLAYER_INNER})
	}
	if ref.Tunneled && !ref.Fragment {
		if rule, listed, ok := m.Alert(refResult{Verdict: refIP, Src: ref.OuterSrc, Dst: ref.OuterDst}); ok {
			wantAlerts = append(wantAlerts, expected{rule, listed, abi.BpfAlertLayerLAYER_OUTER})
		}
	}
	if len(alerts) != len(wantAlerts) {
		t.Fatalf("frame %x: %d alerts, reference expects %+v", frame, len(alerts), wantAlerts)
	}
	for i, w := range wantAlerts {
		wantListed := uint8(abi.BpfRuleDirectionRULE_LISTED_DST)
		if w.listed == "src" {
			wantListed = uint8(abi.BpfRuleDirectionRULE_LISTED_SRC)
		}
		a := alerts[i]
		if int(a.RuleId&0xffffff)-1 != w.rule || a.Listed != wantListed || a.Layer != uint8(w.layer) {
			t.Fatalf("frame %x: kernel rule %#x listed %d layer %d, reference rule %d listed %s layer %d",
				frame, a.RuleId, a.Listed, a.Layer, w.rule, w.listed, w.layer)
		}
	}
}

// corpusFrames are the frames every differential run checks: the seed
// captures, the datapath tests' frames and matching-path variations.
func corpusFrames(t testing.TB) [][]byte {
	var frames [][]byte
	caps, _ := filepath.Glob("../testdata/*.pcap")
	if len(caps) == 0 {
		t.Fatal("no captures under ../testdata")
	}
	for _, c := range caps {
		rd, err := capture.Open(c)
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
			frames = append(frames, append([]byte(nil), p.Data...))
		}
		rd.Close()
	}
	pairs := [][2]string{
		{"192.168.0.31", "161.53.178.240"}, {"161.53.178.240", "192.168.0.31"},
		{"193.109.122.67", "69.143.202.28"}, {"69.143.202.28", "193.109.122.67"},
		{"192.0.2.1", "198.51.100.7"}, {"198.51.100.200", "192.0.2.1"}, {"10.0.0.2", "10.9.9.9"},
		{"10.9.9.9", "10.0.0.2"}, {"192.0.2.1", "203.0.113.66"},
	}
	for _, p := range pairs {
		frames = append(frames, frameSpec{v4: &ip4{src: p[0], dst: p[1], proto: 6}, l4: tcpSeg{sport: 1234, dport: 80, flags: event.TCPSyn}}.build())
		frames = append(frames, frameSpec{v4: &ip4{src: p[0], dst: p[1], proto: 17, fragOffset: 20}, l4: rawL4(make([]byte, 16))}.build())
	}
	pairs6 := [][2]string{{"2001:db8::1", "2001:db8::2"}, {"2001:db8:3::5", "2001:db9::1"}, {"2001:db9::1", "2001:db8:3::5"}, {"2001:db8:1::1", "2001:db9::9"}}
	for _, p := range pairs6 {
		frames = append(frames, frameSpec{v6: &ip6{src: p[0], dst: p[1], proto: 6}, l4: tcpSeg{sport: 443, dport: 5000, flags: event.TCPSyn | event.TCPAck}}.build())
		frames = append(frames, frameSpec{v6: &ip6{src: p[0], dst: p[1], next: 0, ext: cat(ext6(44, 1), frag6(17, 0, true)), proto: 17}, l4: udpDgram{sport: 1, dport: 2}}.build())
	}
	frames = append(frames, seedSYN().build(), frameSpec{ethertype: 0x0806, raw: make([]byte, 28)}.build())
	// Every encapsulation and tunnel, whole and cut short at each header.
	for _, c := range encapCases() {
		frames = append(frames, c.frame)
		for _, cut := range []int{15, 18, 22, 30, 38, 42, 46, 50, 54, 58, 62, 70, 78, 90} {
			if cut < len(c.frame) {
				frames = append(frames, c.frame[:cut])
			}
		}
	}
	return frames
}

func TestDifferentialAgainstReference(t *testing.T) {
	h, m := differentialHarness(t)
	frames := corpusFrames(t)
	// And every committed fuzz input.
	entries, _ := filepath.Glob("testdata/fuzz/FuzzDatapath/*")
	for _, e := range entries {
		if b, err := readFuzzEntry(e); err == nil {
			frames = append(frames, b)
		}
	}
	for _, f := range frames {
		if len(f) < 14 {
			continue
		}
		compareFrame(t, h, m, f)
	}
	t.Logf("%d frames agree", len(frames))
}

func FuzzDatapath(f *testing.F) {
	for _, fr := range corpusFrames(f) {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 14 || len(frame) > 4096 {
			return // BPF_PROG_TEST_RUN needs an Ethernet header
		}
		h, m := differentialHarness(t)
		compareFrame(t, h, m, frame)
	})
}

// readFuzzEntry reads a "go test fuzz v1" file holding one []byte.
func readFuzzEntry(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseFuzzBytes(string(data))
}

package eve

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// randomEvents makes alerts and flows with random protocols, addresses,
// flags, VLAN tags and options, to validate beyond the golden cases.
func randomEvents(n int) (alerts []*event.Alert, flows []*event.Flow, opts []Options) {
	r := rand.New(rand.NewPCG(1, 2))
	protos := []uint8{event.ProtoTCP, event.ProtoUDP, event.ProtoICMP, event.ProtoICMPv6, event.ProtoSCTP, 47, 50, 0, 143, 200, 255}
	addr := func(v6 bool) netip.Addr {
		if v6 {
			var b [16]byte
			for i := range b {
				b[i] = byte(r.IntN(256))
			}
			return netip.AddrFrom16(b)
		}
		return netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
	}
	vlan := func() []uint16 {
		v := make([]uint16, r.IntN(4))
		for i := range v {
			v[i] = uint16(r.IntN(4096))
		}
		return v
	}
	stats := func() event.DirectionStats {
		return event.DirectionStats{
			Packets: r.Uint64N(1 << 40), Bytes: r.Uint64(), FrameBytes: r.Uint64(), PayloadBytes: r.Uint64(),
			MissedBytes: r.Uint64N(3) * r.Uint64(),
			TCPFlags:    uint8(r.IntN(256)),
			FlagCounts:  event.TCPFlagCounts{SYN: r.Uint64(), SYNACK: r.Uint64(), ACK: r.Uint64(), FIN: r.Uint64(), RST: r.Uint64(), PSH: r.Uint64(), URG: r.Uint64(), ECE: r.Uint64(), CWR: r.Uint64()},
		}
	}
	rule := func() event.Rule {
		rl := event.Rule{GID: r.Uint32(), SID: r.Uint32(), Rev: r.Uint32(), Msg: "m\"\\\x01é", Category: "c", Priority: uint32(r.IntN(5))}
		for range r.IntN(3) {
			rl.References = append(rl.References, []string{"url,a.example", "cve,2020-1", "x,y", "z"}[r.IntN(4)])
		}
		return rl
	}
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	reasons := []event.EndReason{event.EndFIN, event.EndRST, event.EndTimeout, event.EndShutdown, event.EndEmergency, event.EndTableFull, event.EndActive}
	for i := 0; i < n; i++ {
		v6 := r.IntN(2) == 0
		proto := protos[r.IntN(len(protos))]
		start := base.Add(time.Duration(r.Int64N(int64(365 * 24 * time.Hour))))
		o := Options{CompressIPv6: r.IntN(2) == 0}
		if r.IntN(2) == 0 {
			o.SensorName = "s"
		}
		opts = append(opts, o)
		a := &event.Alert{
			FlowID: r.Uint64N(3),
			Rule:   new(rule()),
			Listed: []event.Listed{event.ListedSrc, event.ListedDst, ""}[r.IntN(3)],
			Packet: event.Packet{
				Time:     start,
				Src:      event.Endpoint{IP: addr(v6), Port: uint16(r.IntN(65536))},
				Dst:      event.Endpoint{IP: addr(v6), Port: uint16(r.IntN(65536))},
				Proto:    proto,
				VLAN:     vlan(),
				Fragment: r.IntN(5) == 0,
				ICMPType: uint8(r.IntN(256)),
				ICMPCode: uint8(r.IntN(256)),
			},
		}
		if r.IntN(2) == 0 {
			a.Packet.Data = make([]byte, r.IntN(200)+1)
			a.Packet.Interface = "eth" + string(rune('0'+r.IntN(10)))
		}
		if r.IntN(3) == 0 {
			a.CaptureFile = "/tmp/x.pcap"
		}
		if r.IntN(2) == 0 {
			a.Packet.PcapCnt = r.Uint64N(1<<40) + 1
		}
		if a.FlowID != 0 {
			a.ToServer = r.IntN(2) == 0
			a.Flow = event.AlertFlow{PktsToServer: r.Uint64(), PktsToClient: r.Uint64(), BytesToServer: r.Uint64(), BytesToClient: r.Uint64(),
				Start: start.Add(-time.Duration(r.Int64N(int64(time.Hour))))}
		}
		alerts = append(alerts, a)
		f := &event.Flow{
			FlowID:       r.Uint64(),
			Proto:        proto,
			Client:       event.Endpoint{IP: addr(v6), Port: uint16(r.IntN(65536))},
			Server:       event.Endpoint{IP: addr(v6), Port: uint16(r.IntN(65536))},
			VLAN:         vlan(),
			Start:        start,
			End:          start.Add(time.Duration(r.Int64N(int64(time.Hour)))),
			ToServer:     stats(),
			ICMPType:     uint8(r.IntN(256)),
			ICMPCode:     uint8(r.IntN(256)),
			Reason:       reasons[r.IntN(len(reasons))],
			Alerts:       uint32(r.IntN(3)),
			ClientListed: r.IntN(2) == 0,
			ServerListed: r.IntN(2) == 0,
		}
		if r.IntN(2) == 0 {
			f.ToClient = stats()
		}
		// TCP session states, from random kernel histories.
		f.FirstTCPFlags = []uint8{event.TCPSyn, event.TCPSyn | event.TCPAck, event.TCPAck, 0}[r.IntN(4)]
		for range r.IntN(12) {
			f.History += string("SHADFRQIWTGshadfrqiwtg"[r.IntN(22)])
		}
		if f.FirstTCPFlags == event.TCPSyn {
			f.History = "S" + f.History
		}
		if r.IntN(4) == 0 {
			f.HistoryLost = uint64(r.IntN(300))
		}
		f.ActiveEnd = f.Start.Add(time.Duration(r.Int64N(int64(f.End.Sub(f.Start)) + 1)))
		for range r.IntN(3) {
			f.Rules = append(f.Rules, rule())
		}
		flows = append(flows, f)
	}
	return alerts, flows, opts
}

func TestRandomEventsValidate(t *testing.T) {
	subset := compileSchema(t, "testdata/eve-subset.schema.json")
	suricata := suricataSchema(t)
	alerts, flows, opts := randomEvents(300)
	for i := range alerts {
		for _, line := range [][]byte{
			AppendAlert(nil, alerts[i], opts[i]),
			AppendFlow(nil, flows[i], opts[i]),
		} {
			if !json.Valid(line) {
				t.Fatalf("invalid JSON: %s", line)
			}
			validate(t, subset, suricata, line)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00\xff", "\u2028", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := string(appendString(nil, s)); got != strings.TrimSuffix(want.String(), "\n") {
			t.Errorf("%q: got %s, encoding/json %s", s, got, want.String())
		}
	})
}

// TestCommunityIDCacheChangesNothing: a Writer, which remembers recent
// flows' Community IDs, writes what encoding each event afresh does.
func TestCommunityIDCacheChangesNothing(t *testing.T) {
	for _, workers := range []int{0, 2, 3} {
		writeLikeAppend(t, Options{Workers: workers})
	}
}

// writeLikeAppend: a Writer with opts writes what AppendAlert and
// AppendFlow do, in order, across flushes and stats records.
func writeLikeAppend(t *testing.T, opts Options) {
	alerts, flows, _ := randomEvents(3000)
	var got bytes.Buffer
	w := NewWriter(&got, opts)
	var want []byte
	for i := range alerts {
		// Each alert twice, and its flow's tuple again in a flow record.
		for range 2 {
			if err := w.WriteAlert(alerts[i]); err != nil {
				t.Fatal(err)
			}
			want = append(AppendAlert(want, alerts[i], Options{}), '\n')
		}
		if i < len(flows) {
			if err := w.WriteFlow(flows[i]); err != nil {
				t.Fatal(err)
			}
			want = append(AppendFlow(want, flows[i], Options{}), '\n')
		}
		if i%1000 == 999 {
			st := &event.Stats{Time: time.Unix(int64(i), 0), Counters: []event.Counter{{Name: "a.b", Value: uint64(i)}}}
			w.WriteStats(st)
			want = append(AppendStats(want, st, Options{}), '\n')
		}
		if i%777 == 0 {
			w.Flush()
		}
	}
	w.Close()
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("workers %d: a Writer's records differ from AppendAlert's and AppendFlow's", opts.Workers)
	}
}

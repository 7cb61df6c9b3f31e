package ringbuf

import (
	"testing"
	"time"
	"unsafe"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// rulesGone resolves no rule: every rule was replaced before it was read.
type rulesGone struct{}

func (rulesGone) Rule(id, gen uint32) (*event.Rule, bool) { return nil, false }

// An alert whose rule is gone is still written, with a placeholder rule
// naming its id and generation, and counted.
func TestAlertWithRuleGoneIsCounted(t *testing.T) {
	var ev abi.BpfAlertEvent
	ev.Type = uint8(abi.BpfEventTypeEVENT_ALERT)
	ev.RuleId, ev.Generation = 0x10003, 7
	ev.Pkt.Family = uint8(abi.BpfAddrFamilyFAMILY_IPV4)
	copy(ev.Pkt.Src[:], []byte{192, 0, 2, 10})
	copy(ev.Pkt.Dst[:], []byte{203, 0, 113, 66})
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&ev)), unsafe.Sizeof(ev))
	d := &Decoder{Rules: rulesGone{}, Clock: func(ns uint64) time.Time { return time.Unix(0, int64(ns)) }}
	for i := 1; i <= 2; i++ {
		a, err := d.Alert(raw)
		if err != nil {
			t.Fatal(err)
		}
		if a.Rule.ID != 0x10003 || a.Rule.Msg != "rule 0x10003 of blocklist generation 7 (replaced before it was read)" {
			t.Errorf("placeholder rule %+v", a.Rule)
		}
		if d.RulesUnknown != uint64(i) {
			t.Errorf("RulesUnknown %d after %d alerts", d.RulesUnknown, i)
		}
	}
}

// Alerts handed out from one chunk are apart: each keeps its own packet
// bytes across chunks, and appending to one's bytes leaves the next's.
func TestAlertsFromChunksAreApart(t *testing.T) {
	d := &Decoder{Rules: rulesGone{}, Clock: func(ns uint64) time.Time { return time.Unix(0, int64(ns)) }}
	const n = 3*alertChunk + 5
	var alerts []*event.Alert
	for i := range n {
		var ev abi.BpfAlertEvent
		ev.Type = uint8(abi.BpfEventTypeEVENT_ALERT)
		ev.Pkt.Family = uint8(abi.BpfAddrFamilyFAMILY_IPV4)
		ev.TsNs = uint64(i)
		ev.CapLen = uint32(i % len(ev.Data)) // none for the first
		for j := range ev.CapLen {
			ev.Data[j] = byte(i)
		}
		a, err := d.Alert(unsafe.Slice((*byte)(unsafe.Pointer(&ev)), unsafe.Sizeof(ev)))
		if err != nil {
			t.Fatal(err)
		}
		alerts = append(alerts, a)
	}
	for i, a := range alerts {
		_ = append(a.Packet.Data, 0xff) // must not write into the next alert's bytes
		if a.Packet.Time.UnixNano() != int64(i) || len(a.Packet.Data) != i%256 {
			t.Fatalf("alert %d: time %d, %d bytes", i, a.Packet.Time.UnixNano(), len(a.Packet.Data))
		}
		for _, c := range a.Packet.Data {
			if c != byte(i) {
				t.Fatalf("alert %d: byte %#x", i, c)
			}
		}
	}
	if alerts[0].Packet.Data != nil {
		t.Errorf("no bytes: Data %v, want nil", alerts[0].Packet.Data)
	}
}

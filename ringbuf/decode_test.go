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

func (rulesGone) Rule(id, gen uint32) (event.Rule, bool) { return event.Rule{}, false }

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

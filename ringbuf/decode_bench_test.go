package ringbuf

import (
	"testing"
	"time"
	"unsafe"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// oneRule names every rule id the same.
type oneRule struct{ r *event.Rule }

func (o oneRule) Rule(id, gen uint32) (*event.Rule, bool) { return o.r, true }

// BenchmarkDecodeAlert decodes one alert record of a TCP packet in a flow
// (a 62-byte frame), as the drain does for each.
func BenchmarkDecodeAlert(b *testing.B) {
	var ev abi.BpfAlertEvent
	ev.Type = uint8(abi.BpfEventTypeEVENT_ALERT)
	ev.RuleId, ev.Generation = 3, 1
	ev.Pkt.Family = uint8(abi.BpfAddrFamilyFAMILY_IPV4)
	ev.Pkt.Proto = 6
	copy(ev.Pkt.Src[:], []byte{192, 0, 2, 10})
	copy(ev.Pkt.Dst[:], []byte{203, 0, 113, 66})
	ev.Pkt.Sport, ev.Pkt.Dport = 40000, 6667
	ev.HasFlow, ev.FlowStartNs, ev.TsNs = 1, 1e9, 2e9
	ev.CapLen, ev.FrameLen = 62, 62
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&ev)), unsafe.Sizeof(ev))
	d := &Decoder{Rules: oneRule{&event.Rule{ID: 3, GID: 1, SID: 2404000, Rev: 5, Msg: "ET CNC Shadowserver Reported CnC Server IP group 1", Priority: 1}},
		Clock: func(ns uint64) time.Time { return time.Unix(0, int64(ns)) }}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Alert(raw); err != nil {
			b.Fatal(err)
		}
	}
}

package eve

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// TestMemoWritesWhatItRemembers encodes random alerts and flows through
// Writers, whose memos remember Community IDs and alert objects, and
// checks every line against the memo-less encoding. Most alerts share
// one rule, alternating with variants of it that differ in one field
// each, so that remembered objects are hit, and missed where a field
// changed.
func TestMemoWritesWhatItRemembers(t *testing.T) {
	alerts, flows, _ := randomEvents(3000)
	base := event.Rule{GID: 1, SID: 2404000, Rev: 5, Msg: "ET CNC Shadowserver Reported CnC Server IP group 1", Category: "A Network Trojan was detected", Priority: 1,
		References: []string{"url,doc.emergingthreats.net/bin/view/Main/BotCC", "url,www.shadowserver.org/wiki/pmwiki.php/Stats/BotnetCharts"}}
	variants := []func(r *event.Rule){
		func(r *event.Rule) {},
		func(r *event.Rule) { r.GID = 3 },
		func(r *event.Rule) { r.SID++ },
		func(r *event.Rule) { r.Rev++ },
		func(r *event.Rule) { r.Priority = 0 },
		func(r *event.Rule) { r.Msg += " (2)" },
		func(r *event.Rule) { r.Category = "Misc activity" },
		func(r *event.Rule) { r.References = r.References[:1] },
		func(r *event.Rule) { r.References = []string{r.References[1], r.References[0]} },
		func(r *event.Rule) { r.References = nil },
	}
	for i, a := range alerts[:2500] { // the rest keep their random rules
		// base, a variant, base, the next variant, …: each variant
		// follows the rule it differs from by one field.
		r := base
		r.References = append([]string(nil), base.References...)
		if i%2 == 1 {
			variants[i/2%len(variants)](&r)
		}
		a.Rule = &r
	}
	for _, workers := range []int{0, 2} {
		for k, o := range []Options{{}, {SensorName: "s", CompressIPv6: true}} {
			o.Workers = workers
			t.Run(fmt.Sprintf("workers=%d,options=%d", workers, k), func(t *testing.T) {
				var out, want bytes.Buffer
				w := NewWriter(&out, o)
				for i := range alerts {
					if err := w.WriteAlert(alerts[i]); err != nil {
						t.Fatal(err)
					}
					if err := w.WriteFlow(flows[i]); err != nil {
						t.Fatal(err)
					}
					want.Write(AppendAlert(nil, alerts[i], o))
					want.WriteByte('\n')
					want.Write(AppendFlow(nil, flows[i], o))
					want.WriteByte('\n')
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				got, exp := bytes.Split(out.Bytes(), []byte("\n")), bytes.Split(want.Bytes(), []byte("\n"))
				if len(got) != len(exp) {
					t.Fatalf("%d lines, want %d", len(got), len(exp))
				}
				for i := range got {
					if !bytes.Equal(got[i], exp[i]) {
						t.Fatalf("line %d:\n got %s\nwant %s", i+1, got[i], exp[i])
					}
				}
			})
		}
	}
}

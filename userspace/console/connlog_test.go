package console

import (
	"testing"

	"github.com/xdpsensor/xdpsensor/userspace/event/eventtest"
	"github.com/xdpsensor/xdpsensor/userspace/zeek"
)

// The console reads Zeek's reading of a flow from conn.log in either of
// the forms the sensor writes it: TSV, or JSON lines (--zeek-json).
func TestConnIndexReadsTSVAndJSON(t *testing.T) {
	f := eventtest.BackscatterFlow()
	for _, json := range []bool{false, true} {
		c := newConnIndex(10)
		var log []byte
		if !json {
			log = zeek.Header(f.Start)
		}
		log = append(zeek.AppendConn(log, f, zeek.Options{JSON: json}), '\n')
		c.add(log)
		got, ok := c.get(f.FlowID)
		if want := (ZeekConn{UID: zeek.UID(f.FlowID), ConnState: "RSTO", History: "^hR"}); !ok || got != want {
			t.Errorf("json %v: %+v %v, want %+v", json, got, ok, want)
		}
	}
}

package console

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"

	"github.com/xdpsensor/xdpsensor/userspace/eve"
	"github.com/xdpsensor/xdpsensor/userspace/zeek"
)

// ZeekConn is what conn.log adds to a flow record: Zeek's reading of the
// connection, which EVE does not carry.
type ZeekConn struct {
	UID       string
	ConnState string // S0, RSTO, SF, ...
	History   string // ^hR: '^' when Zeek flipped the connection
}

// connStateMeaning is Zeek's documentation of conn_state, for a tooltip.
var connStateMeaning = map[string]string{
	"S0":     "connection attempt seen, no reply",
	"S1":     "connection established, not terminated",
	"SF":     "normal establishment and termination",
	"REJ":    "connection attempt rejected",
	"S2":     "established, close attempt by originator seen (no reply from responder)",
	"S3":     "established, close attempt by responder seen (no reply from originator)",
	"RSTO":   "connection established, originator aborted (sent a RST)",
	"RSTR":   "responder sent a RST",
	"RSTOS0": "originator sent a SYN followed by a RST, no SYN-ACK from the responder",
	"RSTRH":  "responder sent a SYN-ACK followed by a RST, no SYN from the (purported) originator",
	"SH":     "originator sent a SYN followed by a FIN, no SYN-ACK from the responder",
	"SHR":    "responder sent a SYN-ACK followed by a FIN, no SYN from the originator",
	"OTH":    "no SYN seen, just midstream traffic",
}

// connIndex maps Zeek uids to conn.log lines' state and history, from
// TSV (columns found by the #fields header, so added columns do no harm)
// or JSON lines (--zeek-json).
type connIndex struct {
	max     int
	mu      sync.RWMutex
	byUID   map[string]ZeekConn
	order   []string
	columns map[string]int
}

func newConnIndex(max int) *connIndex {
	return &connIndex{max: max, byUID: map[string]ZeekConn{}}
}

// add indexes runs of complete conn.log lines.
func (c *connIndex) add(lines []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = eve.Reader{}.Scan(bytes.NewReader(lines), func(line []byte) bool {
		s := string(line)
		if strings.HasPrefix(s, "#fields\t") {
			c.columns = map[string]int{}
			for i, name := range strings.Split(s, "\t")[1:] {
				c.columns[name] = i
			}
			return true
		}
		var zc ZeekConn
		switch {
		case s != "" && s[0] == '{':
			var rec struct {
				UID       string `json:"uid"`
				ConnState string `json:"conn_state"`
				History   string `json:"history"`
			}
			if json.Unmarshal(line, &rec) != nil {
				return true
			}
			zc = ZeekConn(rec)
		case s == "" || s[0] == '#' || c.columns == nil:
			return true
		default:
			cols := strings.Split(s, "\t")
			get := func(name string) string {
				if i, ok := c.columns[name]; ok && i < len(cols) && cols[i] != "-" && cols[i] != "(empty)" {
					return cols[i]
				}
				return ""
			}
			zc = ZeekConn{UID: get("uid"), ConnState: get("conn_state"), History: get("history")}
		}
		if zc.UID == "" {
			return true
		}
		if _, ok := c.byUID[zc.UID]; !ok {
			c.order = append(c.order, zc.UID)
		}
		c.byUID[zc.UID] = zc
		if len(c.order) > c.max {
			n := len(c.order) - c.max*3/4
			for _, uid := range c.order[:n] {
				delete(c.byUID, uid)
			}
			c.order = append([]string(nil), c.order[n:]...)
		}
		return true
	})
}

// get returns the conn.log line of a flow: its uid derives from the flow id.
func (c *connIndex) get(flowID uint64) (ZeekConn, bool) {
	if flowID == 0 {
		return ZeekConn{}, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	zc, ok := c.byUID[zeek.UID(flowID)]
	return zc, ok
}

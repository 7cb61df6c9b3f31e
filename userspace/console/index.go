package console

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/eve"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/sessions"
)

// Alert is an EVE alert record as the console shows it. Only the fields
// the views use are decoded; Raw keeps the whole record, so fields added
// to EVE later are still shown (the "EVE record" section).
type Alert struct {
	ID          uint64 // xdpsensor_alert_id; 0 for records without one (not linkable)
	FlowID      uint64
	Time        time.Time
	Src, Dst    netip.Addr
	SrcPort     uint16
	DstPort     uint16
	Proto       string
	GID         uint32
	SID         uint32
	Rev         uint32
	Signature   string
	Category    string
	Severity    int
	Listed      string // "src" or "dst": which address is on the blocklist
	CaptureFile string
	CommunityID string
	Sensor      string
	Raw         []byte
	seq         uint64 // arrival order
}

// Frame decodes the packet that raised the alert (EVE's "packet", from
// Ethernet on) from the record: kept once, in Raw, not twice.
func (a *Alert) Frame() []byte {
	var rec struct {
		Packet []byte `json:"packet"`
	}
	if json.Unmarshal(a.Raw, &rec) != nil {
		return nil
	}
	return rec.Packet
}

// HasPorts says whether the ports mean anything (TCP, UDP, SCTP).
func (a *Alert) HasPorts() bool { return a.Proto == "TCP" || a.Proto == "UDP" || a.Proto == "SCTP" }

// ListedAddr is the blocklisted end of the alert (the host whose other
// sessions the backscatter seed queried), else the destination.
func (a *Alert) ListedAddr() netip.Addr {
	if a.Listed == string(event.ListedSrc) {
		return a.Src
	}
	return a.Dst
}

// Flow is an EVE flow record: the session the sessions command shows,
// with what the session view does not keep.
type Flow struct {
	sessions.Session
	CommunityID string
	State       string // Suricata's flow.state
	Rules       []RuleRef
	Raw         []byte
	seq         uint64
}

// RuleRef is a rule a flow record names (xdpsensor_rules).
type RuleRef struct {
	GID       uint32 `json:"gid"`
	SID       uint32 `json:"signature_id"`
	Rev       uint32 `json:"rev"`
	Signature string `json:"signature"`
}

// Stats is an EVE stats event, its counters flattened to dotted names.
type Stats struct {
	Time     time.Time
	Counters map[string]float64
}

// Index holds what the console has read of eve.json (and conn.log), newest
// last, bounded: past the limits the oldest records are forgotten.
type Index struct {
	maxAlerts, maxFlows int

	mu       sync.RWMutex
	seq      uint64
	alerts   []*Alert
	byID     map[uint64]*Alert
	byFlow   map[uint64][]*Alert
	flows    []*Flow
	flowByID map[uint64]*Flow
	conns    *connIndex
	stats    [2]*Stats // the latest and the one before, for rates
	skipped  int       // lines that were not EVE records
	dropped  int       // records forgotten to stay within the limits
	// plainForgotten is the end of the latest flow forgotten that neither
	// alerted nor touched a listed address: host pages are not complete
	// before it.
	plainForgotten time.Time
	loaded         bool // the files as they were at start have been read
	changed        chan struct{}
}

func newIndex(maxAlerts, maxFlows int) *Index {
	return &Index{
		maxAlerts: maxAlerts, maxFlows: maxFlows,
		byID: map[uint64]*Alert{}, byFlow: map[uint64][]*Alert{}, flowByID: map[uint64]*Flow{},
		conns: newConnIndex(maxFlows), changed: make(chan struct{}),
	}
}

// Changed returns a channel closed at the next change.
func (ix *Index) Changed() <-chan struct{} {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.changed
}

// notify wakes the watchers of Changed; called with mu held.
func (ix *Index) notify() {
	close(ix.changed)
	ix.changed = make(chan struct{})
}

// eveRecord is what the index decodes of an EVE line; unknown fields are
// ignored, so records that gained fields still decode.
type eveRecord struct {
	Timestamp   string `json:"timestamp"`
	FlowID      uint64 `json:"flow_id"`
	EventType   string `json:"event_type"`
	SrcIP       string `json:"src_ip"`
	SrcPort     uint16 `json:"src_port"`
	DestIP      string `json:"dest_ip"`
	DestPort    uint16 `json:"dest_port"`
	Proto       string `json:"proto"`
	CommunityID string `json:"community_id"`
	Host        string `json:"host"`
	Alert       *struct {
		GID         uint32 `json:"gid"`
		SignatureID uint32 `json:"signature_id"`
		Rev         uint32 `json:"rev"`
		Signature   string `json:"signature"`
		Category    string `json:"category"`
		Severity    int    `json:"severity"`
	} `json:"alert"`
	CaptureFile string          `json:"capture_file"`
	Listed      json.RawMessage `json:"xdpsensor_listed"` // a string in alerts
	AlertID     uint64          `json:"xdpsensor_alert_id"`
	Flow        *struct {
		State string `json:"state"`
	} `json:"flow"`
	Rules []RuleRef                  `json:"xdpsensor_rules"`
	Stats map[string]json.RawMessage `json:"stats"`
}

const eveTime = "2006-01-02T15:04:05.999999-0700"

// addEVE indexes runs of complete EVE lines, read with eve.Reader.
func (ix *Index) addEVE(lines []byte) {
	var recs []any
	skipped := 0
	_ = eve.Reader{}.Scan(bytes.NewReader(lines), func(line []byte) bool {
		if len(bytes.TrimSpace(line)) == 0 {
			return true
		}
		switch r, ok := parseEVE(line); {
		case !ok:
			skipped++
		case r != nil:
			recs = append(recs, r)
		}
		return true
	})
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.skipped += skipped
	for _, r := range recs {
		ix.seq++
		switch r := r.(type) {
		case *Alert:
			r.seq = ix.seq
			ix.addAlert(r)
		case *Flow:
			r.seq = ix.seq
			ix.addFlow(r)
		case *Stats:
			if ix.stats[0] == nil || !r.Time.Before(ix.stats[0].Time) {
				ix.stats[1], ix.stats[0] = ix.stats[0], r
			}
		}
	}
	if len(recs) > 0 {
		ix.notify()
	}
}

// parseEVE decodes an alert, flow or stats record; other event types give
// nil, and lines that are not EVE records (or records of those types that
// do not decode) false.
func parseEVE(line []byte) (any, bool) {
	var rec eveRecord
	if err := json.Unmarshal(line, &rec); err != nil {
		return nil, false
	}
	ts, err := time.Parse(eveTime, rec.Timestamp)
	if err != nil {
		return nil, false
	}
	raw := bytes.Clone(line)
	switch rec.EventType {
	case "alert":
		if rec.Alert == nil {
			return nil, false
		}
		a := &Alert{
			ID: rec.AlertID, FlowID: rec.FlowID, Time: ts, SrcPort: rec.SrcPort, DstPort: rec.DestPort, Proto: rec.Proto,
			GID: rec.Alert.GID, SID: rec.Alert.SignatureID, Rev: rec.Alert.Rev, Signature: rec.Alert.Signature,
			Category: rec.Alert.Category, Severity: rec.Alert.Severity, CaptureFile: rec.CaptureFile,
			CommunityID: rec.CommunityID, Sensor: rec.Host, Raw: raw,
		}
		a.Src, _ = netip.ParseAddr(rec.SrcIP)
		a.Dst, _ = netip.ParseAddr(rec.DestIP)
		a.Src, a.Dst = a.Src.Unmap(), a.Dst.Unmap()
		_ = json.Unmarshal(rec.Listed, &a.Listed)
		return a, true
	case "flow":
		// The session view's reading of a flow record: flags, payload
		// bytes, label (computed when the record has none).
		res, err := sessions.Read(bytes.NewReader(line), "")
		if err != nil || len(res.Sessions) != 1 {
			return nil, false
		}
		f := &Flow{Session: res.Sessions[0], CommunityID: rec.CommunityID, Rules: rec.Rules, Raw: raw}
		f.Flow.Client.IP, f.Flow.Server.IP = f.Flow.Client.IP.Unmap(), f.Flow.Server.IP.Unmap()
		if rec.Flow != nil {
			f.State = rec.Flow.State
		}
		return f, true
	case "stats":
		s := &Stats{Time: ts, Counters: map[string]float64{}}
		flatten("", rec.Stats, s.Counters)
		return s, true
	}
	return nil, true
}

// flatten turns nested stats objects into dotted names ("capture.kernel_drops").
func flatten(prefix string, m map[string]json.RawMessage, out map[string]float64) {
	for k, v := range m {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		var n float64
		if json.Unmarshal(v, &n) == nil {
			out[name] = n
			continue
		}
		var sub map[string]json.RawMessage
		if json.Unmarshal(v, &sub) == nil {
			flatten(name, sub, out)
		}
	}
}

func (ix *Index) addAlert(a *Alert) {
	ix.alerts = append(ix.alerts, a)
	if a.ID != 0 {
		ix.byID[a.ID] = a
	}
	if a.FlowID != 0 {
		ix.byFlow[a.FlowID] = append(ix.byFlow[a.FlowID], a)
	}
	if len(ix.alerts) > ix.maxAlerts {
		n := len(ix.alerts) - ix.maxAlerts*3/4 // forget a quarter at once, not one a record
		for _, old := range ix.alerts[:n] {
			if ix.byID[old.ID] == old {
				delete(ix.byID, old.ID)
			}
			if list := ix.byFlow[old.FlowID]; len(list) > 0 {
				list = slices.DeleteFunc(list, func(x *Alert) bool { return x == old })
				if len(list) == 0 {
					delete(ix.byFlow, old.FlowID)
				} else {
					ix.byFlow[old.FlowID] = list
				}
			}
		}
		ix.alerts = slices.Clone(ix.alerts[n:])
		ix.dropped += n
	}
}

func (ix *Index) addFlow(f *Flow) {
	// A flow written again (a snapshot of a live flow, then its end)
	// replaces its earlier record.
	if old := ix.flowByID[f.Flow.FlowID]; old != nil && f.Flow.FlowID != 0 {
		i := slices.Index(ix.flows, old)
		if i >= 0 {
			ix.flows = slices.Delete(ix.flows, i, i+1)
		}
	}
	ix.flows = append(ix.flows, f)
	if f.Flow.FlowID != 0 {
		ix.flowByID[f.Flow.FlowID] = f
	}
	if len(ix.flows) > ix.maxFlows {
		ix.forgetFlows()
	}
}

// evidence tells the flows the pages link to: those that alerted or touch
// a listed address. The others are forgotten first.
func evidence(f *Flow) bool {
	fl := &f.Flow
	return fl.Alerts > 0 || fl.ClientListed || fl.ServerListed || fl.Label != ""
}

// forgetFlows drops the oldest quarter of the flows that are not evidence;
// evidence goes too only past twice the limit.
func (ix *Index) forgetFlows() {
	drop := len(ix.flows) - ix.maxFlows*3/4
	kept := ix.flows[:0]
	for _, f := range ix.flows {
		if drop > 0 && !evidence(f) {
			drop--
			ix.forget(f)
			continue
		}
		kept = append(kept, f)
	}
	clear(ix.flows[len(kept):])
	ix.flows = kept
	if over := len(ix.flows) - 2*ix.maxFlows; over > 0 {
		n := over + ix.maxFlows/2
		for _, f := range ix.flows[:n] {
			ix.forget(f)
		}
		ix.flows = slices.Clone(ix.flows[n:])
	}
}

func (ix *Index) forget(f *Flow) {
	if ix.flowByID[f.Flow.FlowID] == f {
		delete(ix.flowByID, f.Flow.FlowID)
	}
	if !evidence(f) && f.Flow.End.After(ix.plainForgotten) {
		ix.plainForgotten = f.Flow.End
	}
	ix.dropped++
}

// AlertFilter selects alerts; its zero value selects all.
type AlertFilter struct {
	Signature string       // in the rule's message (any case), or the rule's SID
	Host      netip.Prefix // either address in it
	Port      int          // either port; -1 any
	Label     string       // the label of the alert's flow; "none" for flows without one (or not yet written)
	From, To  time.Time
}

func (f *AlertFilter) match(ix *Index, a *Alert) bool {
	if f.Signature != "" && !strings.Contains(strings.ToLower(a.Signature), strings.ToLower(f.Signature)) &&
		strings.TrimPrefix(strings.ToLower(f.Signature), "sid:") != itoa(uint64(a.SID)) {
		return false
	}
	if f.Host.IsValid() && !f.Host.Contains(a.Src) && !f.Host.Contains(a.Dst) {
		return false
	}
	if f.Port >= 0 && (!a.HasPorts() || int(a.SrcPort) != f.Port && int(a.DstPort) != f.Port) {
		return false
	}
	if !f.From.IsZero() && a.Time.Before(f.From) || !f.To.IsZero() && a.Time.After(f.To) {
		return false
	}
	if f.Label != "" {
		l := ""
		if fl := ix.flowByID[a.FlowID]; fl != nil && a.FlowID != 0 {
			l = fl.Flow.Label
		}
		if l == "" {
			l = "none"
		}
		if l != f.Label {
			return false
		}
	}
	return true
}

// AlertGroup is a row of the alert list: alerts of one rule between the
// same two addresses, as Sguil aggregated them (its Count column).
type AlertGroup struct {
	Latest *Alert
	Count  int
	Ports  int    // distinct port pairs in the group
	Label  string // of the latest alert's flow; "" while it is open
	Note   string
}

type groupKey struct {
	gid, sid uint32
	src, dst netip.Addr
}

func keyOf(a *Alert) groupKey { return groupKey{a.GID, a.SID, a.Src, a.Dst} }

// AlertRows returns the alerts that pass f, newest first, grouped as
// Sguil grouped them unless single; at most limit rows, and the number
// of rows there were.
func (ix *Index) AlertRows(f AlertFilter, single bool, limit int) ([]AlertGroup, int) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	type acc struct {
		g     AlertGroup
		ports map[[2]uint16]bool
	}
	groups := map[groupKey]*acc{}
	var rows []*acc
	for _, a := range ix.alerts {
		if !f.match(ix, a) {
			continue
		}
		if single {
			rows = append(rows, &acc{g: AlertGroup{Latest: a, Count: 1, Ports: 1}})
			continue
		}
		k := keyOf(a)
		g := groups[k]
		if g == nil {
			g = &acc{ports: map[[2]uint16]bool{}}
			groups[k] = g
			rows = append(rows, g)
		}
		g.g.Count++
		g.ports[[2]uint16{a.SrcPort, a.DstPort}] = true
		if g.g.Latest == nil || newer(a, g.g.Latest) {
			g.g.Latest = a
		}
	}
	out := make([]AlertGroup, 0, min(len(rows), limit))
	for _, r := range rows {
		if r.ports != nil {
			r.g.Ports = len(r.ports)
		}
		if fl := ix.flowByID[r.g.Latest.FlowID]; fl != nil && r.g.Latest.FlowID != 0 {
			r.g.Label, r.g.Note = fl.Flow.Label, fl.Flow.LabelNote
		}
		out = append(out, r.g)
	}
	slices.SortStableFunc(out, func(a, b AlertGroup) int {
		switch {
		case newer(a.Latest, b.Latest):
			return -1
		case newer(b.Latest, a.Latest):
			return 1
		}
		return 0
	})
	total := len(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, total
}

// newer orders alerts by time, then by arrival.
func newer(a, b *Alert) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.After(b.Time)
	}
	return a.seq > b.seq
}

// Alert returns the alert with xdpsensor_alert_id id.
func (ix *Index) Alert(id uint64) *Alert {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.byID[id]
}

// Group returns the alerts grouped with a (same rule, same addresses), newest first.
func (ix *Index) Group(a *Alert) []*Alert {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	k := keyOf(a)
	var out []*Alert
	for _, x := range ix.alerts {
		if keyOf(x) == k {
			out = append(out, x)
		}
	}
	slices.SortStableFunc(out, func(a, b *Alert) int {
		if newer(a, b) {
			return -1
		}
		return 1
	})
	return out
}

// Flow returns the flow record with flow_id id.
func (ix *Index) Flow(id uint64) *Flow {
	if id == 0 {
		return nil
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.flowByID[id]
}

// FlowAlerts returns the alerts of a flow, oldest first.
func (ix *Index) FlowAlerts(id uint64) []*Alert {
	if id == 0 {
		return nil
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := slices.Clone(ix.byFlow[id])
	slices.SortStableFunc(out, func(a, b *Alert) int {
		if newer(a, b) {
			return 1
		}
		return -1
	})
	return out
}

// HostSessions returns the flows with addr at either end that overlap
// [from, to] (zero times: unbounded), in start order.
func (ix *Index) HostSessions(addr netip.Addr, from, to time.Time) []*Flow {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []*Flow
	for _, f := range ix.flows {
		fl := &f.Flow
		if fl.Client.IP != addr && fl.Server.IP != addr {
			continue
		}
		if !from.IsZero() && fl.End.Before(from) || !to.IsZero() && fl.Start.After(to) {
			continue
		}
		out = append(out, f)
	}
	slices.SortStableFunc(out, func(a, b *Flow) int { return a.Flow.Start.Compare(b.Flow.Start) })
	return out
}

// HostAlerts returns the alerts with addr at either end in [from, to],
// oldest first.
func (ix *Index) HostAlerts(addr netip.Addr, from, to time.Time) []*Alert {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var out []*Alert
	for _, a := range ix.alerts {
		if a.Src != addr && a.Dst != addr {
			continue
		}
		if !from.IsZero() && a.Time.Before(from) || !to.IsZero() && a.Time.After(to) {
			continue
		}
		out = append(out, a)
	}
	slices.SortStableFunc(out, func(a, b *Alert) int {
		if newer(a, b) {
			return 1
		}
		return -1
	})
	return out
}

// Conn returns Zeek's reading of a flow (conn_state, history) from conn.log.
func (ix *Index) Conn(flowID uint64) (ZeekConn, bool) {
	return ix.conns.get(flowID)
}

// LatestStats returns the newest stats event and the one before it.
func (ix *Index) LatestStats() (cur, prev *Stats) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.stats[0], ix.stats[1]
}

// Counts says how much the index holds.
type Counts struct {
	Alerts, Flows, Skipped, Dropped int
	Loaded                          bool
	// PlainForgotten: sessions without alerts or listed addresses that
	// ended before this are no longer held (zero: none forgotten).
	PlainForgotten time.Time
}

// Counts returns the index's sizes.
func (ix *Index) Counts() Counts {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return Counts{Alerts: len(ix.alerts), Flows: len(ix.flows), Skipped: ix.skipped, Dropped: ix.dropped, Loaded: ix.loaded, PlainForgotten: ix.plainForgotten}
}

func (ix *Index) setLoaded() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if !ix.loaded {
		ix.loaded = true
		ix.notify()
	}
}

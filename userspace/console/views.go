package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/eve"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/label"
	"github.com/xdpsensor/xdpsensor/userspace/sessions"
)

// rowLimit bounds the alert list; the filter narrows it.
const rowLimit = 500

// pages are the parsed templates, one set a page over the layout.
type pages struct {
	byName map[string]*template.Template
	assetV string // a hash of the assets, for cache-busting URLs
}

func parsePages() (*pages, error) {
	sum := sha256.New()
	err := fs.WalkDir(content, "assets", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := content.ReadFile(path)
		sum.Write(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	p := &pages{byName: map[string]*template.Template{}, assetV: hex.EncodeToString(sum.Sum(nil))[:12]}
	funcs := template.FuncMap{
		"asset":      func(name string) string { return "/static/" + name + "?v=" + p.assetV },
		"utc":        fmtTime,
		"endpoint":   fmtEndpoint,
		"hostURL":    func(a netip.Addr) string { return "/hosts/" + a.String() },
		"flags":      sessions.FlagString,
		"protoName":  eve.ProtoName,
		"flagNames":  flagNames,
		"flagCounts": flagCounts,
		"duration":   fmtDuration,
		"labelClass": func(l string) string { return "label label-" + labelSlug(l) },
		"stateNote":  func(s string) string { return connStateMeaning[s] },
		"historyNote": func(h string) string {
			if strings.HasPrefix(h, "^") {
				return "Zeek flipped the connection: its originator is the session's destination. Upper case: originator, lower case: responder."
			}
			return "Upper case: originator, lower case: responder (S SYN, H SYN-ACK, A ACK, D data, F FIN, R RST)."
		},
		"plural": func(n int, one, many string) string {
			if n == 1 {
				return one
			}
			return many
		},
		"add": func(a, b int) int { return a + b },
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(content, "templates/layout.html", "templates/parts.html")
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"alerts", "alert", "flow", "host", "notfound"} {
		t, err := template.Must(layout.Clone()).ParseFS(content, "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		p.byName[name] = t
	}
	return p, nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05.000000")
}

// fmtWindow writes 24h rather than 24h0m0s.
func fmtWindow(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}

func fmtDuration(a, b time.Time) string {
	return b.Sub(a).Round(time.Microsecond).String()
}

func fmtEndpoint(a netip.Addr, port uint16, withPort bool) string {
	if !withPort {
		return a.String()
	}
	return netip.AddrPortFrom(a, port).String()
}

// flagNames spells out the flags of a direction in Sguil's order.
func flagNames(fl uint8) string {
	names := [8]string{"CWR", "ECE", "URG", "ACK", "PSH", "RST", "SYN", "FIN"}
	var out []string
	for i, n := range names {
		if fl&(0x80>>i) != 0 {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, " ")
}

// flagCounts gives the non-zero per-flag packet counts as name=count, as
// the sessions command prints them (synack=1).
func flagCounts(c event.TCPFlagCounts) string {
	var out []string
	for _, p := range c.Named() {
		if p.N > 0 {
			out = append(out, fmt.Sprintf("%s=%d", p.Name, p.N))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, " ")
}

func labelSlug(l string) string {
	if slices.Contains(label.All, l) {
		return l
	}
	return "none"
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

// page is what every page template gets.
type page struct {
	Title string
	Page  string
	Dir   string
	Chart bool
	Data  any
}

func (s *Server) render(w http.ResponseWriter, status int, name, title string, chart bool, data any) {
	var buf bytes.Buffer
	err := s.pages.byName[name].ExecuteTemplate(&buf, "layout", page{Title: title, Page: name, Dir: s.cfg.Dir, Chart: chart, Data: data})
	if err != nil {
		s.log.Error("serving console: rendering", "page", name, "err", err)
		http.Error(w, "rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) notFound(w http.ResponseWriter, _ *http.Request, what string) {
	s.render(w, http.StatusNotFound, "notfound", "Not found", false, what)
}

// filterForm is the alert filter as the form shows it, and its errors.
type filterForm struct {
	Sig, Host, Port, Label, From, To string
	Single                           bool
	Errors                           []string
	Labels                           []string
	Query                            string // the filter as a query string, for the live stream
}

// parseWhen reads a time bound: RFC 3339, "2006-01-02 15:04:05" or a date
// (UTC, as the page shows times), or a duration meaning that long ago.
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999", "2006-01-02T15:04:05.999999", "2006-01-02 15:04", "2006-01-02T15:04", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New(`want a time like "2007-03-20 18:00:00" (UTC), 2007-03-20T18:00:00Z, 2007-03-20, or a duration like 24h`)
}

// alertFilter reads the filter of the alert list from a query.
func alertFilter(q url.Values, now time.Time) (AlertFilter, filterForm) {
	form := filterForm{Sig: q.Get("sig"), Host: q.Get("host"), Port: q.Get("port"), Label: q.Get("label"),
		From: q.Get("from"), To: q.Get("to"), Single: q.Get("single") == "1", Labels: append(slices.Clone(label.All), "none")}
	f := AlertFilter{Signature: strings.TrimSpace(form.Sig), Port: -1}
	if form.Host != "" {
		p, err := sessions.ParseHost(strings.TrimSpace(form.Host))
		if err != nil {
			form.Errors = append(form.Errors, fmt.Sprintf("host %q: want an address or a CIDR prefix", form.Host))
		} else {
			f.Host = p
		}
	}
	if form.Port != "" {
		n, err := strconv.ParseUint(strings.TrimSpace(form.Port), 10, 16)
		if err != nil {
			form.Errors = append(form.Errors, fmt.Sprintf("port %q: want 0 to 65535", form.Port))
		} else {
			f.Port = int(n)
		}
	}
	if form.Label != "" {
		if !slices.Contains(form.Labels, form.Label) {
			form.Errors = append(form.Errors, fmt.Sprintf("label %q: want one of %s", form.Label, strings.Join(form.Labels, ", ")))
		} else {
			f.Label = form.Label
		}
	}
	for _, b := range []struct {
		name, v string
		t       *time.Time
	}{{"from", form.From, &f.From}, {"to", form.To, &f.To}} {
		if b.v == "" {
			continue
		}
		t, err := parseWhen(b.v, now)
		if err != nil {
			form.Errors = append(form.Errors, fmt.Sprintf("%s %q: %v", b.name, b.v, err))
			continue
		}
		*b.t = t
	}
	if !f.To.IsZero() && len(strings.TrimSpace(form.To)) <= len("2006-01-02") && !strings.ContainsAny(form.To, "hms") {
		f.To = f.To.Add(24*time.Hour - time.Nanosecond) // a date takes in the whole day
	}
	keep := url.Values{}
	for _, k := range []string{"sig", "host", "port", "label", "from", "to", "single"} {
		if v := q.Get(k); v != "" {
			keep.Set(k, v)
		}
	}
	form.Query = keep.Encode()
	return f, form
}

// alertsView is the alert list.
type alertsView struct {
	Form   filterForm
	Rows   rowsView
	Health Health
	Counts Counts
}

// rowsView is the table body, also sent live.
type rowsView struct {
	Groups []AlertGroup
	Fresh  map[*Alert]bool
	Total  int
	Single bool
}

func (s *Server) handleAlerts(w http.ResponseWriter, r *http.Request) {
	f, form := alertFilter(r.URL.Query(), time.Now())
	groups, total := s.index.AlertRows(f, form.Single, rowLimit)
	s.render(w, http.StatusOK, "alerts", "Alerts", false, alertsView{
		Form: form, Rows: rowsView{Groups: groups, Total: total, Single: form.Single},
		Health: s.health(), Counts: s.index.Counts(),
	})
}

// health prefers the sensor's own EVE stats events to the pinned maps.
func (s *Server) health() Health {
	if cur, prev := s.index.LatestStats(); cur != nil {
		return healthFromStats(cur, prev)
	}
	if s.cfg.PinDir == "" {
		return Health{Problem: "no stats events in eve.json (and no pin directory to read the maps from)"}
	}
	return s.pinned.health()
}

// sessionView is a flow record with its Zeek reading and alerts.
type sessionView struct {
	F        *Flow
	E        *event.Flow // F's flow, for the templates
	Zeek     ZeekConn
	HasZeek  bool
	Ports    bool
	TCP      bool
	Sguil    string // the sessions command's text of this session
	Alerts   []*Alert
	ClientIs string // "listed" when the client is on the blocklist
	ServerIs string
}

func (s *Server) sessionView(f *Flow) *sessionView {
	if f == nil {
		return nil
	}
	v := &sessionView{F: f, E: &f.Flow, Ports: event.HasPorts(f.Flow.Proto), TCP: f.Flow.Proto == event.ProtoTCP}
	v.Zeek, v.HasZeek = s.index.Conn(f.Flow.FlowID)
	var b bytes.Buffer
	sess := f.Session
	if sess.Sensor == "" {
		sess.Sensor = s.sensor // as the sessions command names records without a host
	}
	_ = sessions.Render(&b, []sessions.Session{sess})
	v.Sguil = b.String()
	v.Alerts = s.index.FlowAlerts(f.Flow.FlowID)
	if f.Flow.ClientListed {
		v.ClientIs = "listed"
	}
	if f.Flow.ServerListed {
		v.ServerIs = "listed"
	}
	return v
}

// sessionRow is a line of a session list.
type sessionRow struct {
	F     *Flow
	E     *event.Flow
	Zeek  ZeekConn
	Ports bool
	TCP   bool
	This  bool // the session of the page
}

func (s *Server) sessionRows(fs []*Flow, this uint64) []sessionRow {
	out := make([]sessionRow, len(fs))
	for i, f := range fs {
		out[i] = sessionRow{F: f, E: &f.Flow, Ports: event.HasPorts(f.Flow.Proto), TCP: f.Flow.Proto == event.ProtoTCP, This: this != 0 && f.Flow.FlowID == this}
		out[i].Zeek, _ = s.index.Conn(f.Flow.FlowID)
	}
	return out
}

// fieldRow is a field of an EVE record, flattened ("flow.pkts_toserver").
type fieldRow struct{ Name, Value string }

// recordFields lists every field of a record, so fields EVE gains later
// show without the console knowing them. The packet is left out (it is
// decoded above it).
func recordFields(raw []byte) []fieldRow {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&m) != nil {
		return nil
	}
	var out []fieldRow
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				name := k
				if prefix != "" {
					name = prefix + "." + k
				}
				walk(name, v[k])
			}
		case []any:
			if len(v) == 0 {
				out = append(out, fieldRow{prefix, "[]"})
			}
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", prefix, i), e)
			}
		default:
			if prefix == "packet" {
				return
			}
			out = append(out, fieldRow{prefix, fmt.Sprint(v)})
		}
	}
	walk("", m)
	return out
}

// contentView is the full-content part: the flow's packets, decoded.
type contentView struct {
	Packets   []Packet
	Truncated bool   // more packets than shown
	Problem   string // why there are none
	PcapURL   string
	Command   string // the command line that gives the same packets
}

// alertView is the alert page.
type alertView struct {
	Alert      *Alert
	Ports      bool
	Pane       HeaderView
	HasPane    bool
	Group      []*Alert
	Session    *sessionView
	Host       netip.Addr
	Window     string
	Others     []sessionRow
	From, To   time.Time
	Content    contentView
	Fields     []fieldRow
	FlowStatus string
	Partial    string // why the session list may lack older sessions
}

// partialNote says, when it is so, that sessions without alerts or listed
// addresses that ended before the window's end were forgotten (--max-flows).
func (s *Server) partialNote(from time.Time) string {
	pf := s.index.Counts().PlainForgotten
	if pf.IsZero() || !from.IsZero() && from.After(pf) {
		return ""
	}
	return fmt.Sprintf("Sessions without alerts or listed addresses that ended before %s are no longer held (--max-flows); xdpsensor sessions --host reads all of eve.json.", fmtTime(pf))
}

func parseID(s, suffix string) (uint64, bool, error) {
	s, isFile := strings.CutSuffix(s, suffix)
	id, err := strconv.ParseUint(s, 10, 64)
	return id, isFile, err
}

func (s *Server) handleAlert(w http.ResponseWriter, r *http.Request) {
	id, pcap, err := parseID(r.PathValue("id"), ".pcap")
	if err != nil {
		s.notFound(w, r, "an alert id is a number (xdpsensor_alert_id)")
		return
	}
	a := s.index.Alert(id)
	if a == nil {
		s.notFound(w, r, fmt.Sprintf("no alert %d in eve.json", id))
		return
	}
	if pcap {
		s.servePcap(w, r, fmt.Sprintf("alert-%d.pcap", a.ID), a.FlowID, alertTuple(a), s.index.Flow(a.FlowID), a)
		return
	}
	window := s.cfg.Window
	if v := r.URL.Query().Get("window"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			window = d
		}
	}
	v := alertView{Alert: a, Ports: a.HasPorts(), Group: s.index.Group(a), Host: a.ListedAddr(), Window: fmtWindow(window),
		From: a.Time.Add(-window), To: a.Time.Add(window), Fields: recordFields(a.Raw)}
	v.Pane, v.HasPane = sguilView(a.Frame())
	fl := s.index.Flow(a.FlowID)
	v.Session = s.sessionView(fl)
	switch {
	case a.FlowID == 0:
		v.FlowStatus = "This alert's packet is in no flow (a later IP fragment): there is no session record."
	case fl == nil:
		v.FlowStatus = "No flow record yet: the flow is still open (its record is written when it ends)."
	}
	v.Others = s.sessionRows(s.index.HostSessions(v.Host, v.From, v.To), a.FlowID)
	v.Partial = s.partialNote(v.From)
	v.Content = s.content(r, a.FlowID, alertTuple(a), fl, a, fmt.Sprintf("/alerts/%d.pcap", a.ID))
	v.Content.Command = fmt.Sprintf("xdpsensor carve --dir %s --alert-id %d -w - | tcpdump -nn -v -S -X -tttt -r -", s.cfg.Dir, a.ID)
	title := fmt.Sprintf("[%d:%d:%d] %s", a.GID, a.SID, a.Rev, a.Signature)
	s.render(w, http.StatusOK, "alert", title, false, v)
}

// flowView is the session page.
type flowView struct {
	Session *sessionView
	Content contentView
	Fields  []fieldRow
}

func (s *Server) handleFlow(w http.ResponseWriter, r *http.Request) {
	id, pcap, err := parseID(r.PathValue("id"), ".pcap")
	if err != nil || id == 0 {
		s.notFound(w, r, "a flow id is a positive number (flow_id)")
		return
	}
	fl := s.index.Flow(id)
	alerts := s.index.FlowAlerts(id)
	if fl == nil && len(alerts) == 0 {
		s.notFound(w, r, fmt.Sprintf("no flow %d in eve.json", id))
		return
	}
	var tuple *flowTuple
	if fl != nil {
		tuple = flowRecordTuple(fl)
	} else {
		tuple = alertTuple(alerts[0])
	}
	if pcap {
		s.servePcap(w, r, fmt.Sprintf("flow-%d.pcap", id), id, tuple, fl, nil)
		return
	}
	if fl == nil {
		// Alerted but not ended: the alert page says what is known.
		http.Redirect(w, r, fmt.Sprintf("/alerts/%d", alerts[len(alerts)-1].ID), http.StatusSeeOther)
		return
	}
	v := flowView{Session: s.sessionView(fl), Fields: recordFields(fl.Raw)}
	v.Content = s.content(r, id, tuple, fl, nil, fmt.Sprintf("/flows/%d.pcap", id))
	v.Content.Command = fmt.Sprintf("xdpsensor carve --dir %s --flow-id %d -w - | tcpdump -nn -v -S -X -tttt -r -", s.cfg.Dir, id)
	f := &fl.Flow
	title := fmt.Sprintf("Session %d: %s → %s", id, fmtEndpoint(f.Client.IP, f.Client.Port, v.Session.Ports), fmtEndpoint(f.Server.IP, f.Server.Port, v.Session.Ports))
	s.render(w, http.StatusOK, "flow", title, false, v)
}

// hostView is the host page.
type hostView struct {
	Addr        netip.Addr
	From, To    string
	Errors      []string
	Alerts      []*Alert
	Sessions    []sessionRow
	TimelineURL string
	Partial     string
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, err
	}
	return a.WithZone("").Unmap(), nil
}

func (s *Server) hostWindow(r *http.Request) (from, to time.Time, errs []string) {
	q := r.URL.Query()
	now := time.Now()
	for _, b := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(b.name); v != "" {
			t, err := parseWhen(v, now)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s %q: %v", b.name, v, err))
				continue
			}
			*b.t = t
		}
	}
	return from, to, errs
}

func (s *Server) handleHost(w http.ResponseWriter, r *http.Request) {
	addr, err := parseAddr(r.PathValue("addr"))
	if err != nil {
		s.notFound(w, r, "a host is an IPv4 or IPv6 address")
		return
	}
	from, to, errs := s.hostWindow(r)
	q := url.Values{}
	for _, k := range []string{"from", "to"} {
		if v := r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	tl := "/api/hosts/" + addr.String() + "/timeline"
	if len(q) > 0 {
		tl += "?" + q.Encode()
	}
	v := hostView{Addr: addr, From: r.URL.Query().Get("from"), To: r.URL.Query().Get("to"), Errors: errs,
		Alerts: s.index.HostAlerts(addr, from, to), Sessions: s.sessionRows(s.index.HostSessions(addr, from, to), 0), TimelineURL: tl, Partial: s.partialNote(from)}
	s.render(w, http.StatusOK, "host", "Host "+addr.String(), true, v)
}

// timeline is the chart's data: one x (Unix seconds) per point; a series
// per kind with its lane (y) where it has a point, and the page each
// point links to.
type timeline struct {
	X      []float64        `json:"x"`
	Series []timelineSeries `json:"series"`
	Lanes  []string         `json:"lanes"` // y value i+1 is Lanes[i]
}

type timelineSeries struct {
	Name  string     `json:"name"`
	Kind  string     `json:"kind"` // "alert" or a label ("" unlabelled) for sessions
	Y     []*float64 `json:"y"`
	Links []string   `json:"links"`
}

func (s *Server) handleTimeline(w http.ResponseWriter, r *http.Request) {
	addr, err := parseAddr(r.PathValue("addr"))
	if err != nil {
		http.Error(w, "a host is an IPv4 or IPv6 address", http.StatusNotFound)
		return
	}
	from, to, _ := s.hostWindow(r)
	type point struct {
		t      time.Time
		series int
		link   string
	}
	tl := timeline{Lanes: []string{"sessions", "alerts"}}
	seriesOf := map[string]int{}
	series := func(name, kind string) int {
		if i, ok := seriesOf[name]; ok {
			return i
		}
		seriesOf[name] = len(tl.Series)
		tl.Series = append(tl.Series, timelineSeries{Name: name, Kind: kind})
		return len(tl.Series) - 1
	}
	var pts []point
	lane := map[int]float64{}
	alertSeries := series("alerts", "alert")
	lane[alertSeries] = 2
	for _, a := range s.index.HostAlerts(addr, from, to) {
		link := ""
		if a.ID != 0 {
			link = "/alerts/" + itoa(a.ID)
		}
		pts = append(pts, point{a.Time, alertSeries, link})
	}
	for _, f := range s.index.HostSessions(addr, from, to) {
		name := "sessions"
		if f.Flow.Label != "" {
			name = "sessions: " + f.Flow.Label
		}
		i := series(name, f.Flow.Label)
		lane[i] = 1
		pts = append(pts, point{f.Flow.Start, i, "/flows/" + itoa(f.Flow.FlowID)})
	}
	slices.SortStableFunc(pts, func(a, b point) int { return a.t.Compare(b.t) })
	for i := range tl.Series {
		tl.Series[i].Y = make([]*float64, len(pts))
		tl.Series[i].Links = make([]string, len(pts))
	}
	for j, p := range pts {
		tl.X = append(tl.X, float64(p.t.UnixMicro())/1e6)
		y := lane[p.series]
		tl.Series[p.series].Y[j] = &y
		tl.Series[p.series].Links[j] = p.link
	}
	if tl.X == nil {
		tl.X = []float64{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(tl)
}

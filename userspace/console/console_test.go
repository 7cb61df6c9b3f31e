package console

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/eve"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/event/eventtest"
	"github.com/xdpsensor/xdpsensor/userspace/label"
	"github.com/xdpsensor/xdpsensor/userspace/zeek"
)

// hostileMsg is a rule message an attacker could have chosen (a feed's
// rule text is not ours either).
const hostileMsg = `<b>bold</b> & "quoted" <script>alert(1)</script>`

// writeFixture writes an output directory without the kernel: the seed
// flows and alerts through the EVE and Zeek encoders, a record with a
// field EVE does not have yet, an event type the console ignores, and a
// broken line.
func writeFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ew, err := eve.Open(filepath.Join(dir, "eve.json"), eve.Options{SensorName: "cel433"})
	if err != nil {
		t.Fatal(err)
	}
	zw, err := zeek.Open(filepath.Join(dir, "conn.log"), zeek.Options{})
	if err != nil {
		t.Fatal(err)
	}
	back, bot := eventtest.BackscatterFlow(), eventtest.BotCCFlow()
	label.Apply(back)
	label.Apply(bot)
	rule := event.Rule{GID: 1, SID: 2404000, Rev: 602, Msg: hostileMsg, Category: "A Network Trojan was detected", Priority: 1}
	alert := func(id, flow uint64, at time.Time, src, dst event.Endpoint) *event.Alert {
		return &event.Alert{ID: id, FlowID: flow, Rule: &rule, Listed: event.ListedDst,
			Packet: event.Packet{Time: at, Src: src, Dst: dst, Proto: event.ProtoTCP, TCPFlags: event.TCPRst}}
	}
	us, them := eventtest.Endpoint("69.143.202.28", 1024), eventtest.Endpoint("193.109.122.67", 6667)
	for _, a := range []*event.Alert{
		alert(11, back.FlowID, back.End, us, them),
		// The seed's second RST, two hours later: its flow still open.
		alert(12, 4242, back.End.Add(2*time.Hour+13*time.Minute), eventtest.Endpoint("69.143.202.28", 3072), them),
		alert(13, bot.FlowID, bot.Start, bot.Client, bot.Server),
	} {
		if err := ew.WriteAlert(a); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []*event.Flow{bot, back} {
		if err := ew.WriteFlow(f); err != nil {
			t.Fatal(err)
		}
		if err := zw.WriteFlow(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := ew.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	// A record from a later sensor: a field the console does not know.
	var extra map[string]any
	line := eve.AppendFlow(nil, back, eve.Options{})
	json.Unmarshal(line, &extra)
	extra["flow_id"] = 777
	extra["tunnel"] = map[string]any{"type": "gre", "depth": 1}
	b, _ := json.Marshal(extra)
	appendLines(t, dir, string(b), `{"timestamp":"2007-03-20T18:05:00.000000+0000","event_type":"anomaly"}`, `{"broken`)
	return dir
}

func newTestServer(t *testing.T, dir string, cfg Config) *Server {
	t.Helper()
	cfg.Dir = dir
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	cfg.Poll = 20 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s.Start(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for !s.Index().Counts().Loaded {
		if time.Now().After(deadline) {
			t.Fatal("not loaded")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s
}

func get(t *testing.T, h http.Handler, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Host = "127.0.0.1:8080"
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestIndexReadsWhatItKnows(t *testing.T) {
	s := newTestServer(t, writeFixture(t), Config{})
	c := s.Index().Counts()
	// 3 alerts; 3 flows (one from a "later sensor"); the anomaly is not
	// counted as skipped (another event type), the broken line is.
	if c.Alerts != 3 || c.Flows != 3 || c.Skipped != 1 {
		t.Errorf("counts %+v, want 3 alerts, 3 flows, 1 skipped", c)
	}
	f := s.Index().Flow(777)
	if f == nil || f.Flow.Label != "backscatter" || f.Flow.ToServer.FlagCounts.SYNACK != 1 {
		t.Fatalf("the record with an unknown field: %+v", f)
	}
	zc, ok := s.Index().Conn(eventtest.BackscatterFlow().FlowID)
	if !ok || zc.ConnState != "RSTO" || zc.History != "^hR" {
		t.Errorf("conn.log: %+v %v", zc, ok)
	}
}

func TestPagesEscapeAndPivot(t *testing.T) {
	s := newTestServer(t, writeFixture(t), Config{})
	h := s.Handler()
	back := eventtest.BackscatterFlow()

	w := get(t, h, "/")
	if w.Code != http.StatusOK {
		t.Fatalf("/: %d", w.Code)
	}
	for k, v := range map[string]string{
		"Content-Security-Policy": contentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"Content-Type":            "text/html; charset=utf-8",
	} {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	body := w.Body.String()
	if strings.Contains(body, "<b>bold</b>") || strings.Contains(body, "<script>alert") {
		t.Error("the rule message went into the page as markup")
	}
	if !strings.Contains(body, "&lt;b&gt;bold&lt;/b&gt; &amp; &#34;quoted&#34; &lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the rule message is not in the page as escaped text")
	}
	// Two rows: the backscatter alerts (Count 2, newest first), the bot's.
	if n := strings.Count(body, `data-count="2"`); n != 1 {
		t.Errorf("%d rows of count 2, want 1", n)
	}
	if i, j := strings.Index(body, `data-alert-id="12"`), strings.Index(body, `data-alert-id="13"`); i < 0 || j < 0 || i > j {
		t.Error("rows are not newest first")
	}

	// The alert: its session decoded as the seed shows it, Zeek's view,
	// the other session of the listed host.
	w = get(t, h, "/alerts/11")
	body = w.Body.String()
	for _, want := range []string{
		`data-field="src-flag-counts">synack=1<`, `data-field="dst-flag-counts">rst=1<`,
		`data-field="label">backscatter<`, `data-field="conn-state" title="connection established, originator aborted (sent a RST)">RSTO<`,
		`data-field="history">^hR<`, "Source Flags:***A**S* ACK SYN (synack=1)", "Sensor:cel433 Session ID:5044069116374886360",
		"2 alerts of this rule between these two addresses",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/alerts/11 lacks %q", want)
		}
	}
	if w := get(t, h, "/alerts/12"); !strings.Contains(w.Body.String(), "No flow record yet: the flow is still open") {
		t.Error("/alerts/12 does not say its flow is open")
	}
	// The flow page shows fields EVE gains later.
	if w := get(t, h, "/flows/777"); w.Code != 200 || !strings.Contains(w.Body.String(), "<th>tunnel.type</th><td>gre</td>") {
		t.Errorf("/flows/777: %d, no tunnel.type field", w.Code)
	}
	// An open flow's page is its alert's.
	if w := get(t, h, "/flows/4242"); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/alerts/12" {
		t.Errorf("/flows/4242: %d %s", w.Code, w.Header().Get("Location"))
	}
	for _, p := range []string{"/alerts/999", "/alerts/x", "/flows/0", "/hosts/nonsense", "/nothing"} {
		if w := get(t, h, p); w.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, w.Code)
		}
	}

	// The host's timeline: 2 alerts in the alerts lane, 2 sessions
	// (one from the later sensor) labelled backscatter.
	w = get(t, h, "/api/hosts/193.109.122.67/timeline")
	var tl timeline
	if err := json.Unmarshal(w.Body.Bytes(), &tl); err != nil {
		t.Fatal(err)
	}
	if len(tl.X) != 4 || len(tl.Series) != 2 || tl.Series[0].Name != "alerts" || tl.Series[1].Name != "sessions: backscatter" {
		t.Fatalf("timeline %+v", tl)
	}
	if tl.X[0] != float64(back.Start.UnixMicro())/1e6 || *tl.Series[1].Y[0] != 1 || tl.Series[1].Links[0] == "" {
		t.Errorf("timeline starts %v %v %v", tl.X[0], *tl.Series[1].Y[0], tl.Series[1].Links[0])
	}
	if w := get(t, h, "/hosts/193.109.122.67"); w.Code != 200 || !strings.Contains(w.Body.String(), `data-src="/api/hosts/193.109.122.67/timeline"`) {
		t.Errorf("host page: %d", w.Code)
	}
}

func TestAlertFilters(t *testing.T) {
	s := newTestServer(t, writeFixture(t), Config{})
	rows := func(q string) (int, []string) {
		v, _ := url.ParseQuery(q)
		f, form := alertFilter(v, time.Now())
		g, total := s.Index().AlertRows(f, form.Single, rowLimit)
		if len(g) != total {
			t.Errorf("%s: %d rows of %d", q, len(g), total)
		}
		return total, form.Errors
	}
	for q, want := range map[string]int{
		"":                             2,
		"single=1":                     3,
		"sig=BOLD":                     2,
		"sig=sid:2404000":              2,
		"sig=nothing+like+it":          0,
		"host=193.109.122.0/24":        1,
		"host=192.168.0.31":            1,
		"port=3072&single=1":           1,
		"port=6667&single=1":           3,
		"label=backscatter&single=1":   1, // the open flow's alert has no label yet
		"label=none&single=1":          1,
		"label=cc-unanswered":          1,
		"from=2007-03-20+19:00":        1,
		"to=2007-03-20&single=1":       3, // a date takes in the whole day
		"to=2007-03-20+19:00&single=1": 2,
		"from=2007-03-20&to=2007-03-20+18:05&single=1": 1,
	} {
		if got, errs := rows(q); got != want || len(errs) > 0 {
			t.Errorf("%q: %d rows %v, want %d", q, got, errs, want)
		}
	}
	for _, q := range []string{"port=70000", "host=1.2.3", "label=evil", "from=yesterday"} {
		if got, errs := rows(q); len(errs) != 1 || got != 2 {
			t.Errorf("%q: %d rows, errors %v: want the error and the filter ignored", q, got, errs)
		}
	}
	// The error quotes the input: escaped in the page.
	if w := get(t, s.Handler(), "/?host=%3Cscript%3E"); !strings.Contains(w.Body.String(), `host &#34;&lt;script&gt;&#34;: want an address or a CIDR prefix`) {
		t.Error("the filter error is not shown escaped")
	}
}

func TestGuard(t *testing.T) {
	dir := writeFixture(t)
	h := newTestServer(t, dir, Config{}).Handler()
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		r := httptest.NewRequest(m, "/alerts/11", nil)
		r.Host = "localhost:8080"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d, want 405", m, w.Code)
		}
	}
	// DNS rebinding: a foreign name for 127.0.0.1 gets nothing.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Host = "attacker.example:8080"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: %d, want 421", w.Code)
	}
	if w := get(t, h, "/static/console.js"); w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") {
		t.Errorf("console.js: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	if w := get(t, h, "/static/"); w.Code != http.StatusNotFound {
		t.Errorf("/static/ lists: %d", w.Code)
	}

	// With a token (beyond loopback no Host check applies).
	h = newTestServer(t, dir, Config{Addr: "0.0.0.0:0", Token: "s3cret"}).Handler()
	if w := get(t, h, "/"); w.Code != http.StatusUnauthorized {
		t.Errorf("no token: %d", w.Code)
	}
	if w := get(t, h, "/?token=wrong"); w.Code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", w.Code)
	}
	w = get(t, h, "/alerts/11?token=s3cret&window=1h")
	c := w.Result().Cookies()
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/alerts/11?window=1h" || len(c) != 1 ||
		c[0].Value != "s3cret" || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode {
		t.Errorf("token in the URL: %d %q %+v", w.Code, w.Header().Get("Location"), c)
	}
	if w := get(t, h, "/alerts/11", "Cookie", tokenCookie+"=s3cret"); w.Code != 200 {
		t.Errorf("cookie: %d", w.Code)
	}
	if w := get(t, h, "/alerts/11", "Authorization", "Bearer s3cret"); w.Code != 200 {
		t.Errorf("bearer: %d", w.Code)
	}
	if w := get(t, h, "/alerts/11", "Authorization", "Bearer s3cre"); w.Code != http.StatusUnauthorized {
		t.Errorf("wrong bearer: %d", w.Code)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Dir: dir, Addr: "127.0.0.1:8080"}, ""},
		{Config{Dir: dir, Addr: "[::1]:8080"}, ""},
		{Config{Dir: dir, Addr: "localhost:8080"}, ""},
		{Config{Dir: dir, Addr: "0.0.0.0:8080"}, "reachable from other machines"},
		{Config{Dir: dir, Addr: ":8080"}, "reachable from other machines"},
		{Config{Dir: dir, Addr: "198.51.100.1:8080", Token: "t"}, ""},
		{Config{Dir: dir, Addr: "198.51.100.1:8080", TLSCert: "c", TLSKey: "k", ClientCA: "ca"}, ""},
		{Config{Dir: dir, Addr: "198.51.100.1:8080", ClientCA: "ca"}, "needs --tls-cert"},
		{Config{Dir: dir, Addr: "127.0.0.1:8080", TLSCert: "c"}, "go together"},
		{Config{Dir: dir, Addr: "8080"}, "want host:port"},
		{Config{Dir: filepath.Join(dir, "none"), Addr: "127.0.0.1:8080"}, "not a directory"},
	} {
		err := c.cfg.Check()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

// The live stream sends the table at once, then again, with the changed
// row marked fresh, when eve.json grows.
func TestLiveStream(t *testing.T) {
	dir := writeFixture(t)
	s := newTestServer(t, dir, Config{})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/events?sig=sid:2404000", nil)
	req.Host = "127.0.0.1"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := bufio.NewReader(resp.Body)
	next := func() (name, data string) {
		var lines []string
		for {
			l, err := events.ReadString('\n')
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			l = strings.TrimSuffix(l, "\n")
			switch {
			case l == "" && name != "":
				return name, strings.Join(lines, "\n")
			case strings.HasPrefix(l, "event: "):
				name = l[len("event: "):]
			case strings.HasPrefix(l, "data: "):
				lines = append(lines, l[len("data: "):])
			}
		}
	}
	name, data := next()
	if name != "rows" || strings.Count(data, "<tr class=\"sev-1") != 2 || strings.Contains(data, "fresh") {
		t.Fatalf("first event %s:\n%s", name, data)
	}
	// Another alert of the bot's row arrives.
	line := eve.AppendAlert(nil, &event.Alert{ID: 14, FlowID: 99, Listed: event.ListedDst,
		Rule:   &event.Rule{GID: 1, SID: 2404000, Rev: 602, Msg: hostileMsg, Priority: 1},
		Packet: event.Packet{Time: time.Date(2007, 2, 21, 11, 0, 0, 0, time.UTC), Src: eventtest.Endpoint("192.168.0.31", 2254), Dst: eventtest.Endpoint("161.53.178.240", 6667), Proto: event.ProtoTCP}}, eve.Options{})
	appendLines(t, dir, string(line))
	name, data = next()
	if name != "rows" || !strings.Contains(data, `<tr class="sev-1 fresh" data-alert-id="14"`) || !strings.Contains(data, `data-count="2"`) {
		t.Errorf("after the append %s:\n%s", name, data)
	}
}

func TestRecordFields(t *testing.T) {
	got := recordFields([]byte(`{"a":1,"b":{"c":"x","d":[1,{"e":true}],"f":[]},"packet":"AAAA","n":12345678901234567}`))
	want := []fieldRow{{"a", "1"}, {"b.c", "x"}, {"b.d[0]", "1"}, {"b.d[1].e", "true"}, {"b.f", "[]"}, {"n", "12345678901234567"}}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %v, want %v", i, got[i], want[i])
		}
	}
}

func TestMain(m *testing.M) {
	// Chromium and tcpdump print times in the local zone; the pages use UTC.
	os.Setenv("TZ", "UTC")
	os.Exit(m.Run())
}

// Past the limit, flows that neither alerted nor touch a listed address go
// first: the evidence the pages link to stays.
func TestIndexForgetsPlainFlowsFirst(t *testing.T) {
	ix := newIndex(8, 8)
	at := time.Date(2007, 3, 20, 0, 0, 0, 0, time.UTC)
	var lines []byte
	for i := range 12 {
		f := eventtest.BackscatterFlow()
		f.FlowID = uint64(100 + i)
		f.Start, f.End = at.Add(time.Duration(i)*time.Minute), at.Add(time.Duration(i)*time.Minute+time.Second)
		if i%3 != 0 { // 0, 3, 6, 9 are evidence
			f.ClientListed = false
		} else {
			label.Apply(f)
		}
		lines = append(eve.AppendFlow(lines, f, eve.Options{}), '\n')
	}
	ix.addEVE(lines)
	var kept []uint64
	for _, f := range ix.flows {
		kept = append(kept, f.Flow.FlowID)
	}
	for _, id := range []uint64{100, 103, 106, 109} {
		if ix.Flow(id) == nil {
			t.Errorf("evidence flow %d forgotten (kept %v)", id, kept)
		}
	}
	if len(kept) > 8 {
		t.Errorf("%d flows kept, limit 8: %v", len(kept), kept)
	}
	c := ix.Counts()
	if c.Dropped != 12-len(kept) || c.PlainForgotten.IsZero() {
		t.Errorf("counts %+v with %d kept", c, len(kept))
	}
}

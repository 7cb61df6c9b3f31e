package zeek

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/event/eventtest"
)

var update = flag.Bool("update", false, "rewrite testdata/conn.log")

// botCC is the "Bot C&C" seed's flow as the labeller leaves it.
func botCC() *event.Flow {
	f := eventtest.BotCCFlow()
	f.Label, f.LabelNote = "cc-unanswered", "3 SYNs"
	return f
}

// backscatter is the "Backscatter Detected" seed's first session as the
// labeller leaves it.
func backscatter() *event.Flow {
	f := eventtest.BackscatterFlow()
	f.Label, f.LabelNote = "backscatter", "answered by RST"
	return f
}

var homeNets = []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("69.143.202.28/32"), netip.MustParsePrefix("10.0.0.0/8")}

// The seed lines, as Zeek would log these connections (given the sensor's
// home nets): the bot's attempt is S0 with history S; the backscatter
// SYN-ACK came from a likely server port (6667, IRC) to an unlikely one,
// so Zeek makes our host the originator ("^"), the SYN-ACK the
// responder's "h" and our RST the originator's "R": the responder is
// established (it sent a SYN-ACK), the originator reset, which
// conn_state() calls RSTO.
const (
	botCCLine       = "1172053074.366236\tCLLASBTWxze04uoV4\t192.168.0.31\t2253\t161.53.178.240\t6667\ttcp\t-\t9.015566\t0\t0\tS0\tT\tF\t0\tS\t3\t144\t0\t0\t-\t6\t1:hDa1OSSRg0ls4bPzHO9Df7Hamsc=\tcc-unanswered\t3 SYNs"
	backscatterLine = "1174413859.731091\tC9i5U024ZIh3ljSUbd\t69.143.202.28\t1024\t193.109.122.67\t6667\ttcp\t-\t0.000338\t0\t0\tRSTO\tT\tF\t0\t^hR\t1\t40\t1\t40\t-\t6\t1:0SMa70aty2e1lVvIdRUl+DXfuJs=\tbackscatter\tanswered by RST"
)

func TestSeedLines(t *testing.T) {
	opts := Options{LocalNets: homeNets}
	if got := string(AppendConn(nil, botCC(), opts)); got != botCCLine {
		t.Errorf("bot C&C:\n got %q\nwant %q", got, botCCLine)
	}
	if got := string(AppendConn(nil, backscatter(), opts)); got != backscatterLine {
		t.Errorf("backscatter:\n got %q\nwant %q", got, backscatterLine)
	}
	// Without home nets local_orig and local_resp are unset.
	got := string(AppendConn(nil, botCC(), Options{}))
	if want := strings.Replace(botCCLine, "\tS0\tT\tF\t", "\tS0\t-\t-\t", 1); got != want {
		t.Errorf("no local nets:\n got %q\nwant %q", got, want)
	}
}

// goldenFlows are the flows of testdata/conn.log: the seeds, one flow for
// each conn_state, and the other protocols.
func goldenFlows() []*event.Flow {
	flows := []*event.Flow{botCC(), backscatter()}
	for _, h := range []struct {
		h            string
		cport, sport uint16
	}{
		{"S", 40001, 8443}, {"ShADad", 40001, 8443}, {"ShADadFf", 40001, 8443}, {"Sr", 40001, 8443},
		{"ShADadF", 40001, 8443}, {"ShADadf", 40001, 8443}, {"ShADadR", 40001, 8443}, {"ShADadr", 40001, 8443},
		{"SR", 40001, 8443}, {"HR", 80, 51000}, {"SF", 40001, 8443}, {"HF", 443, 50123}, {"Dd", 40001, 8443},
	} {
		flows = append(flows, tcpPorts(h.h, h.cport, h.sport))
	}
	v6 := tcp("ShADadFf")
	v6.FlowID = 7001
	v6.Client, v6.Server = ep("2001:db8:1::10", 51000), ep("2001:db8:bad::66", 443)
	v6.ServerListed, v6.Label, v6.LabelNote = true, "cc-established", "data-out=300, 300 bytes in"
	instant := tcp("S")
	instant.FlowID = 7002
	instant.End = instant.Start
	odd := udp(53, 53000, 1, 0)
	odd.ClientListed, odd.Label, odd.LabelNote = true, "listed-inbound", "tab\there, -, (empty), caf\u00e9, bad \xff"
	flows = append(flows, v6, instant, udp(53000, 53, 1, 1), odd,
		icmp(event.ProtoICMP, 8, 0), icmp(event.ProtoICMPv6, 1, 4), icmp(47, 0, 0))
	return flows
}

var goldenOpen = time.Date(2026, 11, 22, 1, 2, 3, 0, time.UTC)

func goldenOptions() Options {
	clock := goldenOpen
	return Options{
		LocalNets: homeNets,
		Location:  time.UTC,
		Now: func() time.Time {
			t := clock
			clock = clock.Add(time.Minute)
			return t
		},
	}
}

func writeGolden(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, goldenOptions())
	for _, f := range goldenFlows() {
		if err := w.WriteFlow(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	got := writeGolden(t)
	path := filepath.Join("testdata", "conn.log")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	if lines[0] != `#separator \x09` || lines[5] != "#open\t2026-11-22-01-02-03" || lines[len(lines)-1] != "#close\t2026-11-22-01-03-03" {
		t.Errorf("header/footer: %q ... %q", lines[:6], lines[len(lines)-1])
	}
	if !strings.Contains(string(got), "\n"+botCCLine+"\n") || !strings.Contains(string(got), "\n"+backscatterLine+"\n") {
		t.Error("the seed lines are not in the golden log")
	}
}

// zeekCut reads a log as zeek-cut (zeek-aux) does: the #separator line
// gives the separator; every #fields line, which must be followed by a
// #types line, names the columns of the lines after it; lines not
// starting with # are records, from which the named columns are picked.
func zeekCut(t *testing.T, log []byte, columns ...string) [][]string {
	t.Helper()
	sep := "\t"
	var idx []int
	var out [][]string
	prevFields := false
	for _, line := range strings.Split(strings.TrimSuffix(string(log), "\n"), "\n") {
		if prevFields && !strings.HasPrefix(line, "#types") {
			t.Fatalf("zeek-cut: bad log header (missing #types line)")
		}
		prevFields = false
		switch {
		case strings.HasPrefix(line, "#separator "):
			v := strings.TrimPrefix(line, "#separator ")
			if strings.HasPrefix(v, `\x`) {
				n, err := strconv.ParseUint(v[2:], 16, 8)
				if err != nil {
					t.Fatalf("bad #separator %q", v)
				}
				v = string(rune(n))
			}
			sep = v[:1]
		case strings.HasPrefix(line, "#fields"):
			prevFields = true
			names := strings.Split(line, sep)[1:]
			idx = idx[:0]
			for _, c := range columns {
				i := -1
				for j, n := range names {
					if n == c {
						i = j
					}
				}
				idx = append(idx, i)
			}
		case strings.HasPrefix(line, "#"):
		default:
			vals := strings.Split(line, sep)
			row := make([]string, len(idx))
			for k, i := range idx {
				if i >= 0 && i < len(vals) {
					row[k] = vals[i]
				}
			}
			out = append(out, row)
		}
	}
	return out
}

func TestZeekCutReadsIt(t *testing.T) {
	rows := zeekCut(t, writeGolden(t), "id.orig_h", "id.resp_p", "conn_state", "history", "xdpsensor_label")
	if len(rows) != len(goldenFlows()) {
		t.Fatalf("%d rows", len(rows))
	}
	want := [][]string{
		{"192.168.0.31", "6667", "S0", "S", "cc-unanswered"},
		{"69.143.202.28", "6667", "RSTO", "^hR", "backscatter"},
	}
	for i, w := range want {
		if strings.Join(rows[i], " ") != strings.Join(w, " ") {
			t.Errorf("row %d: %q, want %q", i, rows[i], w)
		}
	}
	var states []string
	for _, r := range rows {
		states = append(states, r[2])
	}
	if got := strings.Join(states, " "); got != "S0 RSTO S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH SF S0 SF SHR OTH OTH OTH" {
		t.Errorf("conn_states: %s", got)
	}
}

// TestTypedParse parses every value by its #types type, as RITA's TSV
// importer does (importer/parser.go parseField), and checks the columns
// RITA maps (importer/zeektypes/conn.go) have the types it expects.
func TestTypedParse(t *testing.T) {
	log := writeGolden(t)
	sc := bufio.NewScanner(bytes.NewReader(log))
	var fields, types []string
	records := 0
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#open"):
			// RITA splits header lines with strings.Fields.
			if _, err := time.Parse("2006-01-02-15-04-05", strings.Fields(line)[1]); err != nil {
				t.Errorf("#open: %v", err)
			}
		case strings.HasPrefix(line, "#fields"):
			fields = strings.Fields(line)[1:]
		case strings.HasPrefix(line, "#types"):
			types = strings.Fields(line)[1:]
		case strings.HasPrefix(line, "#"):
		default:
			records++
			vals := strings.Split(line, "\t")
			if len(vals) != len(fields) || len(types) != len(fields) {
				t.Fatalf("%d values, %d fields, %d types: %q", len(vals), len(fields), len(types), line)
			}
			for i, v := range vals {
				if v == "-" || v == "(empty)" {
					continue
				}
				if err := parseTyped(types[i], v); err != nil {
					t.Errorf("%s (%s) %q: %v", fields[i], types[i], v, err)
				}
			}
		}
	}
	if records != len(goldenFlows()) {
		t.Errorf("%d records", records)
	}
	rita := map[string]string{
		"ts": "time", "uid": "string", "id.orig_h": "addr", "id.orig_p": "port", "id.resp_h": "addr",
		"id.resp_p": "port", "proto": "enum", "service": "string", "duration": "interval",
		"orig_bytes": "count", "resp_bytes": "count", "conn_state": "string", "local_orig": "bool",
		"local_resp": "bool", "missed_bytes": "count", "history": "string", "orig_pkts": "count",
		"orig_ip_bytes": "count", "resp_pkts": "count", "resp_ip_bytes": "count", "tunnel_parents": "set[string]",
	}
	for i, f := range fields {
		if want, ok := rita[f]; ok && types[i] != want {
			t.Errorf("%s is %s, RITA reads %s", f, types[i], want)
		}
	}
}

func parseTyped(typ, v string) error {
	switch typ {
	case "time":
		s, frac, ok := strings.Cut(v, ".")
		if !ok || len(frac) != 6 {
			return errors.New("want seconds and six decimals")
		}
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return err
		}
		_, err := strconv.Atoi(frac)
		return err
	case "interval":
		_, err := strconv.ParseFloat(v, 64)
		return err
	case "count", "port":
		_, err := strconv.ParseUint(v, 10, 64)
		return err
	case "bool":
		if v != "T" && v != "F" {
			return errors.New("want T or F")
		}
	case "addr":
		_, err := netip.ParseAddr(v)
		return err
	case "enum":
		if v != "tcp" && v != "udp" && v != "icmp" && v != "unknown_transport" {
			return errors.New("not a transport_proto")
		}
	case "string", "set[string]":
	default:
		return errors.New("unknown type")
	}
	return nil
}

func TestAppendString(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "(empty)",
		"-":                `\x2d`,
		"(empty)":          `\x28empty)`,
		"--":               "--",
		"a\tb":             `a\x09b`,
		"new\nline":        `new\x0aline`,
		"caf\u00e9 \u2603": "caf\u00e9 \u2603",
		"bad \xff\xc3":     `bad \xff\xc3`,
		"del\x7f":          `del\x7f`,
		`back\slash`:       `back\slash`,
		"3 SYNs":           "3 SYNs",
	} {
		if got := string(appendString(nil, in)); got != want {
			t.Errorf("appendString(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTimeFormat(t *testing.T) {
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{time.Unix(1172053074, 366236000), "1172053074.366236"},
		{time.Unix(1172053074, 366236499), "1172053074.366236"},
		{time.Unix(1172053074, 366236500), "1172053074.366237"},
		{time.Unix(1172053074, 999999600), "1172053075.000000"},
		{time.Unix(0, 0), "0.000000"},
		{time.Unix(-2, 750000000), "-1.250000"},
	} {
		if got := string(appendTime(nil, c.t)); got != c.want {
			t.Errorf("%v: %s, want %s", c.t, got, c.want)
		}
	}
	if got := string(appendInterval(nil, 9015566*time.Microsecond)); got != "9.015566" {
		t.Errorf("interval %s", got)
	}
	if got := string(appendInterval(nil, 338*time.Microsecond)); got != "0.000338" {
		t.Errorf("interval %s", got)
	}
}

func TestLocalNets(t *testing.T) {
	opts := Options{LocalNets: []netip.Prefix{netip.MustParsePrefix("69.143.202.0/24")}}
	// Flipped: our host is the originator, so local_orig is T.
	c := strings.Split(string(AppendConn(nil, backscatter(), opts)), "\t")
	if c[12] != "T" || c[13] != "F" {
		t.Errorf("local_orig %s local_resp %s", c[12], c[13])
	}
	opts.LocalNets = PrivateAddressSpace
	c = strings.Split(string(AppendConn(nil, botCC(), opts)), "\t")
	if c[12] != "T" || c[13] != "F" {
		t.Errorf("private address space: local_orig %s local_resp %s", c[12], c[13])
	}
	f := tcp("S")
	f.Client.IP = netip.MustParseAddr("::ffff:10.1.1.5")
	c = strings.Split(string(AppendConn(nil, f, Options{LocalNets: homeNets})), "\t")
	if c[12] != "T" {
		t.Errorf("IPv4-mapped address not local: %s", c[12])
	}
}

type closeRecorder struct {
	bytes.Buffer
	closed int
}

func (c *closeRecorder) Close() error { c.closed++; return nil }

func TestWriter(t *testing.T) {
	var out closeRecorder
	w := NewWriter(&out, goldenOptions())
	if err := w.WriteAlert(&event.Alert{}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFlow(botCC()); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Error("written before Flush")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out.Bytes(), Header(goldenOpen)) || !bytes.HasSuffix(out.Bytes(), []byte(botCCLine+"\n")) {
		t.Errorf("after Flush:\n%s", out.Bytes())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.closed != 1 || !strings.HasSuffix(out.String(), "\n#close\t2026-11-22-01-03-03\n") {
		t.Errorf("closed %d times:\n%s", out.closed, out.String())
	}
	if bytes.Count(out.Bytes(), []byte("#fields")) != 1 {
		t.Error("header written twice")
	}
	if err := w.WriteFlow(botCC()); err == nil {
		t.Error("WriteFlow after Close succeeded")
	}
	if err := w.WriteAlert(nil); err == nil {
		t.Error("WriteAlert after Close succeeded")
	}
	if err := w.Flush(); err == nil {
		t.Error("Flush after Close succeeded")
	}
	if err := w.Close(); err == nil || out.closed != 1 {
		t.Error("second Close succeeded or closed again")
	}
}

// An empty run still leaves a valid log: header and #close.
func TestEmptyLog(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, goldenOptions())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := string(Header(goldenOpen)) + "#close\t2026-11-22-01-03-03\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	if rows := zeekCut(t, buf.Bytes(), "uid"); len(rows) != 0 {
		t.Errorf("rows %q", rows)
	}
}

func TestOpenAppendsAHeaderBlockPerRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conn.log")
	for i := 0; i < 2; i++ {
		w, err := Open(path, goldenOptions())
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFlow(backscatter()); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block := string(Header(goldenOpen)) + backscatterLine + "\n#close\t2026-11-22-01-03-03\n"
	if string(data) != block+block {
		t.Errorf("got\n%s", data)
	}
	if rows := zeekCut(t, data, "history"); len(rows) != 2 || rows[1][0] != "^hR" {
		t.Errorf("zeek-cut over two blocks: %q", rows)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", st.Mode())
	}
	if _, err := Open(filepath.Join(path, "sub"), Options{}); err == nil {
		t.Error("Open under a file succeeded")
	}
}

type failWriter struct{}

var errFail = errors.New("disk full")

func (failWriter) Write([]byte) (int, error) { return 0, errFail }

func TestWriterErrors(t *testing.T) {
	w := NewWriter(failWriter{}, Options{})
	if err := w.WriteFlow(botCC()); err != nil {
		t.Fatal(err) // buffered
	}
	if err := w.Close(); !errors.Is(err, errFail) {
		t.Errorf("Close: %v, want %v", err, errFail)
	}
}

func TestHeaderMatchesZeek(t *testing.T) {
	h := string(Header(time.Date(2019, 11, 8, 11, 44, 16, 0, time.UTC)))
	want := "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t2019-11-08-11-44-16\n" +
		"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\tip_proto\tcommunity_id\txdpsensor_label\txdpsensor_label_note\n" +
		"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\tcount\tstring\tstring\tstring\n"
	if h != want {
		t.Errorf("got\n%s\nwant\n%s", h, want)
	}
	if len(Fields) != len(Types) {
		t.Errorf("%d fields, %d types", len(Fields), len(Types))
	}
}

func TestDefaultTimesAreLocalNow(t *testing.T) {
	before := time.Now().Add(-time.Second)
	var buf bytes.Buffer
	w := NewWriter(&buf, Options{})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	open := strings.Fields(strings.Split(buf.String(), "\n")[5])[1]
	tm, err := time.ParseInLocation("2006-01-02-15-04-05", open, time.Local)
	if err != nil || tm.Before(before.Truncate(time.Second)) || tm.After(time.Now().Add(time.Second)) {
		t.Errorf("#open %s (%v)", open, err)
	}
}

// TestJSONDouble: numbers as RapidJSON's Writer::Double writes them in
// Zeek's JSON logs.
func TestJSONDouble(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{
		{0, "0.0"}, {1, "1.0"}, {0.5, "0.5"}, {-2.25, "-2.25"},
		{1172053074.366236, "1172053074.366236"}, {1174413859.731091, "1174413859.731091"},
		{0.000338, "0.000338"}, {1e-6, "0.000001"}, {1e-7, "1e-7"}, {1.5e-7, "1.5e-7"},
		{1e20, "100000000000000000000.0"}, {1e21, "1e21"}, {1.5e23, "1.5e23"}, {-3e-9, "-3e-9"},
		// The backscatter seed's duration as Zeek's doubles give it.
		{seconds(time.Unix(1174413859, 731429000)) - seconds(time.Unix(1174413859, 731091000)), "0.0003380775451660156"},
	} {
		if got := string(appendJSONDouble(nil, c.v)); got != c.want {
			t.Errorf("%v: %s, want %s", c.v, got, c.want)
		}
	}
}

// TestJSONLines: with JSON, each conn.log line is a JSON object whose
// keys are Zeek's column names, in order, holding what the TSV line holds
// (unset columns left out), and the log has no header block or #close,
// as Zeek writes it with LogAscii::use_json=T.
func TestJSONLines(t *testing.T) {
	opts := goldenOptions()
	jopts := opts
	jopts.JSON = true
	var buf bytes.Buffer
	w := NewWriter(&buf, jopts)
	for _, f := range goldenFlows() {
		if err := w.WriteFlow(f); err != nil {
			t.Fatal(err)
		}
		tsv := strings.Split(string(AppendConn(nil, f, opts)), "\t")
		line := AppendConn(nil, f, jopts)
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var keys []string
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("not an object: %s", line)
		}
		values := map[string]any{}
		for dec.More() {
			k, _ := dec.Token()
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
			keys = append(keys, k.(string))
			values[k.(string)] = v
		}
		var want []string
		for i, name := range Fields {
			if tsv[i] == "-" {
				if _, ok := values[name]; ok {
					t.Errorf("%s: unset in TSV, %v in JSON", name, values[name])
				}
				continue
			}
			want = append(want, name)
			got := fmt.Sprint(values[name])
			switch Types[i] {
			case "bool":
				got = map[string]string{"true": "T", "false": "F"}[got]
			case "time", "interval":
				n, _ := values[name].(json.Number).Float64()
				got = strconv.FormatFloat(n, 'f', 6, 64)
			}
			if got != tsv[i] {
				t.Errorf("%s: JSON %v, TSV %s\n%s", name, values[name], tsv[i], line)
			}
		}
		if strings.Join(keys, ",") != strings.Join(want, ",") {
			t.Errorf("keys %v, want %v", keys, want)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte("#")) || bytes.Count(buf.Bytes(), []byte("\n")) != len(goldenFlows()) {
		t.Errorf("JSON log:\n%s", buf.Bytes())
	}
	path := filepath.Join("testdata", "conn.json")
	if *update {
		os.WriteFile(path, buf.Bytes(), 0o644)
	}
	if golden, err := os.ReadFile(path); err != nil || !bytes.Equal(golden, buf.Bytes()) {
		t.Errorf("differs from %s (%v):\n%s", path, err, buf.Bytes())
	}
}

// TestRecordForms: each field type in both of Zeek's forms.
func TestRecordForms(t *testing.T) {
	at := time.Date(2007, 2, 21, 10, 17, 54, 366236000, time.UTC)
	write := func(json bool) string {
		r := NewRecord(nil, json)
		r.Time("ts", at)
		r.String("uid", "CabC")
		r.Addr("id.orig_h", netip.MustParseAddr("2001:db8::1"))
		r.Port("id.orig_p", 53)
		r.Unset("service")
		r.Interval("duration", at, at.Add(1500*time.Millisecond))
		r.Bool("local_orig", true)
		r.String("empty", "")
		r.OptString("history", "")
		r.Set("tunnel_parents", []string{"CaA", "CbB"})
		r.Set("none", nil)
		r.Count("missed_bytes", 7)
		return string(r.Bytes())
	}
	if got, want := write(false), "1172053074.366236\tCabC\t2001:db8::1\t53\t-\t1.500000\tT\t(empty)\t-\tCaA,CbB\t(empty)\t7"; got != want {
		t.Errorf("TSV:\n got %q\nwant %q", got, want)
	}
	if got, want := write(true), `{"ts":1172053074.366236,"uid":"CabC","id.orig_h":"2001:db8::1","id.orig_p":53,"duration":1.5,"local_orig":true,"empty":"","tunnel_parents":["CaA","CbB"],"none":[],"missed_bytes":7}`; got != want {
		t.Errorf("JSON:\n got %s\nwant %s", got, want)
	}
}

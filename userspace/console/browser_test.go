package console

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	cdplog "github.com/chromedp/cdproto/log"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/xdpsensor/xdpsensor/userspace/pipeline"
)

// The XSS probe: a rule whose message and a packet whose payload carry
// markup. Both must show as text and run nothing.
const (
	xssMsg     = `XSS probe <script>document.title='pwned'</script><img src=x onerror=alert(1)>`
	xssPayload = "GET /?q=<script>window.__xss=1</script> HTTP/1.0\r\n\r\n"
	xssServer  = "203.0.113.66"
)

// writeXSSProbe writes the probe's rule file and capture: a SYN and a
// data packet from 198.51.100.7 to the listed 203.0.113.66.
func writeXSSProbe(t *testing.T, dir string) (rules, pcap string) {
	t.Helper()
	rules = filepath.Join(dir, "xss.rules")
	rule := fmt.Sprintf("alert ip $HOME_NET any -> [%s] any (msg:\"%s\"; classtype:trojan-activity; sid:9000001; rev:1;)\n", xssServer, xssMsg)
	if err := os.WriteFile(rules, []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP,
		SrcIP: net.ParseIP("198.51.100.7").To4(), DstIP: net.ParseIP(xssServer).To4()}
	frame := func(tcp *layers.TCP, payload []byte) []byte {
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		return bytes.Clone(buf.Bytes())
	}
	frames := [][]byte{
		frame(&layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 100, SYN: true, Window: 65535}, nil),
		frame(&layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 101, Ack: 1, ACK: true, PSH: true, Window: 512}, []byte(xssPayload)),
	}
	pcap = filepath.Join(dir, "xss.pcap")
	f, err := os.Create(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	at := time.Date(2007, 3, 22, 9, 0, 0, 0, time.UTC)
	for i, fr := range frames {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: at.Add(time.Duration(i) * 10 * time.Millisecond), CaptureLength: len(fr), Length: len(fr)}, fr)
	}
	return rules, pcap
}

// replaySeeds runs both seed captures and the XSS probe through the
// kernel program, as `xdpsensor replay` does, into a fresh output directory.
func replaySeeds(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("replay loads the BPF program: run as root (make test does)")
	}
	work := t.TempDir()
	rules, probe := writeXSSProbe(t, work)
	out := filepath.Join(work, "out")
	sum, err := pipeline.Replay(context.Background(), pipeline.Config{
		Blocklists:    []string{filepath.Join(testdata, "bleeding-botcc-group1.rules"), rules},
		OutDir:        out,
		SensorName:    "cel433",
		FlowTableSize: 1024,
		RingSize:      1 << 20,
		// The probe's payload follows its SYN on the same flow: alert on
		// both, as Snort 2 would, so the page shows the payload's alert.
		AlertEveryPacket: true,
	}, []string{filepath.Join(testdata, "bot-cc-syn.pcap"), filepath.Join(testdata, "backscatter.pcap"), probe})
	if err != nil {
		t.Fatalf("replay: %+v", err)
	}
	// The seeds' 3 alerts and 3 flows, and the probe's 2 alerts and flow.
	if sum.Alerts != 5 || sum.Flows != 4 {
		t.Fatalf("replay wrote %d alerts and %d flows, want 5 and 4", sum.Alerts, sum.Flows)
	}
	// The tests bring stats events of their own: drop the replay's (it is
	// stamped now, and the health panel shows the newest).
	eve := filepath.Join(out, "eve.json")
	data, err := os.ReadFile(eve)
	if err != nil {
		t.Fatal(err)
	}
	var kept []byte
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		if !bytes.Contains(l, []byte(`"event_type":"stats"`)) {
			kept = append(kept, l...)
		}
	}
	if err := os.WriteFile(eve, kept, 0o640); err != nil {
		t.Fatal(err)
	}
	return out
}

// startConsole serves dir on a free loopback port until the test ends.
func startConsole(t *testing.T, dir string) (*Server, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(Config{Dir: dir, Addr: "127.0.0.1:0", Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Start(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !srv.Index().Counts().Loaded {
		if time.Now().After(deadline) {
			t.Fatal("the console did not read eve.json")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return srv, "http://" + l.Addr().String()
}

// newBrowser starts headless Chromium (Debian's; make test installs it).
func newBrowser(t *testing.T) (context.Context, *pageEvents) {
	t.Helper()
	exe, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("no chromium: scripts/bootstrap.sh installs Debian's chromium (make test runs it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })

	ev := &pageEvents{}
	err = chromedp.Listen(ctx, func(e any) {
		switch e := e.(type) {
		case *runtime.EventExceptionThrown:
			ev.add("exception: " + e.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				ev.add(fmt.Sprintf("console.%s", e.Type))
			}
		case *cdplog.EventEntryAdded:
			// CSP and Trusted Types violations are reported here.
			if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Level == cdplog.EntryLevelWarning {
				ev.add(fmt.Sprintf("log %s: %s (%s)", e.Entry.Level, e.Entry.Text, e.Entry.URL))
			}
		case *cdppage.EventJavascriptDialogOpening:
			ev.add("dialog: " + e.Message)
			go chromedp.Call(ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: false})
		}
	})
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx, ev
}

// pageEvents collects what the pages must not do: throw, log errors
// (CSP violations among them) or open dialogs.
type pageEvents struct {
	mu   sync.Mutex
	list []string
}

func (p *pageEvents) add(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, s)
}

func (p *pageEvents) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.list
	p.list = nil
	return l
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(wctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	return eval[int](t, ctx, fmt.Sprintf("document.querySelectorAll(%q).length", sel))
}

// screenshot writes a PNG of the page to $XDPSENSOR_CONSOLE_SCREENSHOTS/name
// when that is set (how docs/console-*.png are made).
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("XDPSENSOR_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The seeds' workflow in a browser: the alert list (live), the
// backscatter alert's session and the host's other session, its two
// packets decoded and downloaded, the host timeline; the XSS probe
// renders as text.
func TestConsoleInBrowser(t *testing.T) {
	start := time.Now()
	dir := replaySeeds(t)
	appendLines(t, dir, statsEvents...)
	srv, base := startConsole(t, dir)
	ctx, events := newBrowser(t)

	// The alert list: three rows, newest first (Sguil's aggregation: the
	// two backscatter RSTs make one row, Count 2).
	do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#live-status.on`)))
	if n := count(t, ctx, "#alert-rows tr[data-alert-id]"); n != 3 {
		t.Fatalf("%d alert rows, want 3", n)
	}
	counts := eval[[]string](t, ctx, `[...document.querySelectorAll('#alert-rows tr[data-alert-id] td.count')].map(e => e.textContent)`)
	if want := []string{"2", "2", "1"}; !equal(counts, want) {
		t.Errorf("counts %v, want %v (probe, backscatter, bot C&C)", counts, want)
	}
	labels := eval[[]string](t, ctx, `[...document.querySelectorAll('#alert-rows tr[data-alert-id]')].map(r => r.cells[6].textContent.trim())`)
	if want := []string{"cc-unanswered", "backscatter", "cc-unanswered"}; !equal(labels, want) {
		t.Errorf("labels %v, want %v", labels, want)
	}
	// The probe's rule message is text in the row, not markup.
	if got := text(t, ctx, "#alert-rows tr:first-child td.rule a"); !strings.Contains(got, xssMsg) {
		t.Errorf("probe row shows %q, want the message %q as text", got, xssMsg)
	}

	// Health from the EVE stats events: counters, their rates over the
	// 10 s between the two, the lost capture flagged.
	if got := text(t, ctx, `#health [data-field=generation]`); got != "4" {
		t.Errorf("blocklist generation %q, want 4", got)
	}
	if got := eval[[]string](t, ctx, `[...document.querySelectorAll('#health .strip > span:not(.muted)')].map(e => e.textContent)`); !equal(got, []string{
		"blocklist generation 4", "decoder.pkts 3000 200.0/s", "xdpsensor.alerts 5 0.0/s", "xdpsensor.capture_lost 2", "xdpsensor.lost_events 0",
	}) {
		t.Errorf("health strip %q", got)
	}
	if got := text(t, ctx, `#health .loss.alarm`); got != "xdpsensor.capture_lost 2" {
		t.Errorf("flagged loss %q", got)
	}

	// Live: an alert appended to eve.json shows without a reload, as a
	// second alert of the bot C&C host's rule (Count 2).
	appendAlert(t, dir)
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS(`#alert-rows tr.fresh td.count`)))
	if got := text(t, ctx, `#alert-rows tr.fresh td.time`); got != "2007-02-21 10:20:00.000000" {
		t.Errorf("fresh row at %q", got)
	}
	if got := text(t, ctx, `#alert-rows tr.fresh td.count`); got != "2" {
		t.Errorf("fresh row count %q, want 2", got)
	}
	screenshot(t, ctx, "console-alerts.png")

	// Pivot: click the backscatter alert.
	do(t, ctx,
		chromedp.Click(chromedp.Search(`//tr[td/span[contains(@class,"label-backscatter")]]/td[@class="rule"]/a`)),
		chromedp.WaitVisible(chromedp.CSS(`#session .directions`)),
	)
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !regexp.MustCompile(`/alerts/\d+$`).MatchString(loc) {
		t.Fatalf("clicked to %s", loc)
	}
	// The SYN-ACK session: the listed server sent first; its SYN-ACK
	// answered by our RST.
	for _, c := range []struct{ sel, want string }{
		{`#session [data-role=src]`, "193.109.122.67:6667 listed"},
		{`#session [data-role=dst]`, "69.143.202.28:3072"},
		{`#session [data-field=src-packets]`, "1"},
		{`#session [data-field=dst-packets]`, "1"},
		{`#session [data-field=src-flag-counts]`, "synack=1"},
		{`#session [data-field=dst-flag-counts]`, "rst=1"},
		{`#session [data-field=label]`, "backscatter"},
		{`#session [data-field=label-note]`, "answered by RST"},
		{`#session [data-field=conn-state]`, "RSTO"},
		{`#session [data-field=history]`, "^hR"},
		{`#packet-pane`, "IPVer=4 hlen=5 tos=0 dlen=40 ID=3511 flags=2 offset=0 ttl=64 chksum=57788\nProtocol: 6 sport=3072 -> dport=6667\n\nSeq=3147110731 Ack=0 Off=5 Res=0 Flags=*****R** Win=0 urp=0 chksum=27032\nPayload:\nNone."},
	} {
		if got := text(t, ctx, c.sel); got != c.want {
			t.Errorf("%s: %q, want %q", c.sel, got, c.want)
		}
	}
	// The backscatter seed's session query: both sessions of the listed
	// server, two hours apart.
	shown := eval[[]string](t, ctx, `[...document.querySelectorAll('#host-sessions tbody tr[data-flow-id]')].map(r => r.cells[2].textContent + ' -> ' + r.cells[3].textContent)`)
	if want := []string{"193.109.122.67:6667 -> 69.143.202.28:1024", "193.109.122.67:6667 -> 69.143.202.28:3072"}; !equal(shown, want) {
		t.Errorf("host sessions %v, want %v", shown, want)
	}
	// Full content: the SYN-ACK that raised no alert, then the RST.
	pkts := eval[[]string](t, ctx, `[...document.querySelectorAll('#content pre.pkt')].map(p => p.textContent)`)
	if len(pkts) != 2 || !strings.Contains(pkts[0], "193.109.122.67.6667 > 69.143.202.28.3072: Flags [S.], cksum 0x91c1 (correct), seq 1675521002, ack 3147110731, win 2048, length 0") ||
		!strings.Contains(pkts[1], "69.143.202.28.3072 > 193.109.122.67.6667: Flags [R], cksum 0x6998 (correct), seq 3147110731, win 0, length 0") ||
		!strings.Contains(pkts[1], "0x0000:  4500 0028 0db7 4000 4006 e1bc 458f ca1c  E..(..@.@...E...") {
		t.Errorf("packets:\n%s", strings.Join(pkts, "\n"))
	}
	screenshot(t, ctx, "console-alert.png")

	// Download the pcap and read it with tcpdump: exactly the 2 packets.
	downloads := t.TempDir()
	done := make(chan string, 1)
	if err := chromedp.ListenBrowser(ctx, func(e any) {
		if e, ok := e.(*browser.EventDownloadProgress); ok && e.State == browser.DownloadProgressStateCompleted {
			select {
			case done <- e.FilePath:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	on := true
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads, EventsEnabled: &on,
	}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`#pcap-download`)))
	var file string
	select {
	case file = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("no download")
	}
	if got := filepath.Base(file); !regexp.MustCompile(`^alert-\d+\.pcap$`).MatchString(got) {
		t.Errorf("downloaded as %q, want alert-ID.pcap", got)
	}
	out, err := exec.Command("tcpdump", "-nn", "-r", file).Output()
	if err != nil {
		t.Fatalf("tcpdump -r %s: %v", file, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "193.109.122.67.6667 > 69.143.202.28.3072: Flags [S.]") ||
		!strings.Contains(lines[1], "69.143.202.28.3072 > 193.109.122.67.6667: Flags [R]") {
		t.Errorf("tcpdump read the download as:\n%s", out)
	}

	// The host page: its timeline (uPlot draws on a canvas) with both
	// alerts and both sessions.
	do(t, ctx, chromedp.Navigate(base+"/hosts/193.109.122.67"), chromedp.WaitVisible(chromedp.CSS(`#timeline .uplot canvas`)))
	if n := count(t, ctx, "#host-alerts tbody tr[data-alert-id]"); n != 2 {
		t.Errorf("host page: %d alerts, want 2", n)
	}
	if n := count(t, ctx, "#host-sessions tbody tr[data-flow-id]"); n != 2 {
		t.Errorf("host page: %d sessions, want 2", n)
	}
	legend := eval[[]string](t, ctx, `[...document.querySelectorAll('#timeline .u-legend .u-series th')].map(e => e.textContent.trim())`)
	if want := []string{"UTC", "alerts", "sessions: backscatter"}; !equal(legend, want) {
		t.Errorf("timeline legend %v, want %v", legend, want)
	}
	screenshot(t, ctx, "console-host.png")
	// A click on the first session's point opens it.
	over := eval[[]float64](t, ctx, `(() => { const r = document.querySelector('#timeline .u-over').getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
	first, last := 1174413859.731091, 1174421834.402455 // the sessions' first and the alerts' last point
	pad := max(60, (last-first)*0.05)                   // as console.js pads the time axis
	x := over[0] + over[2]*pad/(last-first+2*pad)
	y := over[1] + over[3]*(2.6-1)/(2.6-0.4) // lane 1 of the y range 0.4-2.6
	do(t, ctx, chromedp.MouseClickXY(x, y), chromedp.WaitVisible(chromedp.CSS(`.session .directions`)))
	firstSession := srv.Index().HostSessions(netip.MustParseAddr("193.109.122.67"), time.Time{}, time.Time{})[0].Flow.FlowID
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, fmt.Sprintf("/flows/%d", firstSession)) {
		t.Errorf("a click on the timeline's first session went to %s", loc)
	}

	// The XSS probe's data packet: message and payload as text, nothing run.
	probe := srv.Index().HostAlerts(netip.MustParseAddr(xssServer), time.Time{}, time.Time{})
	if len(probe) != 2 {
		t.Fatalf("%d probe alerts, want 2", len(probe))
	}
	do(t, ctx, chromedp.Navigate(fmt.Sprintf("%s/alerts/%d", base, probe[1].ID)), chromedp.WaitVisible(chromedp.CSS(`#content`)))
	title := eval[string](t, ctx, `document.title`)
	xss := eval[bool](t, ctx, `window.__xss === 1`)
	scripts := eval[int](t, ctx, `document.scripts.length`)
	if title != "[1:9000001:1] "+xssMsg+" — xdpsensor console" || xss || scripts != 1 {
		t.Errorf("the probe ran: title %q, __xss %v, %d script elements", title, xss, scripts)
	}
	if got := text(t, ctx, "#signature"); got != xssMsg {
		t.Errorf("signature %q, want %q", got, xssMsg)
	}
	if got := text(t, ctx, "#packet-pane"); !strings.Contains(got, "/?q=<script>") || !strings.Contains(got, "window.__xss=1</") {
		t.Errorf("the payload is not shown as text:\n%s", got)
	}
	hex := eval[[]string](t, ctx, `[...document.querySelectorAll('#content pre.pkt .hex')].map(e => e.textContent)`)
	if len(hex) != 2 || !strings.Contains(hex[1], "<script>window.") {
		t.Errorf("payload hex dump:\n%s", strings.Join(hex, "\n"))
	}

	if ev := events.take(); len(ev) > 0 {
		t.Errorf("the pages reported:\n%s", strings.Join(ev, "\n"))
	}
	t.Logf("replay, console and browser: %s", time.Since(start).Round(time.Millisecond))
}

// statsEvents are EVE stats events as Suricata writes them (counters
// nested by dotted name), 10 s apart.
var statsEvents = []string{
	`{"timestamp":"2007-03-22T09:00:10.000000+0000","event_type":"stats","stats":{"uptime":10,"decoder":{"pkts":1000},"xdpsensor":{"alerts":5,"lost_events":0,"capture_lost":0,"blocklist_generation":4}}}`,
	`{"timestamp":"2007-03-22T09:00:20.000000+0000","event_type":"stats","stats":{"uptime":20,"decoder":{"pkts":3000},"xdpsensor":{"alerts":5,"lost_events":0,"capture_lost":2,"blocklist_generation":4}}}`,
}

// appendLines appends lines to eve.json, as the sensor does.
func appendLines(t *testing.T, dir string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "eve.json"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
}

// appendAlert appends to eve.json, as a running sensor would, another
// alert of the bot C&C host's rule, three minutes after its first.
func appendAlert(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "eve.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var first string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, `"event_type":"alert"`) && strings.Contains(l, `"src_ip":"192.168.0.31"`) {
			first = l
			break
		}
	}
	if first == "" {
		t.Fatal("no bot C&C alert in eve.json")
	}
	line := regexp.MustCompile(`"timestamp":"[^"]*"`).ReplaceAllString(first, `"timestamp":"2007-02-21T10:20:00.000000+0000"`)
	line = regexp.MustCompile(`"xdpsensor_alert_id":\d+`).ReplaceAllString(line, `"xdpsensor_alert_id":77`)
	line = regexp.MustCompile(`"flow_id":\d+`).ReplaceAllString(line, `"flow_id":78`)
	appendLines(t, dir, line)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

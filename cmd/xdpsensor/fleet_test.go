package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/fleet"
	"github.com/xdpsensor/xdpsensor/userspace/fleet/fleettest"
)

// `blocklist publish` validates like `blocklist load` (the same
// file:line problems) and publishes nothing on error; a good set becomes
// the bucket's manifest.
func TestBlocklistPublishCommand(t *testing.T) {
	srv := fleettest.Start(t)
	dir := t.TempDir()
	bucket := fmt.Sprintf("cli-bl-%d", os.Getpid())
	good := filepath.Join(dir, "lab.rules")
	os.WriteFile(good, []byte(`alert ip $HOME_NET any -> [203.0.113.66,203.0.113.67,2001:db8:3::66] any (msg:"cc"; classtype:trojan-activity; sid:9000001; rev:1;)`+"\n"), 0o644)
	bad := filepath.Join(dir, "drop.txt")
	os.WriteFile(bad, []byte("198.51.100.0/24\n203.0.113.300\n"), 0o644)

	_, loadErr := runCLI(t, "blocklist", "load", "--pin-dir", filepath.Join(dir, "nopin"), good, bad)
	_, pubErr := runCLI(t, "blocklist", "publish", "--nats", srv.URL(), "--nats-bucket", bucket, good, bad)
	if pubErr == nil || !strings.Contains(pubErr.Error(), bad+":2: ") {
		t.Fatalf("publish with a bad line: %v", pubErr)
	}
	problems := func(err error) string { _, p, _ := strings.Cut(err.Error(), "\n"); return p }
	if loadErr == nil || problems(pubErr) != problems(loadErr) {
		t.Errorf("publish says\n%v\nload says\n%v", pubErr, loadErr)
	}
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.KeyValue(ctx, bucket); err == nil {
		t.Fatal("a rejected publish created the bucket")
	}

	out, err := runCLI(t, "blocklist", "publish", "--nats", srv.URL(), "--nats-bucket", bucket, good)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^published kv revision 2 to bucket ` + bucket + `: 1 files, 1 rules, 2 IPv4 and 1 IPv6 addresses, 0 IPv4 and 0 IPv6 prefixes in \S+\n$`).MatchString(out) {
		t.Errorf("stdout %q", out)
	}
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "manifest")
	if err != nil {
		t.Fatal(err)
	}
	m, files, err := fleet.FetchBlocklist(ctx, kv, e)
	if err != nil || len(files) != 1 || files[0].Name != good || m.Format != "auto" || string(files[0].Data) != readFileT(t, good) {
		t.Errorf("manifest %+v, files %v, %v", m, files, err)
	}

	// And a bad line again, now that a version exists: it stays.
	if _, err := runCLI(t, "blocklist", "publish", "--nats", srv.URL(), "--nats-bucket", bucket, bad); err == nil {
		t.Fatal("published a bad file")
	}
	if e2, err := kv.Get(ctx, "manifest"); err != nil || e2.Revision() != e.Revision() {
		t.Errorf("after a rejected publish the manifest is at revision %v (%v), want %d", e2.Revision(), err, e.Revision())
	}
	if _, err := runCLI(t, "blocklist", "publish", good); err == nil || !strings.Contains(err.Error(), "--nats") {
		t.Errorf("publish without --nats: %v", err)
	}
}

func readFileT(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// `replay --nats` publishes what it writes; `fleet` lists the sensors
// from their stats events.
func TestReplayNATSAndFleetCommand(t *testing.T) {
	srv := fleettest.Start(t)
	dir := t.TempDir()
	stream := fmt.Sprintf("CLI_%d", os.Getpid())
	sensor := fmt.Sprintf("cli-%d.example.org", os.Getpid())
	out, err := runCLI(t, "replay", "-b", filepath.Join(testdata, "bleeding-botcc-group1.rules"), "-o", dir,
		"--nats", srv.URL(), "--nats-stream", stream, "--sensor-name", sensor, "--flow-table-size", "1024",
		filepath.Join(testdata, "bot-cc-syn.pcap"), filepath.Join(testdata, "backscatter.pcap"))
	if err != nil {
		t.Fatalf("%+v", err)
	}
	if want := "replayed 7 packets: 3 alerts, 3 flow records written to " + dir + "; 0 lost\n"; out != want {
		t.Fatalf("stdout %q", out)
	}
	msgs := fleettest.ReadStream(t, srv.URL(), stream, ">")
	token := strings.ReplaceAll(sensor, ".", "_")
	var alerts, flows, stats int
	for _, m := range msgs {
		switch m.Subject {
		case "xdpsensor." + token + ".alert":
			alerts++
		case "xdpsensor." + token + ".flow":
			flows++
		case "xdpsensor." + token + ".stats":
			stats++ // the one a replay ends with
		default:
			t.Errorf("subject %s", m.Subject)
		}
		if !strings.HasSuffix(m.Data, `"host":"`+sensor+`"}`) {
			t.Errorf("no host in %s", m.Data)
		}
	}
	if alerts != 3 || flows != 3 || stats != 1 {
		t.Errorf("%d alerts, %d flows and %d stats events in the stream, want 3, 3 and 1", alerts, flows, stats)
	}

	// Stats events of another sensor, built here to know their rates: two
	// ten seconds apart.
	hand := "hand-" + sensor
	p, err := fleet.NewPublisher(fleet.Config{Conn: fleet.ConnOptions{URL: srv.URL()}, SensorName: hand,
		Stream: fleet.StreamOptions{Name: stream}, SpoolDir: filepath.Join(dir, "stats-spool"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-10 * time.Second)
	p.WriteStats(&event.Stats{Time: t0, Counters: []event.Counter{{Name: "packets", Value: 100}, {Name: "capture_lost", Value: 0}}})
	p.WriteStats(&event.Stats{Time: t0.Add(10 * time.Second), Counters: []event.Counter{{Name: "packets", Value: 2100}, {Name: "capture_lost", Value: 3}}})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "fleet", "--nats", srv.URL(), "--nats-stream", stream)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	handLine := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(hand) + ` +\ds ago +local +200\.0 +- +- +0\.\d +capture_lost 3$`)
	replayLine := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sensor) + ` +\ds ago +local +`)
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "SENSOR ") || !handLine.MatchString(out) || !replayLine.MatchString(out) {
		t.Errorf("fleet output:\n%s", out)
	}
	out, err = runCLI(t, "fleet", "--nats", srv.URL(), "--nats-stream", stream, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var st fleet.SensorStatus
	jsonLines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if err := json.Unmarshal([]byte(jsonLines[0]), &st); err != nil || st.Sensor != hand || st.Counters["packets"] != 2100 || st.Rates["packets"] != 200 {
		t.Errorf("fleet --json %s (%v)", out, err)
	}
	if _, err := runCLI(t, "fleet", "--nats", srv.URL(), "--nats-stream", "NOSUCH"); err == nil || !strings.Contains(err.Error(), "no stream NOSUCH") {
		t.Errorf("fleet on a missing stream: %v", err)
	}
}

func TestNATSFlagErrors(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(testdata, "bot-cc-syn.pcap")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--nats-max-bytes", "lots"}, `--nats-max-bytes "lots"`},
		{[]string{"--nats-spool-size", "0"}, `--nats-spool-size "0"`},
		{[]string{"--nats-replicas", "7"}, "--nats-replicas 7"},
		{[]string{"--nats-tls-cert", "c.pem"}, "--nats-tls-cert and --nats-tls-key go together"},
	} {
		args := append([]string{"replay", "-o", dir, "--nats", "nats://127.0.0.1:1"}, c.args...)
		if _, err := runCLI(t, append(args, pcap)...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}

// The connection flags reach the server: a password server takes
// --nats-user/--nats-password and refuses a wrong password.
func TestNATSPassword(t *testing.T) {
	srv := fleettest.StartWithPassword(t, "sensor", "s3cret")
	list := filepath.Join(t.TempDir(), "list.txt")
	os.WriteFile(list, []byte("203.0.113.66\n"), 0o644)
	bucket := fmt.Sprintf("cli-auth-%d", os.Getpid())
	out, err := runCLI(t, "blocklist", "publish", "--nats", srv.URL(), "--nats-user", "sensor", "--nats-password", "s3cret", "--nats-bucket", bucket, list)
	if err != nil || !strings.HasPrefix(out, "published kv revision 2 to bucket "+bucket+": 1 files, 1 rules, 1 IPv4") {
		t.Fatalf("with the password: %q, %v", out, err)
	}
	_, err = runCLI(t, "blocklist", "publish", "--nats", srv.URL(), "--nats-user", "sensor", "--nats-password", "wrong", "--nats-bucket", bucket, list)
	if err == nil || !strings.Contains(err.Error(), "connecting to nats: nats: Authorization Violation") {
		t.Errorf("with a wrong password: %v", err)
	}
}

// --nats-tls-ca/cert/key reach the server: a TLS server that wants a
// client certificate takes ours and refuses a client without one.
func TestNATSTLS(t *testing.T) {
	srv, ca, cert, key := fleettest.StartWithTLS(t)
	list := filepath.Join(t.TempDir(), "list.txt")
	os.WriteFile(list, []byte("203.0.113.66\n"), 0o644)
	url := fmt.Sprintf("tls://127.0.0.1:%d", srv.Port)
	out, err := runCLI(t, "blocklist", "publish", "--nats", url, "--nats-tls-ca", ca, "--nats-tls-cert", cert, "--nats-tls-key", key, list)
	if err != nil || !strings.HasPrefix(out, "published kv revision 2 to bucket xdpsensor-blocklist: 1 files") {
		t.Fatalf("with a client certificate: %q, %v", out, err)
	}
	_, err = runCLI(t, "blocklist", "publish", "--nats", url, "--nats-tls-ca", ca, list)
	// TLS 1.3 tells the client late: the refusal or a reset, both "tls".
	if err == nil || !strings.HasPrefix(err.Error(), "connecting to nats: ") || !strings.Contains(err.Error(), "tls") {
		t.Errorf("without a client certificate: %v", err)
	}
}

// With NATS away and a spool too small for what a replay publishes, the
// events that did not fit are on the summary line, exactly: what was
// handed to the fleet (every alert, flow and the closing stats event)
// less what the spool holds.
func TestReplayNATSAwaySpoolFullIsOnTheSummary(t *testing.T) {
	dir := t.TempDir()
	out, err := runCLI(t, "replay", "-b", filepath.Join(testdata, "bleeding-botcc-group1.rules"), "-o", dir,
		"--nats", "nats://127.0.0.1:1", "--nats-spool-size", "2k", "--flow-table-size", "1024",
		filepath.Join(testdata, "bot-cc-syn.pcap"), filepath.Join(testdata, "backscatter.pcap"))
	if err != nil {
		t.Fatalf("%+v", err)
	}
	m := regexp.MustCompile(`^replayed 7 packets: (\d+) alerts, (\d+) flow records written to .*; lost: (\d+) events not in the fleet stream \(spool full; in the local outputs\)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("stdout %q", out)
	}
	var alerts, flows, dropped int
	fmt.Sscan(m[1]+" "+m[2]+" "+m[3], &alerts, &flows, &dropped)
	segments, err := filepath.Glob(filepath.Join(dir, "spool", "*.spool"))
	if err != nil || len(segments) == 0 {
		t.Fatalf("spool segments %v (%v)", segments, err)
	}
	spooled := 0
	for _, s := range segments {
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		spooled += strings.Count(string(data), "\n")
	}
	if handed := alerts + flows + 1; dropped != handed-spooled || dropped == 0 {
		t.Errorf("summary says %d events dropped; %d handed to the fleet, %d in the spool", dropped, handed, spooled)
	}
}

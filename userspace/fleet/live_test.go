package fleet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/fleet"
	"github.com/xdpsensor/xdpsensor/userspace/fleet/fleettest"
	"github.com/xdpsensor/xdpsensor/userspace/pipeline"
)

const labScript = "../../scripts/lab.sh"

// syncBuffer is a log destination the test reads while sensors write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// liveSensor is one sensor of the fleet on its own lab.
type liveSensor struct {
	lab, name, out, pin string
	metrics             string // host:port of its Prometheus metrics
	log                 syncBuffer
	done                chan error
	cancel              context.CancelFunc
	sum                 pipeline.Summary // what Live returned: set before done is sent
}

// stop ends the sensor (SIGTERM's path: flows written, the spool sent).
func (s *liveSensor) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("%s: %+v", s.name, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop within 30 s", s.name)
	}
}

// firstAlertFor polls eve.json for an alert to addr and returns when the
// test saw it.
func (s *liveSensor) firstAlertFor(t *testing.T, addr string, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		data, _ := os.ReadFile(filepath.Join(s.out, "eve.json"))
		for _, line := range strings.Split(string(data), "\n") {
			var rec struct {
				EventType string `json:"event_type"`
				DestIP    string `json:"dest_ip"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.EventType == "alert" && rec.DestIP == addr {
				return time.Now()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no alert for %s within %v", s.name, addr, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two live sensors, each on its own netns lab, publish to one server. A
// blocklist published to the fleet while inside hosts ping an address no
// sensor lists yet: both install it and alert within 1 s. The server is
// then killed for 10 s under that traffic, and a version published after
// its return is installed. At the end the stream holds each sensor's
// alerts and flows exactly as eve.json does: nothing missing, nothing
// twice.
func TestLiveFleet(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the live lab needs root (make test runs as root)")
	}
	srv := fleettest.Start(t)
	stream := "XS_" + strings.ReplaceAll(uniqueName(t, "live"), "-", "_")
	bucket := uniqueName(t, "live-bl")
	dir := t.TempDir()
	// At start each sensor lists the IRC server only, not the C&C.
	local := filepath.Join(dir, "irc.rules")
	os.WriteFile(local, []byte(`alert ip $HOME_NET any -> [203.0.113.67] any (msg:"XDPSENSOR LAB IRC server"; classtype:trojan-activity; sid:9000002; rev:1;)`+"\n"), 0o644)

	var sensors []*liveSensor
	for _, suffix := range []string{"a", "b"} {
		s := &liveSensor{lab: fmt.Sprintf("f%03d%s", os.Getpid()%1000, suffix), name: uniqueName(t, "live-"+suffix), done: make(chan error, 1)}
		s.out = filepath.Join(dir, suffix)
		s.metrics = fmt.Sprintf("127.0.0.1:%d", fleettest.FreePort(t))
		s.pin = "/sys/fs/bpf/xdpsensor-fleet-test-" + s.lab
		t.Cleanup(func() { exec.Command(labScript, "down", s.lab).Run() })
		t.Cleanup(func() { loader.Unpin(s.pin) })
		out, err := exec.Command(labScript, "up", s.lab).Output()
		if err != nil {
			t.Fatalf("lab.sh up %s: %v", s.lab, err)
		}
		span := regexp.MustCompile(`(?m)^span_iface=(\S+)$`).FindSubmatch(out)
		if span == nil {
			t.Fatalf("lab.sh up: no span_iface in %s", out)
		}
		sensors = append(sensors, s)
		ready := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		go func() {
			sum, err := pipeline.Live(ctx, pipeline.LiveConfig{
				Config: pipeline.Config{
					Blocklists: []string{local}, OutDir: s.out, SensorName: s.name, FlowTableSize: 4096, RingSize: 1 << 20,
					HomeNet: "[192.0.2.0/24,2001:db8:1::/64]",
					// Every ping alerts (Snort 2's way), so the outage
					// has a stream of events to keep.
					AlertEveryPacket: true,
					Logger:           slog.New(slog.NewTextHandler(&s.log, nil)),
					Fleet: &fleet.Config{Conn: fleet.ConnOptions{URL: srv.URL()}, Bucket: bucket,
						Stream: fleet.StreamOptions{Name: stream}},
				},
				Interfaces: []string{string(span[1])}, MonitorPort: true, PinDir: s.pin,
				MetricsAddr: s.metrics,
				Ready:       func() { close(ready) },
			})
			s.sum = sum
			s.done <- err
			close(s.done)
		}()
		t.Cleanup(func() {
			cancel()
			select {
			case <-s.done:
			case <-time.After(30 * time.Second):
			}
		})
		select {
		case <-ready:
		case err := <-s.done:
			t.Fatalf("%s: %+v\n%s", s.name, err, s.log.String())
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: not attached after 20 s", s.name)
		}
		// Watching the (empty) bucket: nothing installed from it yet.
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(s.log.String(), "fleet blocklist: watching") {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not watching the bucket:\n%s", s.name, s.log.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// Inside hosts ping the C&C every 20 ms for 16 s (-w: the C&C never
	// answers, and ping would wait for it): not listed yet.
	var pings sync.WaitGroup
	for _, s := range sensors {
		pings.Add(1)
		go func() {
			defer pings.Done()
			exec.Command("nsenter", "--net=/run/netns/xs-"+s.lab+"-in", "ping", "-n", "-q", "-w", "16", "-i", "0.02", "203.0.113.66").Run()
		}()
	}
	time.Sleep(500 * time.Millisecond)
	for _, s := range sensors {
		if strings.Contains(readFile(t, filepath.Join(s.out, "eve.json")), `"dest_ip":"203.0.113.66"`) {
			t.Fatalf("%s alerted on the C&C before it was listed", s.name)
		}
	}

	// The fleet's new list: the lab's rule, C&C included.
	rules, err := exec.Command(labScript, "blocklist", sensors[0].lab).Output()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	published := time.Now()
	rev, err := fleet.PublishBlocklist(context.Background(), nc, []blocklist.Input{{Name: "lab.rules", Data: rules}},
		fleet.PublishOptions{Bucket: bucket, Publisher: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sensors {
		seen := s.firstAlertFor(t, "203.0.113.66", 3*time.Second)
		t.Logf("%s: first alert for the newly listed C&C %v after the publish", s.name, seen.Sub(published).Round(time.Millisecond))
		if seen.Sub(published) > time.Second {
			t.Errorf("%s alerted %v after the publish, want within 1 s", s.name, seen.Sub(published))
		}
		if want := fmt.Sprintf(`msg="fleet blocklist installed" source="kv revision %d"`, rev); !strings.Contains(s.log.String(), want) {
			t.Errorf("%s: the log lacks %s:\n%s", s.name, want, s.log.String())
		}
		// And its metrics.
		resp, err := http.Get("http://" + s.metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{fmt.Sprintf("xdpsensor_fleet_blocklist_revision %d\n", rev), "xdpsensor_fleet_connected 1\n",
			"xdpsensor_fleet_spool_dropped_total 0\n", "xdpsensor_fleet_blocklist_installs_total 1\n"} {
			if !strings.Contains(string(body), want) {
				t.Errorf("%s: metrics lack %q", s.name, want)
			}
		}
	}
	for _, s := range sensors {
		// The kernel holds the fleet's list: the rule's four addresses.
		maps, err := loader.OpenPinned(s.pin)
		if err != nil {
			t.Fatal(err)
		}
		bl, err := blocklistmaps.New(maps, s.pin)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := bl.Snapshot()
		maps.Close()
		if err != nil || len(snap.Entries) != 4 {
			t.Errorf("%s: the kernel lists %d entries (%v), want the lab rule's 4", s.name, len(snap.Entries), err)
		}
	}

	// The server goes away for 10 s while the pings go on: eve.json keeps
	// growing, the spool holds what cannot be sent.
	srv.Kill()
	alertsAt := func(s *liveSensor) int {
		return strings.Count(readFile(t, filepath.Join(s.out, "eve.json")), `"event_type":"alert"`)
	}
	before := []int{alertsAt(sensors[0]), alertsAt(sensors[1])}
	time.Sleep(10 * time.Second)
	for i, s := range sensors {
		if n := alertsAt(s); n < before[i]+200 {
			t.Errorf("%s wrote %d alerts during the outage, want the pings' (~500)", s.name, n-before[i])
		}
	}
	srv.Restart(t)

	// The watchers notice the return and follow a version published now.
	nc2, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	more := append(append([]byte(nil), rules...), `alert ip $HOME_NET any -> [198.51.100.99] any (msg:"XDPSENSOR LAB new C&C"; classtype:trojan-activity; sid:9000003; rev:1;)`+"\n"...)
	rev3, err := fleet.PublishBlocklist(context.Background(), nc2, []blocklist.Input{{Name: "lab.rules", Data: more}},
		fleet.PublishOptions{Bucket: bucket, Publisher: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sensors {
		want := fmt.Sprintf(`msg="fleet blocklist installed" source="kv revision %d"`, rev3)
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(s.log.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not install revision %d within 5 s of the server's return:\n%s", s.name, rev3, s.log.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	pings.Wait()

	for _, s := range sensors {
		s.stop(t)
	}
	for _, s := range sensors {
		// What the pipeline handed its sinks (the Summary Live returned),
		// not a count of eve.json: both eve.json and the stream must hold
		// exactly that many.
		alerts, flows := int(s.sum.Alerts), int(s.sum.Flows)
		if alerts == 0 || flows == 0 {
			t.Fatalf("%s wrote %d alerts and %d flows", s.name, alerts, flows)
		}
		checkSameEvents(t, srv.URL(), stream, s.name, s.out, alerts, flows)
		t.Logf("%s: the pipeline wrote %d alerts and %d flow records", s.name, alerts, flows)
	}

}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(data)
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runSessions runs `xdpsensor sessions args...` on a root command of its
// own, so the test does not depend on where the command is registered.
func runSessions(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := &cobra.Command{Use: "xdpsensor", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newSessionsCommand(&globalFlags{}))
	var out, errOut bytes.Buffer
	root.SetArgs(append([]string{"sessions"}, args...))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

// sessionsDir is a sensor output directory holding the sessions
// package's test eve.json: the backscatter seed's two sessions among
// others, and a line cut short.
func sessionsDir(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "userspace", "sessions", "testdata", "eve.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "eve.json"), data, 0o640); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSessionsCommandBackscatterSeed(t *testing.T) {
	dir := sessionsDir(t)
	out, errOut, err := runSessions(t, "--dir", dir, "--host", "193.109.122.67", "--label", "backscatter")
	if err != nil {
		t.Fatalf("%+v", err)
	}
	want := `------------------------------------------------------------------------
Sensor:cel433 Session ID:5044069116374886360
Start Time:2007-03-20 18:04:19 End Time:2007-03-20 18:04:19
193.109.122.67:6667 -> 69.143.202.28:1024
Source Packets:1 Bytes:0
Dest Packets:1 Bytes:0
Source Flags:***A**S* ACK SYN (synack=1)
Dest Flags:*****R** RST (rst=1)
Label: backscatter (answered by RST)
------------------------------------------------------------------------
Sensor:cel433 Session ID:5044103368738397945
Start Time:2007-03-20 20:17:14 End Time:2007-03-20 20:17:14
193.109.122.67:6667 -> 69.143.202.28:3072
Source Packets:1 Bytes:0
Dest Packets:1 Bytes:0
Source Flags:***A**S* ACK SYN (synack=1)
Dest Flags:*****R** RST (rst=1)
Label: backscatter (answered by RST)
`
	if out != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
	if wantErr := "xdpsensor: skipped 1 unreadable line(s) of " + filepath.Join(dir, "eve.json") + "\n"; errOut != wantErr {
		t.Errorf("stderr %q, want %q", errOut, wantErr)
	}
}

func TestSessionsCommandFilters(t *testing.T) {
	dir := sessionsDir(t)
	host, _ := os.Hostname()
	count := func(out string) int { return strings.Count(out, "Session ID:") }

	out, _, err := runSessions(t, "--dir", dir)
	if err != nil || count(out) != 6 {
		t.Fatalf("all: %v, %d sessions\n%s", err, count(out), out)
	}
	// The bot's record has no host field: the machine's name stands in.
	if !strings.HasPrefix(out, "------------------------------------------------------------------------\nSensor:"+host+" Session ID:1159843557329870\n") {
		t.Errorf("first session:\n%s", out)
	}
	out, _, err = runSessions(t, "--dir", dir, "--label", "cc-unanswered")
	if err != nil || count(out) != 2 || !strings.Contains(out, "Label: cc-unanswered (3 SYNs)\n") {
		t.Errorf("--label cc-unanswered: %v\n%s", err, out)
	}
	out, _, err = runSessions(t, "--dir", dir, "--since", "2007-03-20 20:00:00", "--host", "69.143.202.0/24")
	if err != nil || count(out) != 2 || !strings.Contains(out, "Session ID:5044103368738397945\n") || !strings.Contains(out, "Session ID:9002\n") {
		t.Errorf("--since --host: %v\n%s", err, out)
	}
	out, _, err = runSessions(t, "--dir", dir, "--since", "1h")
	if err != nil || out != "" {
		t.Errorf("--since 1h (all sessions are from 2007): %v\n%s", err, out)
	}
	out, _, err = runSessions(t, "--dir", dir, "--host", "2001:db8:bad::66")
	if err != nil || count(out) != 1 || !strings.Contains(out, "[2001:db8:1::10]:51000 -> [2001:db8:bad::66]:443\n") {
		t.Errorf("--host IPv6: %v\n%s", err, out)
	}
}

func TestSessionsCommandJSON(t *testing.T) {
	out, _, err := runSessions(t, "--dir", sessionsDir(t), "--json", "--label", "backscatter")
	if err != nil {
		t.Fatalf("%+v", err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for i, id := range []uint64{5044069116374886360, 5044103368738397945} {
		var s struct {
			Sensor    string `json:"sensor"`
			SessionID uint64 `json:"session_id"`
			SrcFlags  string `json:"src_flags"`
			DstFlags  string `json:"dst_flags"`
			SrcBytes  uint64 `json:"src_bytes"`
			Label     string `json:"label"`
			Note      string `json:"label_note"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &s); err != nil {
			t.Fatal(err)
		}
		if s.Sensor != "cel433" || s.SessionID != id || s.SrcFlags != "***A**S*" || s.DstFlags != "*****R**" || s.SrcBytes != 0 || s.Label != "backscatter" || s.Note != "answered by RST" {
			t.Errorf("line %d: %+v", i, s)
		}
	}
}

func TestSessionsCommandErrors(t *testing.T) {
	dir := sessionsDir(t)
	empty := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--dir", empty}, "no sensor output in " + empty + ": " + filepath.Join(empty, "eve.json") + " does not exist"},
		{[]string{"--dir", dir, "--host", "193.109.122"}, `--host "193.109.122": want an address or a CIDR prefix`},
		{[]string{"--dir", dir, "--since", "yesterday"}, `--since "yesterday": want a time like`},
		{[]string{"--dir", dir, "--label", "evil"}, `--label "evil": want one of backscatter, cc-unanswered, cc-rejected, cc-accepted, cc-established, listed-inbound`},
		{[]string{"--dir", dir, "extra"}, `unknown command "extra"`},
	} {
		_, _, err := runSessions(t, c.args...)
		if err == nil || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("%v: error %v, want it to mention %q", c.args, err, c.want)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "eve.json"), 0); err == nil && os.Geteuid() != 0 {
		if _, _, err := runSessions(t, "--dir", dir); err == nil {
			t.Error("unreadable eve.json read")
		}
	}
}

// TestSessionsAfterReplay: replay --out DIR, then sessions --dir DIR shows
// the seeds' sessions with their labels.
func TestSessionsAfterReplay(t *testing.T) {
	dir := t.TempDir()
	if _, err := runCLI(t, "replay", "-b", filepath.Join(testdata, "bleeding-botcc-group1.rules"), "-o", dir,
		"--flow-table-size", "1024", filepath.Join(testdata, "bot-cc-syn.pcap"), filepath.Join(testdata, "backscatter.pcap")); err != nil {
		t.Fatalf("replay: %v", err)
	}
	out, errOut, err := runSessions(t, "--dir", dir)
	if err != nil || errOut != "" {
		t.Fatalf("%v %s", err, errOut)
	}
	for _, want := range []string{
		"192.168.0.31:2253 -> 161.53.178.240:6667\nSource Packets:3 Bytes:0\nDest Packets:0 Bytes:0\nSource Flags:******S* SYN (syn=3)\nDest Flags:******** none\nLabel: cc-unanswered (3 SYNs)\n",
		"Source Flags:***A**S* ACK SYN (synack=1)\nDest Flags:*****R** RST (rst=1)\nLabel: backscatter (answered by RST)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing\n%s\nin\n%s", want, out)
		}
	}
	if n := strings.Count(out, "Label: backscatter (answered by RST)\n"); n != 2 {
		t.Errorf("%d backscatter sessions, want 2\n%s", n, out)
	}
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// toyTree is a small command tree with every kind of flag the real one has.
type toyValues struct {
	pinDir, logLevel string
	iface            []string
	monitor          bool
	timeout          time.Duration
	ring             uint32
	out              string
	replayOut        string
	replayRing       uint32
	format           string
	ran              string
}

func toyTree(v *toyValues) *cobra.Command {
	root := &cobra.Command{Use: "toy", SilenceUsage: true, SilenceErrors: true}
	root.PersistentFlags().StringVar(&v.pinDir, "pin-dir", "/sys/fs/bpf/xdpsensor", "")
	root.PersistentFlags().StringVar(&v.logLevel, "log-level", "info", "")
	run := &cobra.Command{Use: "run", RunE: func(*cobra.Command, []string) error { v.ran = "run"; return nil }}
	run.Flags().StringArrayVarP(&v.iface, "iface", "i", nil, "")
	run.Flags().BoolVar(&v.monitor, "monitor-port", false, "")
	run.Flags().DurationVar(&v.timeout, "flow-timeout", 2*time.Minute, "")
	run.Flags().Uint32Var(&v.ring, "ring-size", 1<<24, "")
	run.Flags().StringVarP(&v.out, "out", "o", "/var/log/xdpsensor", "")
	replay := &cobra.Command{Use: "replay", RunE: func(*cobra.Command, []string) error { v.ran = "replay"; return nil }}
	replay.Flags().StringVarP(&v.replayOut, "out", "o", "xdpsensor-out", "")
	replay.Flags().Uint32Var(&v.replayRing, "ring-size", 1<<24, "")
	_ = replay.Flags().Set("ring-size", "4194304") // a constructor's default, as replay.go does
	group := &cobra.Command{Use: "blocklist"}
	load := &cobra.Command{Use: "load", RunE: func(*cobra.Command, []string) error { v.ran = "load"; return nil }}
	load.Flags().StringVar(&v.format, "format", "auto", "")
	group.AddCommand(load)
	root.AddCommand(run, replay, group)
	addConfigFlag(root)
	addConfigFlag(root) // twice: harmless
	return root
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "xdpsensor.yaml")
	if err := os.WriteFile(p, []byte(strings.TrimLeft(text, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runToy(t *testing.T, args ...string) (*toyValues, error) {
	t.Helper()
	v := &toyValues{}
	root := toyTree(v)
	root.SetArgs(args)
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	return v, root.ExecuteContext(context.Background())
}

const toyConfig = `
pin-dir: /sys/fs/bpf/top
iface: [top0]
out: /top/out
run:
  iface:
    - eth1
    - eth2
  monitor-port: true
  flow-timeout: 90s
  log-level: debug
replay:
  ring-size: 1048576
blocklist:
  load:
    format: snort
`

func TestConfigApplies(t *testing.T) {
	cfg := writeConfig(t, toyConfig)
	v, err := runToy(t, "run", "--config", cfg)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	got := fmt.Sprintf("%s %s %v %v %s %d %s", v.pinDir, v.logLevel, v.iface, v.monitor, v.timeout, v.ring, v.out)
	// The section wins over the top level; unset flags keep defaults.
	if want := "/sys/fs/bpf/top debug [eth1 eth2] true 1m30s 16777216 /top/out"; got != want || v.ran != "run" {
		t.Errorf("run: %s, want %s", got, want)
	}

	// The command line wins over both; a repeated flag replaces the list.
	v, err = runToy(t, "run", "--config", cfg, "-i", "cli0", "--flow-timeout", "5s", "--pin-dir", "/sys/fs/bpf/cli", "-o", "/cli")
	if err != nil {
		t.Fatalf("%+v", err)
	}
	got = fmt.Sprintf("%s %v %s %s %v", v.pinDir, v.iface, v.timeout, v.out, v.monitor)
	if want := "/sys/fs/bpf/cli [cli0] 5s /cli true"; got != want {
		t.Errorf("run with flags: %s, want %s", got, want)
	}

	// Explicitly false on the command line beats true in the file.
	if v, err = runToy(t, "run", "--config", cfg, "--monitor-port=false"); err != nil || v.monitor {
		t.Errorf("--monitor-port=false: %v, monitor %v", err, v.monitor)
	}

	// A constructor's Set is a default, not a command-line flag.
	v, err = runToy(t, "replay", "--config", cfg)
	if err != nil || v.replayRing != 1<<20 || v.replayOut != "/top/out" || v.logLevel != "info" {
		t.Errorf("replay: %v ring %d out %s log %s", err, v.replayRing, v.replayOut, v.logLevel)
	}
	if v, err = runToy(t, "replay"); err != nil || v.replayRing != 4194304 {
		t.Errorf("replay without config: %v ring %d", err, v.replayRing)
	}

	// Nested sections.
	if v, err = runToy(t, "blocklist", "load", "--config", cfg); err != nil || v.format != "snort" || v.pinDir != "/sys/fs/bpf/top" {
		t.Errorf("blocklist load: %v format %s pin %s", err, v.format, v.pinDir)
	}

	// A scalar for a repeatable flag, and an empty file.
	if v, err = runToy(t, "run", "--config", writeConfig(t, "iface: eth9\n")); err != nil || fmt.Sprint(v.iface) != "[eth9]" {
		t.Errorf("scalar iface: %v %v", err, v.iface)
	}
	if v, err = runToy(t, "run", "--config", writeConfig(t, "# nothing\n")); err != nil || v.timeout != 2*time.Minute {
		t.Errorf("empty file: %v %v", err, v.timeout)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		text string
		want string // after "PATH:"
	}{
		{"pin-dir: /x\nifaces: [eth1]\n", `2: unknown setting "ifaces" (did you mean "iface"?)`},
		{"run:\n  iface: [eth1]\n  flow-timout: 10s\n", `3: run: unknown setting "flow-timout" (did you mean "flow-timeout"?)`},
		{"replay:\n  monitor-port: true\n", `2: replay: unknown setting "monitor-port"`},
		{"blocklist:\n  lod:\n    format: snort\n", `2: blocklist: unknown setting "lod" (did you mean "load"?)`},
		{"zzzzzz: 1\n", `1: unknown setting "zzzzzz"`},
		{"run:\n  i: eth1\n", `2: run: unknown setting "i": use the long name "iface"`},
		{"run:\n  flow-timeout: 120\n", `2: bad value "120" for flow-timeout (want a duration like 120s or 5m): time: missing unit in duration "120"`},
		{"run:\n  monitor-port: yes\n", `2: bad value "yes" for monitor-port (want true or false)`},
		{"run:\n  ring-size: -1\n", `2: bad value "-1" for ring-size (want a whole number)`},
		{"run:\n  out: [a, b]\n", `2: out: want one value (a string), not a list`},
		{"run:\n  iface: {a: b}\n", `2: iface: want a string or a list of strings, not a mapping`},
		{"run:\n  iface:\n", `2: iface: no value`},
		{"run:\n  iface: [eth1]\n  iface: [eth2]\n", `3: run: "iface" is set twice (first at line 2)`},
		{"config: /etc/other.yaml\n", `1: "config" cannot be set in the configuration file`},
		{"- iface\n", `1: want settings (key: value lines), not a list`},
		{"run: true\n", `1: "run" is a command: its settings go in a mapping under it`},
		{"run:\n  iface: [eth1\n", `1: did not find expected ',' or ']'`},
	}
	for _, c := range cases {
		cfg := writeConfig(t, c.text)
		_, err := runToy(t, "run", "--config", cfg)
		if err == nil || !strings.HasPrefix(err.Error(), cfg+":"+c.want) {
			t.Errorf("%q: error %v, want %s:%s", c.text, err, cfg, c.want)
		}
	}
	if _, err := runToy(t, "run", "--config", "/nonexistent/xdpsensor.yaml"); err == nil || !strings.Contains(err.Error(), "/nonexistent/xdpsensor.yaml: no such file") {
		t.Errorf("missing file: %v", err)
	}
	// Without --config no file is read.
	if _, err := runToy(t, "run"); err != nil {
		t.Errorf("no --config: %v", err)
	}
}

// The sample installed to /etc/xdpsensor fits the real command tree.
func TestSampleConfig(t *testing.T) {
	sample := "../../scripts/xdpsensor.yaml"
	root := newRootCommand()
	addConfigFlag(root)
	run, _, err := root.Find([]string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	if err := run.ParseFlags(nil); err != nil { // merges the persistent flags
		t.Fatal(err)
	}
	if err := applyConfig(root, run, sample); err != nil {
		t.Fatalf("%+v", err)
	}
	for flag, want := range map[string]string{
		"iface": "[eth1]", "monitor-port": "true", "flow-timeout": "2m0s", "out": "/var/log/xdpsensor",
		"blocklist": "[/etc/xdpsensor/botcc.rules]", "pin-dir": "/sys/fs/bpf/xdpsensor", "ring-size": "16777216",
	} {
		if got := run.Flags().Lookup(flag).Value.String(); got != want {
			t.Errorf("--%s = %s, want %s", flag, got, want)
		}
	}
}

// The real CLI: replay takes its outputs from the config's section.
func TestConfigRealCLI(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf(`
pin-dir: %s
replay:
  out: %s
  flow-table-size: 1024
  blocklist: [%s]
`, filepath.Join(dir, "nothing"), dir, filepath.Join(testdata, "bleeding-botcc-group1.rules")))
	run := func(args ...string) (string, error) {
		root := newRootCommand()
		addConfigFlag(root)
		var out bytes.Buffer
		root.SetArgs(args)
		root.SetOut(&out)
		root.SetErr(&bytes.Buffer{})
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}
	out, err := run("replay", "--config", cfg, filepath.Join(testdata, "bot-cc-syn.pcap"))
	if err != nil {
		t.Fatalf("%+v", err)
	}
	if want := "1 alerts, 1 flow records written to " + dir + "; 0 lost\n"; !strings.HasSuffix(out, want) {
		t.Errorf("replay: %q, want ...%q", out, want)
	}
	// stats finds the sensor where the file's top level says.
	if _, err := run("stats", "--config", cfg); err == nil || !strings.Contains(err.Error(), "no sensor maps are pinned under "+filepath.Join(dir, "nothing")) {
		t.Errorf("stats: %v", err)
	}
}

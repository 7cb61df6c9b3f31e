package loader

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
)

// What an operator sees: bpftool (Debian's package) dumps every pinned map
// with named fields.
func TestBpftoolShowsFieldNames(t *testing.T) {
	if _, err := exec.LookPath("bpftool"); err != nil {
		t.Fatal("bpftool is not installed (make test installs Debian's bpftool)")
	}
	pin := fmt.Sprintf("/sys/fs/bpf/xdpsensor-bpftool-%d", os.Getpid())
	t.Cleanup(func() { Unpin(pin) })
	s, err := Load(Config{PinDir: pin, FlowTableSize: 1024, RingSize: 1 << 16, ReplayClock: true})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	defer s.Close()
	h := &harness{t: t, s: s}
	list := simpleList(blocklist.ListedAsDst, blocklist.NetAny, "203.0.113.66", "2001:db8:3::66", "198.51.100.0/24", "2001:db8:4::/48")
	list.Rules[0].Threshold = &blocklist.Threshold{Type: "limit", Track: "by_src", Count: 1, Seconds: 60}
	bl, err := blocklistmaps.New(s.Maps(), s.Config.PinDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bl.Replace(list); err != nil {
		t.Fatal(err)
	}
	if err := blocklistmaps.SetNetVars(s.Maps(), blocklistmaps.NetVars{Home: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:1::/64")}, ExternalAny: true}); err != nil {
		t.Fatal(err)
	}
	h.runAt(synTo("203.0.113.66", 1000), 1)
	// The same flow three hours later: a long flow gets an extension.
	h.runAt(synTo("203.0.113.66", 1000), 3*3600*1_000_000_000)

	// Field paths each map's first formatted entry must have.
	want := map[string][]string{
		"stats":               {"value.packets", "value.tcp_packets", "value.alerts", "value.lost_events", "value.capture_lost", "value.malformed_tcp_doff"},
		"flows_v4":            {"key.addr_lo", "key.port_hi", "key.zone_proto", "value.first_seen_ns", "value.last_seen_us", "value.dir", "value.marks", "value.history", "value.state"},
		"flow_extras":         {"key.key", "key.first_seen_ns", "value.last_seen_ns", "value.dir", "value.history"},
		"daemon_counters":     {"value.flows_written", "value.output_records_lost", "value.flow_table_entries"},
		"rules":               {"value.gid", "value.sid", "value.rev", "value.msg", "value.classtype", "value.threshold_count", "value.source"},
		"config":              {"value.generation", "value.capture_mode", "value.slots"},
		"blocklist_v4":        {"key.octets", "value.rule_as_src", "value.rule_as_dst"},
		"blocklist_v6":        {"value.rule_as_dst"},
		"blocklist_prefix_v4": {"key.prefixlen", "key.addr", "value.rule_as_dst"},
		"blocklist_prefix_v6": {"key.prefixlen", "key.addr", "value.rule_as_dst"},
		"netvars_v4":          {"key.prefixlen", "key.addr"},
		"netvars_v6":          {"key.prefixlen", "key.addr"},
		"thresholds":          {"key.rule_id", "key.addr", "value.window_start_ns", "value.count"},
	}
	for name, paths := range want {
		out, err := exec.Command("bpftool", "-j", "map", "dump", "pinned", filepath.Join(pin, name)).Output()
		if err != nil {
			t.Errorf("bpftool map dump %s: %v", name, err)
			continue
		}
		var entries []struct {
			Formatted map[string]any `json:"formatted"`
			Values    []struct {
				Formatted map[string]any `json:"formatted"`
			} `json:"values"`
		}
		if err := json.Unmarshal(out, &entries); err != nil || len(entries) == 0 {
			t.Errorf("%s: %d entries, %v\n%s", name, len(entries), err, out)
			continue
		}
		f := entries[0].Formatted
		if f == nil {
			t.Errorf("%s: bpftool printed no formatted (BTF) view:\n%.300s", name, out)
			continue
		}
		fields := flatten("", f)
		for _, p := range paths {
			if !fields[p] {
				keys := make([]string, 0, len(fields))
				for k := range fields {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				t.Errorf("%s: no field %s among %s", name, p, strings.Join(keys, " "))
			}
		}
	}
	// Rings cannot be dumped, but bpftool shows them.
	for _, ring := range []string{"events", "capture"} {
		out, err := exec.Command("bpftool", "map", "show", "pinned", filepath.Join(pin, ring)).Output()
		if err != nil || !strings.Contains(string(out), "ringbuf  name "+ring) {
			t.Errorf("bpftool map show %s: %v %s", ring, err, out)
		}
	}
}

// flatten lists the dotted paths of nested objects (values per CPU sit
// under "values" for per-CPU maps).
func flatten(prefix string, m map[string]any) map[string]bool {
	out := map[string]bool{}
	for k, v := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		out[p] = true
		switch x := v.(type) {
		case map[string]any:
			for q := range flatten(p, x) {
				out[q] = true
			}
		case []any:
			for _, e := range x {
				if em, ok := e.(map[string]any); ok {
					for q := range flatten(p, em) {
						out[q] = true
					}
					// per-CPU values: {"cpu": 0, "value": {...}}
					if v, ok := em["value"].(map[string]any); ok {
						for q := range flatten(prefix+joinKey(prefix, "value"), v) {
							out[q] = true
						}
					}
				}
			}
		}
	}
	return out
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return "." + k
}

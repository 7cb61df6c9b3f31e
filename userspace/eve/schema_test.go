package eve

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// compileSchema compiles the JSON Schema at path, asserting formats and
// content encodings. Schemas without $schema are taken as draft 2020-12.
func compileSchema(t testing.TB, path string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.AssertContent()
	url := "file://" + filepath.ToSlash(abs)
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return sch
}

// suricataSchema compiles the schema named by $SURICATA_SCHEMA (Suricata's
// etc/schema.json), or returns nil when the variable is unset.
func suricataSchema(t testing.TB) *jsonschema.Schema {
	path := os.Getenv("SURICATA_SCHEMA")
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("SURICATA_SCHEMA: %v", err)
	}
	t.Logf("also validating against %s", path)
	return compileSchema(t, path)
}

// stripOwnFields removes what Suricata's schema does not know: members
// named xdpsensor_* at any depth.
func stripOwnFields(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, m := range v {
			if strings.HasPrefix(k, "xdpsensor_") {
				delete(v, k)
				continue
			}
			v[k] = stripOwnFields(m)
		}
	case []any:
		for i := range v {
			v[i] = stripOwnFields(v[i])
		}
	}
	return v
}

func decode(t testing.TB, line []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(line))
	if err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, line)
	}
	return v
}

// validate checks one EVE line: as we write it, with our own fields, the
// subset schema must reject it (they are not Suricata's); stripped of our own
// fields, the subset schema and Suricata's (when given) must accept it.
func validate(t *testing.T, subset, suricata *jsonschema.Schema, line []byte) {
	t.Helper()
	own := bytes.Contains(line, []byte(`"xdpsensor_`))
	if err := subset.Validate(decode(t, line)); own && err == nil {
		t.Errorf("subset schema accepts our own fields:\n%s", line)
	}
	doc := stripOwnFields(decode(t, line))
	if err := subset.Validate(doc); err != nil {
		t.Errorf("subset schema: %v\n%s", err, line)
	}
	if suricata != nil {
		if err := suricata.Validate(doc); err != nil {
			t.Errorf("Suricata's schema: %v\n%s", err, line)
		}
		if err := suricata.Validate(decode(t, line)); own && err == nil {
			t.Errorf("Suricata's schema accepts our own fields:\n%s", line)
		}
	}
}

func TestStripOwnFields(t *testing.T) {
	in := `{"a":1,"xdpsensor_x":2,"flow":{"b":3,"xdpsensor_y":[1]},"tcp":{"syn":true},"xdpsensor_flag_counts":{},"l":[{"xdpsensor_z":1,"c":2}]}`
	want := `{"a":1,"flow":{"b":3},"l":[{"c":2}],"tcp":{"syn":true}}`
	got := stripOwnFields(decode(t, []byte(in)))
	if s := mustJSON(t, got); s != want {
		t.Errorf("got %s, want %s", s, want)
	}
}

// TestSubsetSchemaRejects: the subset schema is as strict as Suricata's
// where Suricata's is closed, and checks our formats besides.
func TestSubsetSchemaRejects(t *testing.T) {
	subset := compileSchema(t, "testdata/eve-subset.schema.json")
	good := stripOwnFields(decode(t, AppendFlow(nil, seedFlow(), Options{})))
	if err := subset.Validate(good); err != nil {
		t.Fatal(err)
	}
	goodAlert := stripOwnFields(decode(t, AppendAlert(nil, seedAlert(), Options{})))
	if err := subset.Validate(goodAlert); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(m map[string]any){
		"unknown top-level field": func(m map[string]any) { m["sensor"] = "x" },
		"unknown flow field":      func(m map[string]any) { m["flow"].(map[string]any)["pkts"] = 1 },
		"unknown tcp field":       func(m map[string]any) { m["tcp"].(map[string]any)["flag_counts"] = map[string]any{} },
		"flow with a direction":   func(m map[string]any) { m["direction"] = "to_server" },
		"flow with pkt_src":       func(m map[string]any) { m["pkt_src"] = "wire/pcap" },
		"flow's flow with src_ip": func(m map[string]any) { m["flow"].(map[string]any)["src_ip"] = "192.0.2.1" },
		"unknown tcp state":       func(m map[string]any) { m["tcp"].(map[string]any)["state"] = "syn_received" },
		"timestamp in seconds":    func(m map[string]any) { m["timestamp"] = "2007-02-21T10:17:54+0000" },
		"timestamp not UTC":       func(m map[string]any) { m["timestamp"] = "2007-02-21T11:17:54.366236+0100" },
		"port as string":          func(m map[string]any) { m["src_port"] = "2253" },
		"flow_id as string":       func(m map[string]any) { m["flow_id"] = "1" },
		"upper-case tcp flags":    func(m map[string]any) { m["tcp"].(map[string]any)["tcp_flags"] = "1B" },
		"false tcp flag":          func(m map[string]any) { m["tcp"].(map[string]any)["fin"] = false },
		"bad address":             func(m map[string]any) { m["src_ip"] = "192.168.0.256" },
		"vlan empty":              func(m map[string]any) { m["vlan"] = []any{} },
		"unknown state":           func(m map[string]any) { m["flow"].(map[string]any)["state"] = "syn_sent" },
		"alert on a flow":         func(m map[string]any) { m["alert"] = goodAlert.(map[string]any)["alert"] },
		"one port only":           func(m map[string]any) { delete(m, "dest_port") },
		"no proto":                func(m map[string]any) { delete(m, "proto") },
	} {
		doc := stripOwnFields(decode(t, AppendFlow(nil, seedFlow(), Options{}))).(map[string]any)
		edit(doc)
		if err := subset.Validate(doc); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for name, edit := range map[string]func(m map[string]any){
		"unknown alert field": func(m map[string]any) { m["alert"].(map[string]any)["rule_id"] = 1 },
		"severity as string":  func(m map[string]any) { m["alert"].(map[string]any)["severity"] = "1" },
		"no category":         func(m map[string]any) { delete(m["alert"].(map[string]any), "category") },
		"packet not base64":   func(m map[string]any) { m["packet"] = "not base64!" },
		"packet without info": func(m map[string]any) { delete(m, "packet_info") },
		"bad community id":    func(m map[string]any) { m["community_id"] = "1:abc" },
		"no pkt_src":          func(m map[string]any) { delete(m, "pkt_src") },
		"direction, no flow":  func(m map[string]any) { delete(m, "flow") },
		"alert flow with end": func(m map[string]any) { m["flow"].(map[string]any)["end"] = m["timestamp"] },
		"alert flow, no src":  func(m map[string]any) { delete(m["flow"].(map[string]any), "src_ip") },
	} {
		doc := stripOwnFields(decode(t, AppendAlert(nil, seedAlert(), Options{}))).(map[string]any)
		edit(doc)
		if err := subset.Validate(doc); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

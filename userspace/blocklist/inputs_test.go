package blocklist_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
)

// LoadInputs of files' contents under their paths is Load of the files:
// the same rules, entries and warnings, and the same problems.
func TestLoadInputsIsLoad(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "botcc.rules")
	plain := filepath.Join(dir, "drop.txt")
	os.WriteFile(rules, []byte("alert ip $HOME_NET any -> [203.0.113.66,203.0.113.67] any (msg:\"cc\"; classtype:trojan-activity; sid:9000001; rev:1;)\n"), 0o644)
	os.WriteFile(plain, []byte("198.51.100.0/24\n203.0.113.66\n"), 0o644)
	inputs := func(paths ...string) []blocklist.Input {
		var in []blocklist.Input
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			in = append(in, blocklist.Input{Name: p, Data: data})
		}
		return in
	}
	want, err := blocklist.Load([]string{rules, plain}, blocklist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := blocklist.LoadInputs(inputs(rules, plain), blocklist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("LoadInputs\n%+v\nLoad\n%+v", got, want)
	}
	if len(got.Entries) != 4 || len(got.Warnings) != 1 {
		t.Fatalf("%d entries, warnings %q: want 4 and one", len(got.Entries), got.Warnings)
	}

	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("203.0.113.1\n203.0.113.999\n"), 0o644)
	_, wantErr := blocklist.Load([]string{plain, bad}, blocklist.Options{})
	_, gotErr := blocklist.LoadInputs(inputs(plain, bad), blocklist.Options{})
	if wantErr == nil || gotErr == nil || gotErr.Error() != wantErr.Error() {
		t.Fatalf("LoadInputs error %v, Load error %v", gotErr, wantErr)
	}
}

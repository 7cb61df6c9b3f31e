package classification_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/xdpsensor/xdpsensor/userspace/classification"
)

func TestStandard(t *testing.T) {
	std := classification.Standard()
	if std.Len() != 38 {
		t.Errorf("Standard has %d classes, want 38", std.Len())
	}
	tests := []classification.Class{
		{Name: "trojan-activity", Description: "A Network Trojan was detected", Priority: 1},
		{Name: "bad-unknown", Description: "Potentially Bad Traffic", Priority: 2},
		{Name: "attempted-recon", Description: "Attempted Information Leak", Priority: 2},
		{Name: "misc-activity", Description: "Misc activity", Priority: 3},
		{Name: "policy-violation", Description: "Potential Corporate Privacy Violation", Priority: 1},
		{Name: "tcp-connection", Description: "A TCP connection was detected", Priority: 4},
		{Name: "not-suspicious", Description: "Not Suspicious Traffic", Priority: 3},
		{Name: "web-application-activity", Description: "access to a potentially vulnerable web application", Priority: 2},
		{Name: "client-side-exploit", Description: "Known client side exploit attempt", Priority: 1},
	}
	for _, want := range tests {
		got, ok := std.Lookup(want.Name)
		if !ok || got != want {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v", want.Name, got, ok, want)
		}
	}
	if got, ok := std.Lookup("TROJAN-Activity"); !ok || got.Name != "trojan-activity" {
		t.Errorf("lookup is not case-insensitive: %+v %v", got, ok)
	}
	if _, ok := std.Lookup("trojan"); ok {
		t.Error("Lookup(trojan) found a class")
	}
	classes := std.Classes()
	if classes[0].Name != "not-suspicious" || classes[37].Name != "client-side-exploit" {
		t.Errorf("order: first %q last %q", classes[0].Name, classes[37].Name)
	}
	classes[0].Name = "mutated"
	if std.Classes()[0].Name != "not-suspicious" {
		t.Error("Classes must return a copy")
	}
	if classification.Standard() != std {
		t.Error("Standard must return the same table")
	}
	seen := map[string]bool{}
	for _, c := range std.Classes() {
		if seen[c.Name] || c.Description == "" || c.Priority < 1 || c.Priority > 4 {
			t.Errorf("bad standard class %+v", c)
		}
		seen[c.Name] = true
	}
}

func TestNilTable(t *testing.T) {
	var tab *classification.Table
	if _, ok := tab.Lookup("trojan-activity"); ok || tab.Len() != 0 || tab.Classes() != nil {
		t.Error("a nil table must be empty")
	}
}

func TestParse(t *testing.T) {
	text := "\ufeff# classification.config\n" +
		"#\n" +
		"# config classification:shortname,short description,priority\n" +
		"\n" +
		"config classification: not-suspicious,Not Suspicious Traffic,3\r\n" +
		"config classification:bad-unknown,Potentially Bad Traffic, 2\n" +
		"   config   classification  :  trojan-activity , A Network Trojan was detected ,1   \n" +
		"\tconfig classification: local-cc,C&C\\, as listed locally,1\n" +
		"CONFIG Classification: upper,Upper case directive,4\n"
	tab, err := classification.Parse("classification.config", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []classification.Class{
		{Name: "not-suspicious", Description: "Not Suspicious Traffic", Priority: 3},
		{Name: "bad-unknown", Description: "Potentially Bad Traffic", Priority: 2},
		{Name: "trojan-activity", Description: "A Network Trojan was detected", Priority: 1},
		{Name: "local-cc", Description: "C&C, as listed locally", Priority: 1},
		{Name: "upper", Description: "Upper case directive", Priority: 4},
	}
	if got := tab.Classes(); !reflect.DeepEqual(got, want) {
		t.Errorf("classes:\n got %+v\nwant %+v", got, want)
	}
	if c, ok := tab.Lookup("Local-CC"); !ok || c.Description != "C&C, as listed locally" {
		t.Errorf("Lookup(Local-CC) = %+v %v", c, ok)
	}
}

func TestParseRoundTripsStandard(t *testing.T) {
	var b strings.Builder
	for _, c := range classification.Standard().Classes() {
		fmt.Fprintf(&b, "config classification: %s,%s,%d\n", c.Name, c.Description, c.Priority)
	}
	tab, err := classification.Parse("std", strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tab.Classes(), classification.Standard().Classes()) {
		t.Error("parsed standard table differs")
	}
}

func TestParseErrors(t *testing.T) {
	text := "# comment\n" +
		"config classification: good,Good,1\n" +
		"config reference: url http://\n" +
		"config classification: two,fields\n" +
		"config classification: four,a,b,1\n" +
		"config classification: bad-prio,Bad,high\n" +
		"config classification: zero,Zero,0\n" +
		"config classification: ,No name,1\n" +
		"config classification: two words,Desc,1\n" +
		"config classification: nodesc,,1\n" +
		"config classification: GOOD,Again,2\n" +
		"classification: x,y,1\n" +
		"config classificationx: x,y,1\n"
	tab, err := classification.Parse("c.config", strings.NewReader(text))
	if err == nil || tab != nil {
		t.Fatalf("Parse = %v, %v; want nil and an error", tab, err)
	}
	want := []string{
		`c.config:3: expected "config classification: name,description,priority", got "config reference: url http://"`,
		`c.config:4: expected name,description,priority, got 2 fields in "two,fields"`,
		`c.config:5: expected name,description,priority, got 4 fields in "four,a,b,1"`,
		`c.config:6: priority "high" of class "bad-prio" is not a number of 1 or more`,
		`c.config:7: priority "0" of class "zero" is not a number of 1 or more`,
		`c.config:8: class name "" is not a single word`,
		`c.config:9: class name "two words" is not a single word`,
		`c.config:10: class "nodesc" has an empty description`,
		`c.config:11: class "GOOD" is already defined at c.config:2`,
		`c.config:12: expected "config classification: name,description,priority", got "classification: x,y,1"`,
		`c.config:13: expected "config classification: name,description,priority", got "config classificationx: x,y,1"`,
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n got %q\nwant %q", got, want)
	}
}

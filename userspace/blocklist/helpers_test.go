package blocklist_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
)

// mustParse parses text and fails the test on any error.
func mustParse(t *testing.T, name, text string, opts blocklist.Options) *blocklist.List {
	t.Helper()
	l, err := blocklist.Parse(name, strings.NewReader(text), opts)
	if err != nil {
		t.Fatalf("Parse(%s): unexpected error:\n%v", name, err)
	}
	if l == nil {
		t.Fatalf("Parse(%s): nil list without error", name)
	}
	return l
}

// problemsOf parses text, which must fail, and returns the problems.
func problemsOf(t *testing.T, name, text string, opts blocklist.Options) []string {
	t.Helper()
	l, err := blocklist.Parse(name, strings.NewReader(text), opts)
	return mustProblems(t, l, err)
}

// loadProblems loads paths, which must fail, and returns the problems.
func loadProblems(t *testing.T, paths []string, opts blocklist.Options) []string {
	t.Helper()
	l, err := blocklist.Load(paths, opts)
	return mustProblems(t, l, err)
}

func mustProblems(t *testing.T, l *blocklist.List, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error, got none (list: %+v)", l)
	}
	if l != nil {
		t.Fatalf("expected a nil list with the error, got %+v", l)
	}
	var perr *blocklist.Error
	if !errors.As(err, &perr) {
		t.Fatalf("error is %T, not *blocklist.Error: %v", err, err)
	}
	p := perr.Problems()
	if got, want := err.Error(), strings.Join(p, "\n"); got != want {
		t.Fatalf("Error() = %q, want the problems joined: %q", got, want)
	}
	return p
}

func equalStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got: %q\nwant: %q", what, got, want)
	}
}

// ip4 formats a uint32 as a dotted quad.
func ip4(a uint32) string {
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}).String()
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func prefixes(l *blocklist.List) []string {
	var out []string
	for _, e := range l.Entries {
		out = append(out, e.Prefix.String())
	}
	return out
}

// writeFiles writes name -> content into a temporary directory and
// returns the paths, in the order of names.
func writeFiles(t *testing.T, names []string, contents map[string]string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, []byte(contents[n]), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// note is what the feed says about e, the zero note when it says nothing.
func note(e blocklist.Entry) blocklist.FeedNote {
	if e.Feed == nil {
		return blocklist.FeedNote{}
	}
	return *e.Feed
}

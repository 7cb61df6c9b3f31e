package blocklistmaps

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/xdpsensor/xdpsensor/loader/sidecar"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
)

// The kernel keeps one source ("file:line") per rule, so every entry of a
// plain list would show its list's first line. Each entry's own line is
// kept in a file beside the pin directory (loader/sidecar; bpffs holds
// only BPF objects), written by every load, removed by loader.Unpin.
func sourcesPath(pinDir string) (string, bool) { return sidecar.Path(pinDir, "sources") }

// writeSources records, for generation gen, the source of every entry
// whose line is not its rule's, in a temporary file; the function it
// returns puts the file in place (call it once gen is live). It is best
// effort: without it, `list` shows the rule's line.
func (b *Blocklist) writeSources(gen uint32, list *blocklist.List) (commit func()) {
	path, ok := sourcesPath(b.PinDir)
	if !ok {
		return func() {}
	}
	if err := os.MkdirAll(sidecar.Dir, 0o700); err != nil {
		return func() {}
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return func() {}
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(w, "generation\t%d\n", gen)
	var line []byte
	for _, e := range list.Entries {
		if e.Rule >= 0 && e.Rule < len(list.Rules) && e.Source != list.Rules[e.Rule].Source {
			line = append(e.Prefix.AppendTo(line[:0]), '\t')
			line = append(append(line, e.Source...), '\n')
			w.Write(line)
		}
	}
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return func() {}
	}
	return func() {
		if os.Rename(tmp, path) != nil {
			os.Remove(tmp)
		}
	}
}

// dropSources removes the sources a failed load wrote aside.
func (b *Blocklist) dropSources() {
	if path, ok := sourcesPath(b.PinDir); ok {
		os.Remove(path + ".tmp")
	}
}

// readSources returns the entries' own sources by prefix, when they were
// written by the load the live generation comes from (in-place edits move
// the generation by two, a load by one).
func (b *Blocklist) readSources(liveGen uint32) map[netip.Prefix][]string {
	path, ok := sourcesPath(b.PinDir)
	if !ok {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<16)
	if !sc.Scan() {
		return nil
	}
	g, err := strconv.ParseUint(strings.TrimPrefix(sc.Text(), "generation\t"), 10, 32)
	if err != nil || uint32(g) > liveGen || (liveGen-uint32(g))%2 != 0 {
		return nil
	}
	out := map[netip.Prefix][]string{}
	for sc.Scan() {
		p, src, ok := strings.Cut(sc.Text(), "\t")
		if pfx, err := netip.ParsePrefix(p); ok && err == nil {
			out[pfx] = append(out[pfx], src)
		}
	}
	return out
}

// EntrySource is the source of entry e under rule r's source: the entry's
// own line from the same file when the load recorded it, else the rule's.
func (e LiveEntry) EntrySource(ruleSource string) string {
	i := strings.LastIndexByte(ruleSource, ':')
	if i < 0 {
		return ruleSource
	}
	file := ruleSource[:i]
	for _, s := range e.Sources {
		if j := strings.LastIndexByte(s, ':'); j >= 0 && s[:j] == file {
			return s
		}
	}
	return ruleSource
}

package main

// The configuration file (--config FILE) sets flags: each key is a flag's
// long name and its value what the command line would give it.
//
//	log-level: info            # top level: any command that has the flag
//	run:                       # a section: the run command only
//	  iface: [eth1, eth2]      # a list for a repeatable flag
//	  monitor-port: true
//	  flow-timeout: 120s
//	blocklist:                 # sections nest like the commands:
//	  load:                    # `blocklist load`
//	    format: snort
//
// Precedence: the command line, then the command's own section, then its
// parents' sections, then the top level. A top-level key applies to every
// command that has such a flag and is ignored by the others (`iface` at
// the top level configures run and leaves stats alone). A key that names
// a subcommand and holds a mapping is a section; `blocklist: [FILE]` is
// the run/replay flag, `blocklist: {load: ...}` the command group.
//
// Every key of the file is checked whatever the command (a typo in the
// replay section fails `run` too); values are checked when applied.
// Relative paths are taken from the working directory, as on the command
// line (systemd starts the daemon in /): write absolute ones.

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// addConfigFlag adds the persistent --config flag and the hook applying
// the file before any command runs. Call it once the subcommands are
// added: it also forgets which flags a command's constructor Set (replay
// sets its own ring-size default), so that only the command line counts
// as set. Calling it twice changes nothing.
func addConfigFlag(root *cobra.Command) {
	if root.PersistentFlags().Lookup("config") != nil {
		return
	}
	var path string
	root.PersistentFlags().StringVar(&path, "config", "",
		"configuration file (YAML): flag names as keys, optionally in per-command sections (run:, replay:); the command line overrides it")
	forgetConstructorSets(root)
	next := root.PersistentPreRunE
	// A subcommand with a PersistentPreRunE of its own would shadow this
	// one (cobra runs the nearest): chain to it from there if one is added.
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if path != "" {
			if err := applyConfig(root, cmd, path); err != nil {
				return err
			}
		}
		if next != nil {
			return next(cmd, args)
		}
		return nil
	}
}

func forgetConstructorSets(c *cobra.Command) {
	for _, fs := range []*pflag.FlagSet{c.PersistentFlags(), c.LocalNonPersistentFlags(), c.Flags()} {
		fs.VisitAll(func(f *pflag.Flag) { f.Changed = false })
	}
	for _, sub := range c.Commands() {
		forgetConstructorSets(sub)
	}
}

// configError is an error at one line of the file.
func configError(path string, line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", path, line, fmt.Sprintf(format, args...))
}

// applyConfig checks the whole file against the command tree under root
// and sets the flags of cmd that the command line left alone.
func applyConfig(root, cmd *cobra.Command, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// "yaml: line 3: did not find ..." as PATH:3: did not find ...
		var line int
		msg := err.Error()
		if _, scanErr := fmt.Sscanf(msg, "yaml: line %d:", &line); scanErr == nil {
			_, rest, _ := strings.Cut(msg, ": ")
			_, rest, _ = strings.Cut(rest, ": ")
			return configError(path, line, "%s", rest)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // empty file
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return configError(path, top.Line, "want settings (key: value lines), not a %s", kindName(top))
	}
	// Sections from the root down to cmd, checked as they are read.
	sections := map[*cobra.Command]*yaml.Node{}
	if err := checkSection(path, root, top, sections, ""); err != nil {
		return err
	}

	// Only what the command line did not set; first come first served,
	// from cmd's section up to the top level.
	fromCLI := map[string]bool{}
	cmd.Flags().VisitAll(func(f *pflag.Flag) { fromCLI[f.Name] = f.Changed })
	fs := cmd.Flags()
	setHere := map[string]bool{}
	for c := cmd; c != nil; c = c.Parent() {
		sec, ok := sections[c]
		if !ok {
			continue
		}
		for i := 0; i+1 < len(sec.Content); i += 2 {
			k, v := sec.Content[i], sec.Content[i+1]
			f := fs.Lookup(k.Value)
			if f == nil || (v.Kind == yaml.MappingNode && findSub(c, k.Value) != nil) {
				continue // another command's flag, or a section
			}
			if fromCLI[f.Name] || setHere[f.Name] {
				continue
			}
			if err := setFlag(path, f, v); err != nil {
				return err
			}
			setHere[f.Name] = true
		}
	}
	return nil
}

// checkSection checks every key of a section (the top level is root's)
// and records the sections of subcommands.
func checkSection(path string, c *cobra.Command, sec *yaml.Node, sections map[*cobra.Command]*yaml.Node, where string) error {
	sections[c] = sec
	known := map[string]bool{}
	var names []string
	addName := func(n string) {
		if !known[n] {
			known[n] = true
			names = append(names, n)
		}
	}
	// At the top level any command's flag may appear; in a section, the
	// command's own and inherited ones and those of its subcommands.
	shorthands := map[string]string{}
	var collect func(*cobra.Command)
	collect = func(x *cobra.Command) {
		add := func(f *pflag.Flag) {
			if f.Name == "help" || f.Name == "config" {
				return
			}
			addName(f.Name)
			if f.Shorthand != "" {
				shorthands[f.Shorthand] = f.Name
			}
		}
		x.Flags().VisitAll(add)
		x.InheritedFlags().VisitAll(add)
		for _, s := range x.Commands() {
			collect(s)
		}
	}
	collect(c)
	for _, s := range c.Commands() {
		if s.Name() != "help" && s.Name() != "completion" {
			addName(s.Name())
		}
	}

	seen := map[string]int{}
	for i := 0; i+1 < len(sec.Content); i += 2 {
		k, v := sec.Content[i], sec.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return configError(path, k.Line, "%swant a setting name, not a %s", where, kindName(k))
		}
		if first, dup := seen[k.Value]; dup {
			return configError(path, k.Line, "%s%q is set twice (first at line %d)", where, k.Value, first)
		}
		seen[k.Value] = k.Line
		if sub := findSub(c, k.Value); sub != nil && v.Kind == yaml.MappingNode {
			if err := checkSection(path, sub, v, sections, where+sub.Name()+": "); err != nil {
				return err
			}
			continue
		}
		switch {
		case k.Value == "config":
			return configError(path, k.Line, "%s\"config\" cannot be set in the configuration file", where)
		case known[k.Value] && findSub(c, k.Value) != nil && c.Flags().Lookup(k.Value) == nil && !flagInTree(c, k.Value):
			return configError(path, k.Line, "%s%q is a command: its settings go in a mapping under it, one flag: value per line", where, k.Value)
		case known[k.Value]:
			continue
		case shorthands[k.Value] != "":
			return configError(path, k.Line, "%sunknown setting %q: use the long name %q", where, k.Value, shorthands[k.Value])
		}
		msg := fmt.Sprintf("%sunknown setting %q", where, k.Value)
		if s := suggest(k.Value, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return configError(path, k.Line, "%s", msg)
	}
	return nil
}

// flagInTree reports whether a flag of that name exists under c.
func flagInTree(c *cobra.Command, name string) bool {
	if c.Flags().Lookup(name) != nil || c.InheritedFlags().Lookup(name) != nil {
		return true
	}
	for _, s := range c.Commands() {
		if flagInTree(s, name) {
			return true
		}
	}
	return false
}

func findSub(c *cobra.Command, name string) *cobra.Command {
	for _, s := range c.Commands() {
		if s.Name() == name || s.HasAlias(name) {
			return s
		}
	}
	return nil
}

// setFlag sets one flag from its YAML value: a scalar, or for repeatable
// flags a list (one Set per item, as repeating the flag would).
func setFlag(path string, f *pflag.Flag, v *yaml.Node) error {
	_, repeatable := f.Value.(pflag.SliceValue)
	var items []*yaml.Node
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return configError(path, v.Line, "%s: no value (want %s)", f.Name, typeHint(f))
		}
		items = []*yaml.Node{v}
	case yaml.SequenceNode:
		if !repeatable {
			return configError(path, v.Line, "%s: want one value (%s), not a list", f.Name, typeHint(f))
		}
		if len(v.Content) == 0 {
			// An empty list clears the default.
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				if err := sv.Replace(nil); err != nil {
					return configError(path, v.Line, "%s: %v", f.Name, err)
				}
				f.Changed = true
			}
			return nil
		}
		items = v.Content
	case yaml.AliasNode:
		return setFlag(path, f, v.Alias)
	default:
		return configError(path, v.Line, "%s: want %s, not a %s", f.Name, typeHint(f), kindName(v))
	}
	for _, it := range items {
		if it.Kind != yaml.ScalarNode || it.Tag == "!!null" {
			return configError(path, it.Line, "%s: want %s, not a %s", f.Name, typeHint(f), kindName(it))
		}
		// The Value's own Set, for its own error message; a repeatable
		// flag's first Set replaces the default, the next ones append.
		if err := f.Value.Set(it.Value); err != nil {
			return configError(path, it.Line, "bad value %q for %s (want %s): %v", it.Value, f.Name, typeHint(f), err)
		}
		f.Changed = true
	}
	return nil
}

func typeHint(f *pflag.Flag) string {
	switch t := f.Value.Type(); t {
	case "bool":
		return "true or false"
	case "duration":
		return "a duration like 120s or 5m"
	case "string":
		return "a string"
	case "stringArray", "stringSlice":
		return "a string or a list of strings"
	default:
		if strings.HasPrefix(t, "uint") || strings.HasPrefix(t, "int") {
			return "a whole number"
		}
		return "a " + t
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return "scalar"
	}
	return "YAML node"
}

// suggest returns the known name closest to s, if it is close enough to
// be a typo.
func suggest(s string, names []string) string {
	sort.Strings(names)
	best, bestD := "", len(s)/2+2
	for _, n := range names {
		if d := editDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

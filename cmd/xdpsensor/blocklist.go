package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/classification"
)

func newBlocklistCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "blocklist",
		Short: "Change or inspect the running sensor's blocklist (acts on the pinned maps)",
	}
	cmd.AddCommand(newBlocklistLoad(g), newBlocklistAdd(g), newBlocklistDel(g), newBlocklistList(g),
		newBlocklistCheck(g), newBlocklistDiff(g), newBlocklistExpire(g), newBlocklistPublish(g))
	return cmd
}

// parseLists reads blocklist files all-or-nothing, printing warnings.
func parseLists(cmd *cobra.Command, files []string, format string) (*blocklist.List, error) {
	list, err := blocklist.LoadContext(cmd.Context(), files, blocklist.Options{Format: format, Classes: classification.Standard()})
	if err != nil {
		return nil, fmt.Errorf("blocklist rejected, nothing changed:\n%w", err)
	}
	warnings(cmd.ErrOrStderr(), list.Warnings)
	return list, nil
}

// warnings prints the first few warnings and how many more there were.
func warnings(w io.Writer, ws []string) {
	const show = 20
	for i, s := range ws {
		if i == show {
			fmt.Fprintf(w, "warning: ... and %d more\n", len(ws)-show)
			break
		}
		fmt.Fprintf(w, "warning: %s\n", s)
	}
}

func withBlocklist(g *globalFlags, write bool, fn func(*blocklistmaps.Blocklist) error) error {
	maps, err := loader.OpenPinned(g.pinDir)
	if err != nil {
		return err
	}
	defer maps.Close()
	bl, err := blocklistmaps.New(maps, g.pinDir)
	if err != nil {
		return err
	}
	if write {
		unlock, err := bl.Lock()
		if err != nil {
			return err
		}
		defer unlock()
	}
	return fn(bl)
}

func newBlocklistLoad(g *globalFlags) *cobra.Command {
	var format string
	var replace blocklist.ReplaceOptions
	cmd := &cobra.Command{
		Use:   "load FILE...",
		Short: "Replace the whole blocklist atomically (all files or nothing)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			start := time.Now()
			abi.ParseSpecAhead() // while the lists are read
			// A short-lived process that builds one big list: collecting
			// garbage each time the heap doubles cost a fifth of a load,
			// and with none at all fresh pages cost as much (page faults
			// are dear on a VM).
			defer debug.SetGCPercent(debug.SetGCPercent(400))
			preferHugePages(16 * listBytes(files))
			list, err := parseLists(cmd, files, format)
			if err != nil {
				return err
			}
			if err := list.CheckReplacement(replace); err != nil {
				return fmt.Errorf("blocklist refused, nothing changed: %w", err)
			}
			return withBlocklist(g, true, func(bl *blocklistmaps.Blocklist) error {
				st, err := bl.Replace(list)
				if err != nil {
					return fmt.Errorf("installing blocklist (the running list is unchanged): %w", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "loaded generation %d: %d rules, %d IPv4 and %d IPv6 addresses, %d IPv4 and %d IPv6 prefixes in %v\n",
					st.Generation, st.Rules, st.ExactV4, st.ExactV6, st.PrefixV4, st.PrefixV6, time.Since(start).Round(time.Millisecond))
				reportThresholdsDropped(cmd.ErrOrStderr(), st)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&format, "format", "auto", "file format (auto detects per file)")
	cmd.Flags().BoolVar(&replace.AllowEmpty, "allow-empty", false, "load a list with no address (removes every entry)")
	cmd.Flags().BoolVar(&replace.AllowAll, "allow-all", false, "load a list holding 0.0.0.0/0 or ::/0 (every packet alerts)")
	return cmd
}

// reportThresholdsDropped tells of the threshold windows an install
// could not carry over to its rules (load, and add when it rebuilds).
func reportThresholdsDropped(w io.Writer, st blocklistmaps.InstallStats) {
	if st.ThresholdsDropped > 0 {
		fmt.Fprintf(w, "%d threshold windows not carried over to the new rules (thresholds table full): those rules count afresh\n", st.ThresholdsDropped)
	}
}

// listBytes is the size of the files (a list parsed takes about 13 times
// its size in memory).
func listBytes(files []string) int64 {
	var n int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			n += st.Size()
		}
	}
	return n
}

// parsePrefix takes an address or a CIDR.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p != p.Masked() {
			return netip.Prefix{}, fmt.Errorf("%s has host bits set: did you mean %s?", s, p.Masked())
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseDays reads durations with day and week units: 30d, 2w, 12h, 90m.
func parseDays(s string) (time.Duration, error) {
	for unit, d := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, unit); ok {
			v, err := strconv.ParseFloat(n, 64)
			// ParseFloat takes NaN and Inf; NaN fails every comparison.
			if err != nil || !(v > 0) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("bad duration %q (e.g. 30d, 2w, 12h)", s)
			}
			// A Duration holds about 292 years; past that it wraps into
			// the past and the next sweep would delete the entry.
			if v*float64(d) >= math.MaxInt64 {
				return 0, fmt.Errorf("duration %q is too long: at most %dd", s, int64(math.MaxInt64/int64(24*time.Hour)))
			}
			return time.Duration(v * float64(d)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration %q (e.g. 30d, 2w, 12h)", s)
	}
	return d, nil
}

func parseDirection(s string) (blocklist.Direction, error) {
	switch s {
	case "src":
		return blocklist.ListedAsSrc, nil
	case "dst":
		return blocklist.ListedAsDst, nil
	case "any", "":
		return blocklist.ListedAsAny, nil
	}
	return 0, fmt.Errorf("--direction %q: want src, dst or any", s)
}

func newBlocklistAdd(g *globalFlags) *cobra.Command {
	var msg, classtype, direction, expires string
	var override bool
	var gid, sid, rev uint32
	cmd := &cobra.Command{
		Use:   "add ADDR|CIDR [--msg MSG --sid N --expires 30d]",
		Short: "List one address or prefix now, in place",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parsePrefix(args[0])
			if err != nil {
				return err
			}
			dir, err := parseDirection(direction)
			if err != nil {
				return err
			}
			if _, ok := classification.Standard().Lookup(classtype); !ok {
				return fmt.Errorf("--classtype %q is not in the classification table", classtype)
			}
			opts := blocklistmaps.AddOptions{Rule: blocklist.Rule{GID: gid, SID: sid, Rev: rev, Msg: msg, Classtype: classtype,
				Direction: dir, Source: blocklistmaps.ManualSource}, Override: override}
			if expires != "" {
				d, err := parseDays(expires)
				if err != nil {
					return fmt.Errorf("--expires: %w", err)
				}
				opts.Expires = time.Now().Add(d)
			}
			return withBlocklist(g, true, func(bl *blocklistmaps.Blocklist) error {
				// Without room in the live maps, Add rebuilds the list as
				// a load does, threshold windows carried over included.
				rebuilt, err := bl.Add(p, opts)
				if rebuilt != nil {
					reportThresholdsDropped(cmd.ErrOrStderr(), *rebuilt)
				}
				if err != nil {
					return fmt.Errorf("adding %s: %w", p, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added %s [%d:%d:%d] %s\n", p, gid, sid, rev, msg)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&msg, "msg", "XDPSENSOR manually listed address", "alert message")
	f.Uint32Var(&gid, "gid", 1, "generator id")
	f.Uint32Var(&sid, "sid", 3999999, "signature id")
	f.Uint32Var(&rev, "rev", 1, "revision")
	f.StringVar(&classtype, "classtype", "trojan-activity", "classification")
	f.StringVar(&direction, "direction", "any", "which end of a packet must be the address: src, dst or any")
	f.StringVar(&expires, "expires", "", "remove it after this long (30d, 2w, 12h)")
	f.BoolVar(&override, "override", false, "replace the rule a loaded list gave the address, until the next load (a later del removes the address altogether)")
	return cmd
}

func newBlocklistDel(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "del ADDR|CIDR",
		Short: "Remove one address or prefix now, in place",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parsePrefix(args[0])
			if err != nil {
				return err
			}
			return withBlocklist(g, true, func(bl *blocklistmaps.Blocklist) error {
				kept, err := bl.DelManual(p)
				if err != nil {
					return err
				}
				if kept != nil {
					r := kept.Rule
					fmt.Fprintf(cmd.OutOrStdout(), "removed the listing `blocklist add` made of %s; [%d:%d:%d] %s (%s) still lists it as %s\n",
						p, r.GID, r.SID, r.Rev, r.Msg, r.Source, kept.Side)
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", p)
				return nil
			})
		},
	}
}

func newBlocklistExpire(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "expire",
		Short: "Remove entries whose expiry has passed (the running sensor does this every minute)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withBlocklist(g, true, func(bl *blocklistmaps.Blocklist) error {
				n, err := bl.Expire(time.Now())
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "expired %d entries\n", n)
				return nil
			})
		},
	}
}

// entryView is one entry with its rule, for list/check output.
type entryView struct {
	Prefix    string `json:"prefix"`
	Direction string `json:"direction"` // src, dst or any: which end of a packet the rule wants it on
	GID       uint32 `json:"gid"`
	SID       uint32 `json:"signature_id"`
	Rev       uint32 `json:"rev"`
	Msg       string `json:"signature"`
	Classtype string `json:"classtype,omitempty"`
	Source    string `json:"source,omitempty"`
	Expires   string `json:"expires,omitempty"`
	RuleID    uint32 `json:"rule_id"`
}

func views(snap *blocklistmaps.Snapshot, e blocklistmaps.LiveEntry) []entryView {
	var out []entryView
	add := func(id uint32, dir string) {
		r := snap.Rules[id]
		v := entryView{Prefix: e.Prefix.String(), Direction: dir, GID: r.Gid, SID: r.Sid, Rev: r.Rev,
			Msg: abi.CString(r.Msg[:]), Classtype: abi.CString(r.Classtype[:]), Source: e.EntrySource(abi.CString(r.Source[:])), RuleID: id}
		if r.ExpiresUnix != 0 {
			v.Expires = time.Unix(int64(r.ExpiresUnix), 0).UTC().Format(time.RFC3339)
		}
		out = append(out, v)
	}
	switch {
	case e.RuleAsSrc != 0 && e.RuleAsSrc == e.RuleAsDst:
		add(e.RuleAsSrc, "any")
	default:
		if e.RuleAsSrc != 0 {
			add(e.RuleAsSrc, "src")
		}
		if e.RuleAsDst != 0 {
			add(e.RuleAsDst, "dst")
		}
	}
	return out
}

func printViews(w io.Writer, vs []entryView, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, v := range vs {
			if err := enc.Encode(v); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PREFIX\tAS\tRULE\tMESSAGE\tSOURCE\tEXPIRES")
	for _, v := range vs {
		exp := v.Expires
		if exp == "" {
			exp = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d:%d:%d\t%s\t%s\t%s\n", v.Prefix, v.Direction, v.GID, v.SID, v.Rev, v.Msg, v.Source, exp)
	}
	return tw.Flush()
}

func newBlocklistList(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "Every live entry with its rule and source file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withBlocklist(g, false, func(bl *blocklistmaps.Blocklist) error {
				snap, err := bl.Snapshot()
				if err != nil {
					return err
				}
				var vs []entryView
				for _, e := range snap.Entries {
					vs = append(vs, views(snap, e)...)
				}
				return printViews(cmd.OutOrStdout(), vs, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per entry")
	return cmd
}

func newBlocklistCheck(g *globalFlags) *cobra.Command {
	var asJSON bool
	var otherArg string
	cmd := &cobra.Command{
		Use:   "check ADDR [--other ADDR2]",
		Short: "Every exact and CIDR entry matching ADDR, and what the kernel decides",
		Long: `Every exact and CIDR entry matching ADDR, and what the kernel decides for it.

Without --other the decision is given for any other address: an exact
entry's rule constrained to $HOME_NET or $EXTERNAL_NET applies only when
the packet's other address is in it, else the covering prefixes' rules are
tried, longest first.
With --other the decision is the kernel's for a flow between ADDR and ADDR2,
read from the running sensor's maps and net variables the way flow records
name their rules; with --json it is one more line after the entries:
{"kernel_decision": {"address", "other", "as_destination", "as_source"}}.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := netip.ParseAddr(args[0])
			if err != nil {
				return fmt.Errorf("%q is not an IP address", args[0])
			}
			a = a.Unmap()
			var other netip.Addr
			if otherArg != "" {
				if other, err = netip.ParseAddr(otherArg); err != nil {
					return fmt.Errorf("--other: %q is not an IP address", otherArg)
				}
				if other = other.Unmap(); other.Is4() != a.Is4() {
					return fmt.Errorf("--other: %s and %s are not of one address family", a, other)
				}
			}
			return withBlocklist(g, false, func(bl *blocklistmaps.Blocklist) error {
				snap, err := bl.Snapshot()
				if err != nil {
					return err
				}
				var vs []entryView
				for _, e := range snap.Matches(a) {
					vs = append(vs, views(snap, e)...)
				}
				out := cmd.OutOrStdout()
				if len(vs) == 0 {
					if asJSON {
						return nil
					}
					fmt.Fprintf(out, "%s is not listed\n", a)
					return errNotListed
				}
				if err := printViews(out, vs, asJSON); err != nil {
					return err
				}
				name := func(id uint32) string {
					if id == 0 {
						return "no alert"
					}
					r := snap.Rules[id]
					return fmt.Sprintf("[%d:%d:%d] %s", r.Gid, r.Sid, r.Rev, abi.CString(r.Msg[:]))
				}
				// The kernel's decision, made as the flow records make it
				// (blocklistmaps.Resolver).
				r := &blocklistmaps.Resolver{Maps: bl.Maps}
				defer r.Close()
				r.Refresh(snap.Generation)
				if other.IsValid() {
					e, _, err := r.Lookup(a, other)
					if err != nil {
						return err
					}
					if asJSON {
						return json.NewEncoder(out).Encode(map[string]decisionView{"kernel_decision": {
							Address: a.String(), Other: other.String(),
							AsDst: decidedView(snap, a, e.RuleAsDst, func(e blocklistmaps.LiveEntry) uint32 { return e.RuleAsDst }),
							AsSrc: decidedView(snap, a, e.RuleAsSrc, func(e blocklistmaps.LiveEntry) uint32 { return e.RuleAsSrc }),
						}})
					}
					fmt.Fprintf(out, "kernel decision: %s with %s as the other address: as destination -> %s; as source -> %s\n", a, other,
						name(e.RuleAsDst), name(e.RuleAsSrc))
					return nil
				}
				if !asJSON {
					c, err := r.Candidates(a)
					if err != nil {
						return err
					}
					cfg, err := bl.Maps.ReadConfig()
					if err != nil {
						return err
					}
					// The exact entry's rule, unless its constraint on the
					// other address refuses it: then the longest prefix's,
					// and so on outwards, to no alert when every rule has
					// a constraint.
					describe := func(rule func(abi.BpfBlocklistEntry) uint32) string {
						var ids []uint32
						for _, e := range c.Entries() {
							if id := rule(e); id != 0 && !slices.Contains(ids, id) {
								ids = append(ids, id)
							}
						}
						var s strings.Builder
						for _, id := range ids {
							other := constraintName(&cfg, snap.Rules[id].OtherNet)
							if other == "" {
								s.WriteString(name(id))
								return s.String()
							}
							fmt.Fprintf(&s, "%s when the other address is in %s, else ", name(id), other)
						}
						s.WriteString(name(0))
						if c.Cut {
							fmt.Fprintf(&s, " (more prefixes enclosing %s are listed than the kernel tries, %d: a flow decided so is counted in prefix_walk_cut)",
								a, blocklistmaps.PrefixWalkMax)
						}
						return s.String()
					}
					fmt.Fprintf(out, "kernel decision: %s as destination -> %s; as source -> %s\n", a,
						describe(func(e abi.BpfBlocklistEntry) uint32 { return e.RuleAsDst }),
						describe(func(e abi.BpfBlocklistEntry) uint32 { return e.RuleAsSrc }))
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per matching entry")
	cmd.Flags().StringVar(&otherArg, "other", "", "the flow's other address: the kernel's decision for a flow between ADDR and this one")
	return cmd
}

// decisionView is `check --other --json`'s decision line.
type decisionView struct {
	Address string     `json:"address"`
	Other   string     `json:"other"`
	AsDst   *entryView `json:"as_destination"` // null: no alert
	AsSrc   *entryView `json:"as_source"`
}

// decidedView is the rule id decided for addr (0: none) with the entry it
// came from: the most specific entry holding that rule for the end (rule
// of the end); the entries inside it had other rules, refused.
func decidedView(snap *blocklistmaps.Snapshot, addr netip.Addr, id uint32, rule func(blocklistmaps.LiveEntry) uint32) *entryView {
	if id == 0 {
		return nil
	}
	for _, e := range snap.Matches(addr) { // the exact entry first, then the prefixes, longest first
		if rule(e) != id {
			continue
		}
		for _, v := range views(snap, e) {
			if v.RuleID == id {
				return &v
			}
		}
		break
	}
	return nil
}

// constraintName names a rule's constraint on the packet's other address
// as the sensor's net variables make it, "" when it accepts every
// address ($HOME_NET before --home-net is given, $EXTERNAL_NET when it is
// any): the kernel's own test (blocklistmaps.OtherNetOK), for an address
// of each kind.
func constraintName(cfg *abi.BpfSensorConfig, n uint8) string {
	home, external := uint32(abi.BpfNetvarBitsNETVAR_HOME), uint32(abi.BpfNetvarBitsNETVAR_EXTERNAL)
	for _, bits := range []uint32{0, home, external, home | external} {
		if !blocklistmaps.OtherNetOK(n, bits, cfg) {
			return otherNetName(n)
		}
	}
	return ""
}

// otherNetName names a rule's constraint on the packet's other address,
// "" for none.
func otherNetName(n uint8) string {
	switch abi.BpfRuleOtherNet(n) {
	case abi.BpfRuleOtherNetNET_HOME:
		return "$HOME_NET"
	case abi.BpfRuleOtherNetNET_EXTERNAL:
		return "$EXTERNAL_NET"
	}
	return ""
}

// errNotListed makes `check` exit non-zero for scripts, without a message.
var errNotListed = errors.New("not listed")

func newBlocklistDiff(g *globalFlags) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "diff FILE...",
		Short: "What `blocklist load FILE...` would add and remove, changing nothing",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			list, err := parseLists(cmd, files, format)
			if err != nil {
				return err
			}
			return withBlocklist(g, false, func(bl *blocklistmaps.Blocklist) error {
				snap, err := bl.Snapshot()
				if err != nil {
					return err
				}
				d := blocklistmaps.Diff(snap, list)
				out := cmd.OutOrStdout()
				for _, c := range d {
					fmt.Fprintf(out, "%c %s %s\n", c.Op, c.Prefix, c.What)
				}
				var add, del, chg int
				for _, c := range d {
					switch c.Op {
					case '+':
						add++
					case '-':
						del++
					default:
						chg++
					}
				}
				fmt.Fprintf(out, "%d to add, %d to remove, %d to change\n", add, del, chg)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&format, "format", "auto", "file format")
	return cmd
}

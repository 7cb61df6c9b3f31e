// Package blocklist reads C&C address lists (plain lists and Snort/ET rule
// files) into one model of rules and address entries.
package blocklist

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Direction says on which end of a packet a rule wants its listed address.
type Direction uint8

const (
	ListedAsSrc Direction = 1 // [list] any -> any any
	ListedAsDst Direction = 2 // any any -> [list] any
	ListedAsAny           = ListedAsSrc | ListedAsDst
)

// NetVar constrains the packet's other (non-listed) address.
type NetVar uint8

const (
	NetAny      NetVar = 0
	NetHome     NetVar = 1 // $HOME_NET
	NetExternal NetVar = 2 // $EXTERNAL_NET
)

// Threshold is a Snort threshold option, kept for the kernel's rate limit.
type Threshold struct {
	Type    string // limit, threshold or both
	Track   string // by_src or by_dst
	Count   uint32
	Seconds uint32
}

// Rule is the metadata alerts carry and the constraints the kernel checks.
type Rule struct {
	GID        uint32
	SID        uint32
	Rev        uint32
	Msg        string
	Classtype  string
	Priority   uint32 // 0: take it from the classtype
	References []string
	Direction  Direction
	OtherNet   NetVar
	Threshold  *Threshold
	Block      time.Duration // fwsam duration, 0 when absent
	Source     string        // "file:line" of the rule

	// Updated is when the feed says it was last updated (Spamhaus
	// "; Last-Modified:", FireHOL "# This File Date", Feodo Tracker
	// "# Last updated:"), zero when it does not say. Informational.
	Updated time.Time
	// Expires is when the feed says its data stops being valid (Spamhaus
	// "; Expires:"), zero when it does not say. Load does not act on it
	// (parsing never looks at the clock); callers may warn about, or
	// refuse, a list past its expiry.
	Expires time.Time
}

// Entry is one listed address or prefix. Single addresses are /32 or /128.
type Entry struct {
	Prefix netip.Prefix // masked
	Rule   int          // index into List.Rules
	Source string       // "file:line"

	// What the feed says about this entry, informational (the kernel
	// matches addresses only); nil when it says nothing. Apart, because a
	// list of a million lines is a million entries, and fresh memory is
	// time (16 bytes an entry here were ~50 ms of a load on a VM).
	Feed *FeedNote
}

// FeedNote is what a feed says about one of its entries.
type FeedNote struct {
	Ref   string // the feed's note: Spamhaus SBL id ("SBL256894"); Feodo Tracker C2 status ("online, last online 2024-05-01")
	Port  uint16 // Feodo Tracker C2 port (dst_port), 0 when not given
	Score uint8  // Suricata iprep score, 1-127, 0 when not given
}

// Exact reports whether the entry is a single address.
func (e Entry) Exact() bool { return e.Prefix.Bits() == e.Prefix.Addr().BitLen() }

// List is a parsed blocklist, ready to install.
type List struct {
	Rules    []Rule
	Entries  []Entry
	Warnings []string // duplicates and overlaps, "file:line: ..."

	// Files are the inputs, in the order loaded, with the format each was
	// read as. Load and Parse set it; a List built by hand may leave it nil.
	Files []File
}

// ReplaceOptions say which lists a caller may put in place of the live
// one although they are almost surely a mistake.
type ReplaceOptions struct {
	AllowEmpty bool // a list with no address (removes every entry)
	AllowAll   bool // a list with 0.0.0.0/0 or ::/0 (every packet alerts)
}

// CheckReplacement refuses a list that would empty the live blocklist (an
// empty or comment-only file, a truncated download) or make every packet
// alert (0.0.0.0/0, ::/0), unless opts allow it.
func (l *List) CheckReplacement(opts ReplaceOptions) error {
	if len(l.Entries) == 0 && !opts.AllowEmpty {
		names := make([]string, len(l.Files))
		for i, f := range l.Files {
			names[i] = f.Path
		}
		return fmt.Errorf("%s: no address listed: loading it would remove every entry of the running blocklist; "+
			"give --allow-empty if that is what you want", strings.Join(names, ", "))
	}
	if opts.AllowAll {
		return nil
	}
	var all []string
	for _, e := range l.Entries {
		if e.Prefix.Bits() == 0 {
			all = append(all, fmt.Sprintf("%s: %s lists every address", e.Source, e.Prefix))
		}
	}
	if len(all) > 0 {
		return fmt.Errorf("%s: every packet would alert; give --allow-all if that is what you want", strings.Join(all, "; "))
	}
	return nil
}

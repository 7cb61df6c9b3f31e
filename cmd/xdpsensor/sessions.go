package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/xdpsensor/xdpsensor/userspace/label"
	"github.com/xdpsensor/xdpsensor/userspace/sessions"
)

// sessionsDefaultDir is where sessions looks for eve.json unless told otherwise.
const sessionsDefaultDir = "/var/log/xdpsensor"

func newSessionsCommand(_ *globalFlags) *cobra.Command {
	var dir, host, since, lbl string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "sessions [--dir DIR] [--host ADDR] [--since T] [--label L] [--json]",
		Short: "Show the flow records the sensor wrote (DIR/eve.json) as Sguil/SANCP session data, with flags and labels",
		Long: `Reads the flow records in DIR/eve.json, as written by run or replay --out DIR,
and prints them as Sguil printed SANCP sessions: sensor and session id (the
flow id), start and end time (UTC), source -> dest (the source sent the first
packet), packets and payload bytes each way, the OR of the TCP flags each way
in Snort's 12UAPRSF order with per-flag packet counts, and the flow's label.
--since takes 2007-03-20T18:00:00Z, "2007-03-20 18:00:00" (UTC), 2007-03-20,
or a duration (24h: the last 24 hours).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var f sessions.Filter
			var err error
			if host != "" {
				if f.Host, err = sessions.ParseHost(host); err != nil {
					return fmt.Errorf("--host %q: want an address or a CIDR prefix", host)
				}
			}
			if since != "" {
				if f.Since, err = sessions.ParseSince(since, time.Now()); err != nil {
					return fmt.Errorf("--since %q: %w", since, err)
				}
			}
			if lbl != "" {
				if !slices.Contains(label.All, lbl) {
					return fmt.Errorf("--label %q: want one of %s", lbl, strings.Join(label.All, ", "))
				}
				f.Label = lbl
			}
			sensor, _ := os.Hostname()
			path := filepath.Join(dir, "eve.json")
			res, err := sessions.ReadFile(path, sensor)
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no sensor output in %s: %s does not exist (see --dir)", dir, path)
			}
			if err != nil {
				return err
			}
			if res.Skipped > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "xdpsensor: skipped %d unreadable line(s) of %s\n", res.Skipped, path)
			}
			ss := sessions.Select(res.Sessions, f)
			if asJSON {
				return sessions.RenderJSON(cmd.OutOrStdout(), ss)
			}
			return sessions.Render(cmd.OutOrStdout(), ss)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", sessionsDefaultDir, "the sensor's output directory (run/replay --out), holding eve.json")
	fl.StringVar(&host, "host", "", "only sessions with this address (or CIDR prefix) at either end")
	fl.StringVar(&since, "since", "", "only sessions that ended at or after this time, or within this duration (24h)")
	fl.StringVar(&lbl, "label", "", "only sessions with this label: "+strings.Join(label.All, ", "))
	fl.BoolVar(&asJSON, "json", false, "one JSON object per session")
	return cmd
}

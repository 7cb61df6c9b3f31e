package main

import (
	"cmp"
	"fmt"
	"net/netip"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/ringbuf"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/eve"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/flowtable"
	"github.com/xdpsensor/xdpsensor/userspace/pipeline"
)

func newFlowsCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "flows [--json]",
		Short: "List the flows the running sensor's kernel table holds now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			maps, err := loader.OpenPinned(g.pinDir)
			if err != nil {
				return err
			}
			defer maps.Close()
			live := &pipeline.LiveSource{}
			zones := &flowtable.Zones{Map: maps.Zones}
			rules := &ringbuf.KernelRules{Map: maps.Rules}
			// Listed flows name their rules as a written record does.
			var cfg abi.BpfSensorConfig
			if err := maps.Config.Lookup(uint32(0), &cfg); err != nil {
				return fmt.Errorf("reading the sensor's config: %w", err)
			}
			names := &blocklistmaps.Resolver{Maps: maps}
			defer names.Close()
			names.Refresh(cfg.Generation)
			var nameErr error
			listedRules := func(addr, other netip.Addr) ([]event.Rule, int) {
				r, unknown, err := names.Rules(addr, other, rules)
				nameErr = cmp.Or(nameErr, err)
				return r, unknown
			}
			dec := &flowtable.Decoder{Clock: live.Clock, Zones: zones.VLANs, Tunnel: zones.Tunnel, Listed: listedRules}
			flows, err := flowtable.Snapshot(maps, dec)
			if err != nil {
				return err
			}
			if nameErr != nil {
				return fmt.Errorf("naming the listed flows' rules: %w", nameErr)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				w := eve.NewWriter(out, eve.Options{})
				for _, f := range flows {
					if err := w.WriteFlow(f); err != nil {
						return err
					}
				}
				return w.Flush()
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "START\tPROTO\tCLIENT\tSERVER\tPKTS>\tBYTES>\tPKTS<\tBYTES<\tFLAGS>\tFLAGS<\tLISTED")
			for _, f := range flows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n",
					f.Start.Local().Format(time.DateTime), eve.ProtoName(f.Proto), endpoint(f.Client), endpoint(f.Server),
					f.ToServer.Packets, f.ToServer.Bytes, f.ToClient.Packets, f.ToClient.Bytes,
					flagString(f.ToServer.TCPFlags), flagString(f.ToClient.TCPFlags), listed(f))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "EVE flow records, one per line")
	return cmd
}

func newDetachCommand(g *globalFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "detach",
		Short: "Remove the sensor's pinned maps (the blocklist and any flows left in the kernel)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := loader.CheckPrivileges(); err != nil {
				return err
			}
			if _, err := os.Stat(g.pinDir); err != nil {
				return fmt.Errorf("nothing pinned at %s", g.pinDir)
			}
			// Pulling the maps from under a running daemon leaves one that
			// can no longer be managed (stats, blocklist, detach).
			if pid := pipeline.DaemonPID(g.pinDir); pid != 0 && !force {
				who := fmt.Sprintf("pid %d", pid)
				if pid < 0 {
					who = "pid unknown"
				}
				return fmt.Errorf("xdpsensor run (%s) is using %s: stop it first (it detaches when it exits), or detach anyway with --force", who, g.pinDir)
			}
			if err := loader.Unpin(g.pinDir); err != nil {
				return fmt.Errorf("removing %s: %w", g.pinDir, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", g.pinDir)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "detach even while a daemon runs on the pin directory")
	return cmd
}

func endpoint(e event.Endpoint) string {
	if e.Port == 0 {
		return e.IP.String()
	}
	if e.IP.Is6() {
		return fmt.Sprintf("[%s]:%d", e.IP, e.Port)
	}
	return fmt.Sprintf("%s:%d", e.IP, e.Port)
}

// flagString prints TCP flags as SANCP and tcpdump readers expect: CEUAPRSF.
func flagString(f uint8) string {
	const letters = "FSRPAUEC"
	b := []byte("--------")
	for i := 0; i < 8; i++ {
		if f&(1<<i) != 0 {
			b[7-i] = letters[i]
		}
	}
	return string(b)
}

// listed says which ends are listed, and by which rules (gid:sid:rev).
func listed(f *event.Flow) string {
	var ends string
	switch {
	case f.ClientListed && f.ServerListed:
		ends = "both"
	case f.ClientListed:
		ends = "client"
	case f.ServerListed:
		ends = "server"
	default:
		return "-"
	}
	for i, r := range f.Rules {
		sep := ","
		if i == 0 {
			sep = " "
		}
		ends += fmt.Sprintf("%s%d:%d:%d", sep, r.GID, r.SID, r.Rev)
	}
	return ends
}

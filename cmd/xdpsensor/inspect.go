package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/ringbuf"
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
			dec := &flowtable.Decoder{Clock: live.Clock, Rules: &ringbuf.KernelRules{Map: maps.Rules}, Zones: zones.VLANs, Tunnel: zones.Tunnel}
			flows, err := flowtable.Snapshot(maps, dec)
			if err != nil {
				return err
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

func listed(f *event.Flow) string {
	switch {
	case f.ClientListed && f.ServerListed:
		return "both"
	case f.ClientListed:
		return "client"
	case f.ServerListed:
		return "server"
	}
	return "-"
}

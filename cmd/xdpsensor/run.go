package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/userspace/pipeline"
)

func newRunCommand(g *globalFlags) *cobra.Command {
	var sf sensorFlags
	var ifaces []string
	var mode string
	var monitor, hostMode, keep, frags bool
	var netnsName, metricsAddr string
	cmd := &cobra.Command{
		Use:   "run --iface IF [--iface IF2] --blocklist FILE... --out DIR",
		Short: "Watch interfaces live: alerts and flow records to DIR/eve.json until SIGINT/SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			xm, err := loader.ParseXDPMode(mode)
			if err != nil {
				return err
			}
			// SIGHUP reopens the output files (logrotate moved them).
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			reopen := make(chan struct{}, 1)
			go func() {
				for range hup {
					select {
					case reopen <- struct{}{}:
					default:
					}
				}
			}()
			cfg, err := sf.config(log)
			if err != nil {
				return err
			}
			sum, err := pipeline.Live(cmd.Context(), pipeline.LiveConfig{
				Reopen:       reopen,
				Config:       cfg,
				Interfaces:   ifaces,
				XDPMode:      xm,
				MonitorPort:  monitor,
				PinDir:       g.pinDir,
				HostMode:     hostMode,
				Netns:        netnsName,
				KeepAttached: keep,
				MetricsAddr:  metricsAddr,
				Frags:        frags,
			})
			if err != nil && sum.Kernel.Packets == 0 {
				return err
			}
			// After an error too, once packets were seen: what it did and
			// lost before it is said.
			line := fmt.Sprintf("stopped: %d alerts, %d flow records written to %s; %s",
				sum.Alerts, sum.Flows, sum.OutDir, pipeline.FormatLosses(sum.Losses))
			if s := pipeline.FormatInNoFlow(pipeline.InNoFlow(&sum.Kernel)); s != "" {
				line += "; " + s
			}
			fmt.Fprintln(cmd.OutOrStdout(), line)
			return err
		},
	}
	sf.register(cmd, "/var/log/xdpsensor")
	cmd.Flags().StringArrayVarP(&ifaces, "iface", "i", nil, "interface to watch (repeatable: tap pairs feed one flow table)")
	cmd.Flags().StringVar(&mode, "xdp-mode", "auto", "XDP attach mode: auto (native, else generic), native or generic")
	cmd.Flags().BoolVar(&monitor, "monitor-port", false, "the interface is a dedicated SPAN/tap port: drop frames after recording them")
	cmd.Flags().BoolVar(&keep, "keep-attached", false, "leave the program attached when the daemon exits or dies; the next run adopts it and loses nothing (`xdpsensor detach` removes it)")
	cmd.Flags().BoolVar(&frags, "xdp-frags", false, "load the program for multi-buffer frames (NICs with a jumbo MTU)")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus metrics at host:port (/metrics)")
	cmd.Flags().StringVar(&netnsName, "netns", "", "network namespace of the interfaces (a name under /var/run/netns, or a path)")
	cmd.Flags().BoolVar(&hostMode, "host-mode", false, "also watch what this host sends (TC egress), for a sensor on a host's own NIC")
	return cmd
}

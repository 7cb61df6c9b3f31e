package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/xdpsensor/xdpsensor/userspace/console"
)

func newUICommand(g *globalFlags) *cobra.Command {
	var cfg console.Config
	cmd := &cobra.Command{
		Use:   "ui [--dir DIR] [--addr 127.0.0.1:8080] [--token T] [--tls-cert F --tls-key F [--tls-client-ca F]]",
		Short: "Serve the analyst's console: alerts, their sessions and full content in a browser (read-only)",
		Long: `ui serves a read-only web console over a sensor's output directory (run or
replay --out): the alerts, newest first and live as eve.json grows; from an
alert its session (who sent the first packet, packets, bytes and flags each
way, Zeek's state and history, the label) and the host's other sessions;
the flow's packets decoded as tcpdump prints them, and as a pcap download.

Pages have stable URLs for tickets: / (alerts), /alerts/ID, /alerts/ID.pcap,
/flows/FLOW_ID, /hosts/ADDRESS.

It listens on 127.0.0.1 by default. Any other address needs a token
(--token, or the ` + console.TokenEnv + ` environment variable, which ps does
not show) or client certificates (--tls-client-ca); open /?token=TOKEN once
and the browser keeps it in a cookie.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if cfg.Token == "" {
				cfg.Token = os.Getenv(console.TokenEnv)
			}
			cfg.PinDir, cfg.Logger = g.pinDir, log
			srv, err := console.New(cfg)
			if err != nil {
				return err
			}
			return srv.ListenAndServe(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Dir, "dir", defaultLogDir, "the sensor's output directory: eve.json, conn.log, pcap/")
	fl.StringVar(&cfg.Addr, "addr", console.DefaultAddr, "address to listen on; beyond loopback a token or client certificates are required")
	fl.StringVar(&cfg.Token, "token", "", "a secret every request must carry (default: $"+console.TokenEnv+")")
	fl.StringVar(&cfg.TLSCert, "tls-cert", "", "serve HTTPS with this certificate (PEM)")
	fl.StringVar(&cfg.TLSKey, "tls-key", "", "the certificate's key (PEM)")
	fl.StringVar(&cfg.ClientCA, "tls-client-ca", "", "require client certificates signed by this CA (PEM)")
	fl.DurationVar(&cfg.Window, "window", console.DefaultWindow, "an alert page lists the host's sessions this long before and after the alert")
	fl.IntVar(&cfg.MaxAlerts, "max-alerts", console.DefaultMaxAlerts, "alerts held in memory (the newest)")
	fl.IntVar(&cfg.MaxFlows, "max-flows", console.DefaultMaxFlows, "flow records held in memory: past it the oldest without alerts or listed addresses are forgotten first")
	return cmd
}

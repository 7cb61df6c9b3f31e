package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/capture"
	"github.com/xdpsensor/xdpsensor/userspace/classification"
	"github.com/xdpsensor/xdpsensor/userspace/fleet"
	"github.com/xdpsensor/xdpsensor/userspace/pipeline"
)

// natsFlags are every --nats* flag, registered here for run, replay,
// `blocklist publish` and `fleet`.
type natsFlags struct {
	url, creds, nkey, user, password string
	tlsCA, tlsCert, tlsKey           string
	stream, bucket                   string

	// run and replay only
	maxAge       time.Duration
	maxBytes     string
	replicas     int
	dedupWindow  time.Duration
	spoolSize    string
	drainTimeout time.Duration
}

// registerConn adds the connection flags and the stream and bucket names.
func (n *natsFlags) registerConn(fl *pflag.FlagSet) {
	fl.StringVar(&n.url, "nats", "", "NATS server URL(s), comma-separated (nats://host:4222, tls://...; user:password@ may be in them)")
	fl.StringVar(&n.creds, "nats-creds", "", "NATS credentials file (JWT and NKey seed)")
	fl.StringVar(&n.nkey, "nats-nkey", "", "file holding a NATS user NKey seed")
	fl.StringVar(&n.user, "nats-user", "", "NATS user name")
	fl.StringVar(&n.password, "nats-password", "", "NATS password (prefer --config or the URL: the command line is visible to other users)")
	fl.StringVar(&n.tlsCA, "nats-tls-ca", "", "CA certificate(s) that verify the NATS server (PEM)")
	fl.StringVar(&n.tlsCert, "nats-tls-cert", "", "client certificate for NATS servers that ask for one (PEM, with --nats-tls-key)")
	fl.StringVar(&n.tlsKey, "nats-tls-key", "", "the client certificate's key (PEM)")
	fl.StringVar(&n.stream, "nats-stream", fleet.DefaultStream, "JetStream stream of the fleet's events (subjects xdpsensor.>)")
	fl.StringVar(&n.bucket, "nats-bucket", fleet.DefaultBucket, "JetStream key-value bucket of the fleet's blocklist")
}

// registerSensor adds the connection flags and what a publishing sensor
// needs: the stream's retention (for a stream it creates) and the spool.
func (n *natsFlags) registerSensor(fl *pflag.FlagSet) {
	n.registerConn(fl)
	fl.DurationVar(&n.maxAge, "nats-max-age", fleet.DefaultMaxAge, "retention of a stream created here: drop events older than this (0: no limit)")
	fl.StringVar(&n.maxBytes, "nats-max-bytes", "0", "retention of a stream created here: drop the oldest events past this size (e.g. 50G; 0: no limit)")
	fl.IntVar(&n.replicas, "nats-replicas", 1, "replicas of a stream and bucket created here (3 on a three-node cluster)")
	fl.DurationVar(&n.dedupWindow, "nats-dedup-window", fleet.DefaultDedupWindow, "how long the stream drops a re-sent event as a duplicate")
	fl.StringVar(&n.spoolSize, "nats-spool-size", "256M", "bound of OUT/spool, where events wait while NATS is away; what does not fit is counted (fleet_spool_dropped)")
	fl.DurationVar(&n.drainTimeout, "nats-drain-timeout", fleet.DefaultDrainTimeout, "at exit, wait this long for the spool to be sent (the rest goes on the next start)")
}

func (n *natsFlags) conn(name string) fleet.ConnOptions {
	return fleet.ConnOptions{URL: n.url, Creds: n.creds, NKeySeed: n.nkey, User: n.user, Password: n.password,
		TLSCA: n.tlsCA, TLSCert: n.tlsCert, TLSKey: n.tlsKey, Name: name}
}

// apply sets cfg.Fleet when --nats is given; the sensor name then
// defaults to the host name (the subject token, and EVE's host field in
// eve.json and the stream alike).
func (n *natsFlags) apply(cfg *pipeline.Config) error {
	if n.url == "" {
		return nil
	}
	maxBytes, err := capture.ParseSize(n.maxBytes)
	if err != nil || maxBytes < 0 {
		return fmt.Errorf("--nats-max-bytes %q: want a size like 50G, or 0", n.maxBytes)
	}
	spool, err := capture.ParseSize(n.spoolSize)
	if err != nil || spool <= 0 {
		return fmt.Errorf("--nats-spool-size %q: want a size like 256M", n.spoolSize)
	}
	if n.replicas < 1 || n.replicas > 5 {
		return fmt.Errorf("--nats-replicas %d: want 1 to 5", n.replicas)
	}
	if cfg.SensorName == "" {
		cfg.SensorName = fleet.DefaultSensorName()
	}
	maxAge := n.maxAge
	if maxAge == 0 {
		maxAge = -1 // no limit
	}
	cfg.Fleet = &fleet.Config{
		Conn:       n.conn("xdpsensor " + cfg.SensorName),
		SensorName: cfg.SensorName,
		Stream: fleet.StreamOptions{Name: n.stream, MaxAge: maxAge, MaxBytes: maxBytes, Replicas: n.replicas,
			DedupWindow: n.dedupWindow},
		Bucket:       n.bucket,
		SpoolSize:    spool,
		DrainTimeout: n.drainTimeout,
	}
	return nil
}

// connect dials NATS for a command-line tool, logging at --log-level: an
// unreachable server is an error, not a wait.
func (n *natsFlags) connect(g *globalFlags) (*nats.Conn, error) {
	log, err := g.logger()
	if err != nil {
		return nil, err
	}
	if n.url == "" {
		return nil, errors.New("--nats URL is required")
	}
	return fleet.Connect(n.conn("xdpsensor cli"), log, false)
}

func newBlocklistPublish(g *globalFlags) *cobra.Command {
	var nf natsFlags
	var format string
	var replicas int
	cmd := &cobra.Command{
		Use:   "publish FILE... --nats URL",
		Short: "Publish the fleet's blocklist: validated like `load`, stored in NATS; every sensor run with --nats installs it",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			start := time.Now()
			if nf.url == "" {
				return errors.New("--nats URL is required")
			}
			inputs, err := readInputs(files)
			if err != nil {
				return err
			}
			// The same parser, table and messages as `blocklist load`:
			// a bad line publishes nothing.
			list, err := blocklist.LoadInputs(inputs, blocklist.Options{Format: format, Classes: classification.Standard()})
			if err != nil {
				return fmt.Errorf("blocklist rejected, nothing published:\n%w", err)
			}
			warnings(cmd.ErrOrStderr(), list.Warnings)
			c, err := nf.connect(g)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 60*time.Second)
			defer cancel()
			rev, err := fleet.PublishBlocklist(ctx, c, inputs, fleet.PublishOptions{
				Bucket: nf.bucket, Format: format, Publisher: fleet.DefaultSensorName(), Replicas: replicas})
			if err != nil {
				return err
			}
			var v4, v6, p4, p6 int
			for _, e := range list.Entries {
				switch {
				case e.Exact() && e.Prefix.Addr().Is4():
					v4++
				case e.Exact():
					v6++
				case e.Prefix.Addr().Is4():
					p4++
				default:
					p6++
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "published kv revision %d to bucket %s: %d files, %d rules, %d IPv4 and %d IPv6 addresses, %d IPv4 and %d IPv6 prefixes in %v\n",
				rev, nf.bucket, len(inputs), len(list.Rules), v4, v6, p4, p6, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	nf.registerConn(cmd.Flags())
	cmd.Flags().StringVar(&format, "format", "auto", "file format (auto detects per file; sensors read it the same way)")
	cmd.Flags().IntVar(&replicas, "nats-replicas", 1, "replicas of the bucket when it is created here")
	return cmd
}

// readInputs reads the files for publishing; a file that cannot be read
// is reported as `blocklist load` reports it.
func readInputs(files []string) ([]blocklist.Input, error) {
	var inputs []blocklist.Input
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			_, lerr := blocklist.Load(files, blocklist.Options{})
			if lerr == nil {
				lerr = err
			}
			return nil, fmt.Errorf("blocklist rejected, nothing published:\n%w", lerr)
		}
		inputs = append(inputs, blocklist.Input{Name: f, Data: data})
	}
	return inputs, nil
}

func newFleetCommand(g *globalFlags) *cobra.Command {
	var nf natsFlags
	var since time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "fleet --nats URL [--since 5m] [--json]",
		Short: "The sensors that published recently: last seen, blocklist generation and revision, rates, losses (from their stats events)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := nf.connect(g)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			sensors, err := fleet.ListSensors(ctx, c, nf.stream, since)
			if err != nil {
				return err
			}
			return printFleet(cmd.OutOrStdout(), sensors, time.Now(), asJSON)
		},
	}
	nf.registerConn(cmd.Flags())
	cmd.Flags().DurationVar(&since, "since", 5*time.Minute, "sensors whose stats events arrived within this long")
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per sensor, with every counter and rate")
	return cmd
}

func printFleet(w io.Writer, sensors []fleet.SensorStatus, now time.Time, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, s := range sensors {
			if err := enc.Encode(s); err != nil {
				return err
			}
		}
		return nil
	}
	if len(sensors) == 0 {
		fmt.Fprintln(w, "no sensor published stats events in that time")
		return nil
	}
	rate := func(s *fleet.SensorStatus, leaves ...string) string {
		if v, ok := s.Rate(leaves...); ok {
			return fmt.Sprintf("%.1f", v)
		}
		return "-"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SENSOR\tLAST SEEN\tBLOCKLIST\tPKTS/S\tALERTS/S\tFLOWS/S\tTO NATS/S\tLOSSES")
	for i := range sensors {
		s := &sensors[i]
		bl := "local"
		if rev := s.BlocklistRevision(); rev > 0 {
			bl = fmt.Sprintf("gen %d, kv revision %d", s.BlocklistGeneration(), rev)
		}
		losses := "0"
		if l := s.Losses(); len(l) > 0 {
			var parts []string
			for name, v := range l {
				parts = append(parts, fmt.Sprintf("%s %d", name, v))
			}
			slices.Sort(parts)
			losses = strings.Join(parts, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s ago\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Sensor, now.Sub(s.LastSeen).Round(time.Second), bl,
			rate(s, "packets", "pkts"), rate(s, "alerts"), rate(s, "flows"), rate(s, "events_published"), losses)
	}
	return tw.Flush()
}

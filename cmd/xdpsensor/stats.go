package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
)

// The stats loop's clock, replaced by tests to run frames between reads.
var (
	statsNow   = time.Now
	statsSleep = func(ctx context.Context, d time.Duration) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
)

// statsSample is one reading of the kernel counters.
type statsSample struct {
	at       time.Time
	counters []abi.Counter // sensor_stats, then daemon_stats, in C order
	gen      uint32        // blocklist generation (a gauge: no rate)
}

func readStatsSample(maps *abi.BpfMaps) (statsSample, error) {
	st, err := maps.ReadStats()
	if err != nil {
		return statsSample{}, err
	}
	counters, err := abi.Counters(&st)
	if err != nil {
		return statsSample{}, err
	}
	// The daemon's counters: what it wrote and what it could not.
	ds, err := maps.ReadDaemonStats()
	if err != nil {
		return statsSample{}, err
	}
	daemon, err := abi.DaemonCounters(&ds)
	if err != nil {
		return statsSample{}, err
	}
	counters = append(counters, daemon...)
	cfg, err := maps.ReadConfig()
	if err != nil {
		return statsSample{}, err
	}
	return statsSample{at: statsNow(), counters: counters, gen: cfg.Generation}, nil
}

func newStatsCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	var interval time.Duration
	var count int
	cmd := &cobra.Command{
		Use:   "stats [--json] [--interval 1s] [--count N]",
		Short: "Print the running sensor's counters (kernel, summed over CPUs, and daemon), with per-second rates over --interval",
		Long: `Print the running sensor's counters: the kernel's, summed over CPUs,
then the daemon's (records written, and every record or frame it could not
write, by reason).

Without --interval or --count: one snapshot of the counters (and the
blocklist generation); --json prints them as one flat JSON object.

With --interval D (default 1s once --count is given): read, wait D, read
again and print every counter with its per-second rate over that time;
--count N prints N such reports, each over the D before it (0: until
SIGINT/SIGTERM). --json prints one object per report, one per line:
  {"counters":{"packets":10,...},"rates":{"packets":2.5,...},"interval_seconds":1}
where interval_seconds is the time measured between the two reads.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rates := cmd.Flags().Changed("interval") || cmd.Flags().Changed("count")
			if interval <= 0 {
				return fmt.Errorf("--interval %s: want a positive duration like 1s or 500ms", interval)
			}
			if count < 0 {
				return fmt.Errorf("--count %d: want 0 (until interrupted) or more", count)
			}
			maps, err := loader.OpenPinned(g.pinDir)
			if err != nil {
				return err
			}
			defer maps.Close()
			out := cmd.OutOrStdout()
			prev, err := readStatsSample(maps)
			if err != nil {
				return err
			}
			if !rates {
				return printSnapshot(out, prev, asJSON)
			}
			for n := 0; count == 0 || n < count; n++ {
				if err := statsSleep(cmd.Context(), interval); err != nil {
					if errors.Is(err, context.Canceled) {
						return nil // SIGINT/SIGTERM: a clean stop
					}
					return err
				}
				cur, err := readStatsSample(maps)
				if err != nil {
					return err
				}
				if !asJSON && n > 0 {
					fmt.Fprintln(out)
				}
				if err := printRates(out, prev, cur, asJSON); err != nil {
					return err
				}
				prev = cur
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON: one flat object of counters; with --interval/--count one object per report and line")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "print per-second rates over this interval")
	cmd.Flags().IntVar(&count, "count", 1, "with --interval: reports to print (0: until SIGINT/SIGTERM)")
	return cmd
}

// printSnapshot is the single reading: `name value` lines, or one flat
// JSON object whose keys are the counters (scripts rely on this form).
func printSnapshot(out io.Writer, s statsSample, asJSON bool) error {
	if asJSON {
		m := map[string]uint64{"blocklist_generation": uint64(s.gen)}
		for _, c := range s.counters {
			m[c.Name] = c.Value
		}
		return json.NewEncoder(out).Encode(m)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, c := range s.counters {
		fmt.Fprintf(tw, "%s\t%d\t\n", c.Name, c.Value)
	}
	fmt.Fprintf(tw, "blocklist_generation\t%d\t\n", s.gen)
	return tw.Flush()
}

// statsReport is the JSON form of one report.
type statsReport struct {
	Counters        map[string]uint64  `json:"counters"`
	Rates           map[string]float64 `json:"rates"`
	IntervalSeconds float64            `json:"interval_seconds"`
}

// printRates prints cur with each counter's per-second rate since prev.
// A counter that went down (the sensor restarted with new maps) is rated
// from zero.
func printRates(out io.Writer, prev, cur statsSample, asJSON bool) error {
	secs := cur.at.Sub(prev.at).Seconds()
	rate := func(i int) float64 {
		if secs <= 0 {
			return 0
		}
		before := prev.counters[i].Value
		if cur.counters[i].Value < before {
			before = 0
		}
		return float64(cur.counters[i].Value-before) / secs
	}
	if asJSON {
		r := statsReport{
			Counters:        map[string]uint64{"blocklist_generation": uint64(cur.gen)},
			Rates:           map[string]float64{},
			IntervalSeconds: math.Round(secs*1000) / 1000,
		}
		for i, c := range cur.counters {
			r.Counters[c.Name] = c.Value
			r.Rates[c.Name] = rate(i)
		}
		return json.NewEncoder(out).Encode(r)
	}
	rows := [][3]string{{"counter", "value", "rate/s"}}
	for i, c := range cur.counters {
		rows = append(rows, [3]string{c.Name, strconv.FormatUint(c.Value, 10), strconv.FormatFloat(rate(i), 'f', 1, 64)})
	}
	rows = append(rows, [3]string{"blocklist_generation", strconv.FormatUint(uint64(cur.gen), 10), "-"})
	var w [3]int
	for _, r := range rows {
		for j := range r {
			w[j] = max(w[j], len(r[j]))
		}
	}
	fmt.Fprintf(out, "# %s, rates over %.3fs\n", cur.at.Format(time.RFC3339), secs)
	for _, r := range rows {
		// Names left, numbers right.
		if _, err := fmt.Fprintf(out, "%-*s  %*s  %*s\n", w[0], r[0], w[1], r[1], w[2], r[2]); err != nil {
			return err
		}
	}
	return nil
}

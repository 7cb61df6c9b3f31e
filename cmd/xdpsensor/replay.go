package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/xdpsensor/xdpsensor/userspace/pipeline"
)

func newReplayCommand(g *globalFlags) *cobra.Command {
	var sf sensorFlags
	var perFrame bool
	cmd := &cobra.Command{
		Use:   "replay --blocklist FILE... --out DIR CAPTURE.pcap|pcapng...",
		Short: "Run captures through the same kernel program (BPF_PROG_TEST_RUN) on their own clock; same outputs as run",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			cfg, err := sf.config(log)
			if err != nil {
				return err
			}
			cfg.ReplayPerFrame = perFrame
			preferHugePages(256 << 20)
			sum, err := pipeline.Replay(cmd.Context(), cfg, files)
			if err != nil {
				if sum.Packets > 0 {
					// What it did and lost before the error is said too.
					fmt.Fprint(cmd.OutOrStdout(), replaySummary(&sum))
				}
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), replaySummary(&sum))
			if n := sum.Kernel.AlertsSuppressed; n > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d matching packets held back by rule thresholds\n", n)
			}
			return nil
		},
	}
	sf.register(cmd, "xdpsensor-out")
	// The benchmarks compare batched replay with one call per frame.
	cmd.Flags().BoolVar(&perFrame, "per-frame", false, "run each frame with its own BPF_PROG_TEST_RUN (slower; for comparison)")
	cmd.Flags().MarkHidden("per-frame")
	cmd.Flags().Lookup("ring-size").DefValue = "4194304"
	_ = cmd.Flags().Set("ring-size", "4194304")
	return cmd
}

// replaySummary is the line a replay ends with: what it wrote and lost
// and, when there are any, the frames it skipped and the problems
// reading the captures (each logged), so that nothing left out of the
// outputs goes unsaid.
func replaySummary(sum *pipeline.Summary) string {
	line := fmt.Sprintf("replayed %d packets: %d alerts, %d flow records written to %s; %s",
		sum.Packets, sum.Alerts, sum.Flows, sum.OutDir, pipeline.FormatLosses(sum.Losses))
	var skipped []string
	if n := sum.NotEthernet; n > 0 {
		skipped = append(skipped, fmt.Sprintf("%d %s not readable as Ethernet", n, plural(n, "record")))
	}
	if n := sum.Skipped; n > 0 {
		skipped = append(skipped, fmt.Sprintf("%d %s the kernel program could not run", n, plural(n, "frame")))
	}
	if len(skipped) > 0 {
		line += "; skipped: " + strings.Join(skipped, ", ")
	}
	if n := sum.Cut; n > 0 {
		line += fmt.Sprintf("; %d %s longer than %d bytes run cut to that length (BIG TCP; counted whole)", n, plural(n, "frame"), pipeline.LongestRunnable)
	}
	if s := pipeline.FormatInNoFlow(pipeline.InNoFlow(&sum.Kernel)); s != "" {
		line += "; " + s
	}
	if n := len(sum.Problems); n > 0 {
		line += fmt.Sprintf("; %d %s reading the captures (logged)", n, plural(uint64(n), "problem"))
	}
	return line + "\n"
}

func plural(n uint64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

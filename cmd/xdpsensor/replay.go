package main

import (
	"fmt"

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
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "replayed %d packets: %d alerts, %d flow records written to %s; %s\n",
				sum.Packets, sum.Alerts, sum.Flows, sum.OutDir, pipeline.FormatLosses(sum.Losses))
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

package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/xdpsensor/xdpsensor/userspace/capture"
)

func newPcapCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pcap",
		Short: "Look at capture files (the pcap ring's or any pcap/pcapng)",
		Args:  cobra.NoArgs,
	}
	var utc bool
	info := &cobra.Command{
		Use:   "info [--utc] FILE...",
		Short: "Sum up captures like capinfos: packets, sizes, duration, first/last packet, rates, interfaces and drops",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			loc := time.Local
			if utc {
				loc = time.UTC
			}
			out := cmd.OutOrStdout()
			var errs []error
			for i, f := range files {
				fi, err := capture.Info(f)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if i > 0 {
					fmt.Fprintln(out)
				}
				if err := fi.WriteText(out, loc); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
	info.Flags().BoolVar(&utc, "utc", false, "show packet times in UTC (default: local time, like capinfos)")
	cmd.AddCommand(info)
	return cmd
}

// Command xdpsensor is a network security monitoring sensor: an XDP
// program matches traffic against C&C blocklists and keeps per-flow TCP
// flag counts in the kernel; this daemon writes alerts and session records.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Background jobs start with SIGINT ignored, so SIGTERM stops us too.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errNotListed) { // check already said so
			fmt.Fprintf(os.Stderr, "xdpsensor: %+v\n", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

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
	"time"
)

func main() {
	// Background jobs start with SIGINT ignored, so SIGTERM stops us too.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go exitWhenStuck(ctx, os.Args[1:])
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errNotListed) { // check already said so
			fmt.Fprintf(os.Stderr, "xdpsensor: %+v\n", err)
		}
		os.Exit(1)
	}
}

// stuckGrace is how long a command other than run may take to stop after
// SIGINT or SIGTERM before it is ended anyway.
const stuckGrace = 2 * time.Second

// exitWhenStuck ends the process when a command does not stop in time
// after SIGINT/SIGTERM: every command stops on its context, but a system
// call that cannot be interrupted (open(2) of a FIFO, a hung mount) must
// not leave it hanging until SIGKILL. run gets no deadline (it writes its
// open flows), but a second signal ends it too.
func exitWhenStuck(ctx context.Context, args []string) {
	<-ctx.Done()
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	var deadline <-chan time.Time
	if cmd, _, err := newRootCommand().Find(args); err != nil || cmd.Name() != "run" {
		deadline = time.After(stuckGrace)
	}
	select {
	case <-again:
	case <-deadline:
	}
	fmt.Fprintln(os.Stderr, "xdpsensor: interrupted")
	os.Exit(130)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

package pipeline

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpsensor/xdpsensor/loader"
)

// LiveSource is the program attached to interfaces; the kernel clock is
// CLOCK_MONOTONIC.
type LiveSource struct {
	// mu guards Attachments and Egress once the interface watcher runs.
	mu          sync.Mutex
	Attachments []*loader.Attachment
	Egress      []*loader.EgressAttachment // host mode
	// Poll is how long a drain blocks before the flow tracker runs.
	Poll time.Duration
}

// Feed has nothing to feed: packets arrive by themselves.
func (l *LiveSource) Feed(ctx context.Context) (uint64, bool, error) {
	return monotonicNow(), ctx.Err() != nil, nil
}

// Wait blocks on the ring for up to Poll.
func (l *LiveSource) Wait() time.Duration {
	if l.Poll > 0 {
		return l.Poll
	}
	return 100 * time.Millisecond
}

// Clock converts CLOCK_MONOTONIC ns to wall time with the current offset.
func (l *LiveSource) Clock(ns uint64) time.Time {
	now := time.Now()
	return now.Add(-time.Duration(int64(monotonicNow()) - int64(ns))).UTC()
}

// Stop detaches from every interface.
func (l *LiveSource) Stop() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, a := range l.Attachments {
		errs = append(errs, a.Close())
	}
	for _, e := range l.Egress {
		errs = append(errs, e.Close())
	}
	l.Attachments, l.Egress = nil, nil
	return errors.Join(errs...)
}

func monotonicNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

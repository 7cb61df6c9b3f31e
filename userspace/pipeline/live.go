package pipeline

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
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
	// offset turns CLOCK_MONOTONIC into wall time, measured once per
	// Feed: a clock_gettime per timestamp costs more than the record.
	offset atomic.Int64
}

// Feed has nothing to feed: packets arrive by themselves.
func (l *LiveSource) Feed(ctx context.Context) (uint64, bool, error) {
	mono := monotonicNow()
	l.offset.Store(time.Now().UnixNano() - int64(mono))
	return mono, ctx.Err() != nil, nil
}

// Quiescent: packets arrive at any time.
func (l *LiveSource) Quiescent() bool { return false }

// Wait blocks on the ring for up to Poll.
func (l *LiveSource) Wait() time.Duration {
	if l.Poll > 0 {
		return l.Poll
	}
	return 100 * time.Millisecond
}

// Clock converts CLOCK_MONOTONIC ns to wall time with the offset of the
// last Feed.
func (l *LiveSource) Clock(ns uint64) time.Time {
	off := l.offset.Load()
	if off == 0 {
		off = time.Now().UnixNano() - int64(monotonicNow())
		l.offset.Store(off)
	}
	return time.Unix(0, int64(ns)+off).UTC()
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

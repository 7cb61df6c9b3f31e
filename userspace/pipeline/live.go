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
	// offset turns CLOCK_MONOTONIC into wall time: a clock_gettime per
	// timestamp costs more than the record. It is measured on every Feed
	// but only taken when the wall clock stepped (see offsetStep): the
	// same packet time must give the same wall time in the alert, the
	// pcap record and the flow record, to the microsecond, whichever
	// round converts it, and two measurements differ by the time between
	// their two clock reads.
	offset atomic.Int64
}

// offsetStep is how far the measured monotonic-to-wall offset must move
// before it is taken: a step of the wall clock (settimeofday, an NTP
// step). NTP's slewing moves CLOCK_MONOTONIC with the wall clock, so it
// does not move the offset.
const offsetStep = time.Millisecond

// Feed has nothing to feed: packets arrive by themselves.
func (l *LiveSource) Feed(ctx context.Context) (uint64, bool, error) {
	mono := monotonicNow()
	measured := time.Now().UnixNano() - int64(mono)
	if cur := l.offset.Load(); cur == 0 || abs(measured-cur) > int64(offsetStep) {
		l.offset.Store(measured)
	}
	return mono, ctx.Err() != nil, nil
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
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

// Clock converts CLOCK_MONOTONIC ns to wall time with the offset in use.
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

package ringbuf

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	ciliumringbuf "github.com/cilium/ebpf/ringbuf"
)

// ErrFlushed ends a read after Flush once every record before it was handed over.
var ErrFlushed = ciliumringbuf.ErrFlushed

// Reader reads raw records from the event ring, reusing one buffer.
type Reader struct {
	rd  *ciliumringbuf.Reader
	rec ciliumringbuf.Record
}

// NewReader opens the ring.
func NewReader(events *ebpf.Map) (*Reader, error) {
	rd, err := ciliumringbuf.NewReader(events)
	if err != nil {
		return nil, fmt.Errorf("opening event ring: %w", err)
	}
	return &Reader{rd: rd}, nil
}

// ReadUntil hands records to fn until deadline passes (it returns nil,
// with records possibly left for the next call: a storm must not keep the
// caller from its other work) or a Flush was consumed (it returns
// ErrFlushed). The slice passed to fn is only valid during the call.
func (r *Reader) ReadUntil(deadline time.Time, fn func(raw []byte) error) error {
	return r.read(deadline, true, fn)
}

// Drain hands every record the ring holds now to fn, without waiting for
// more.
func (r *Reader) Drain(fn func(raw []byte) error) error {
	return r.read(time.Now(), false, fn)
}

// read hands records to fn until the ring is empty at deadline, or, when
// bounded, until deadline passes.
func (r *Reader) read(deadline time.Time, bounded bool, fn func(raw []byte) error) error {
	r.rd.SetDeadline(deadline)
	for n := 0; ; n++ {
		if bounded && n&255 == 255 && time.Now().After(deadline) {
			return nil
		}
		err := r.rd.ReadInto(&r.rec)
		switch {
		case err == nil:
			if err := fn(r.rec.RawSample); err != nil {
				return err
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil
		case errors.Is(err, ciliumringbuf.ErrFlushed):
			return ErrFlushed
		default:
			return fmt.Errorf("reading event ring: %w", err)
		}
	}
}

// Flush makes a blocked or later ReadUntil return what the ring holds, then ErrFlushed.
func (r *Reader) Flush() error { return r.rd.Flush() }

// Pending is the number of unread bytes in the ring.
func (r *Reader) Pending() int { return r.rd.AvailableBytes() }

// Close releases the ring.
func (r *Reader) Close() error { return r.rd.Close() }

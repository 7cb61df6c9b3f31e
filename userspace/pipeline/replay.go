package pipeline

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"io"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/userspace/capture"
)

// ReplaySource runs each packet of capture files through the very same
// kernel program with BPF_PROG_TEST_RUN, on the capture's clock: a Feed's
// frames with one call (loader.BatchRunner), frames too large for it one
// call each (loader.FrameRunner), in capture order.
type ReplaySource struct {
	Program *ebpf.Program
	// Batcher runs many frames per call; nil runs each frame alone.
	Batcher *loader.BatchRunner
	Files   []string
	// Batch is how many packets one Feed runs before the ring is drained
	// (at most loader.FeedBatch with a Batcher).
	Batch int

	runner  *loader.FrameRunner
	cur     *capture.Reader
	file    int
	buf     []byte
	now     uint64
	Packets uint64
	read    uint64 // packets read, all files
	Skipped uint64 // frames BPF_PROG_TEST_RUN refuses: shorter than Ethernet, longer than ~64 KB
	// Problems are what could not be read, "file: record N: ...": a file
	// cut short or with a corrupt record is replayed up to that record.
	Problems []string
}

// Feed runs up to Batch packets.
func (r *ReplaySource) Feed(ctx context.Context) (uint64, bool, error) {
	batch := r.Batch
	if batch <= 0 {
		batch = 1024
	}
	if r.Batcher != nil {
		batch = min(batch, loader.FeedBatch)
	}
	for i := 0; i < batch; i++ {
		if ctx.Err() != nil {
			return r.now, true, r.flushBatch()
		}
		if r.cur == nil {
			if r.file >= len(r.Files) {
				return r.now, true, r.flushBatch()
			}
			rd, err := capture.Open(r.Files[r.file])
			r.file++
			if err != nil {
				r.Problems = append(r.Problems, err.Error())
				continue // the other files may be fine
			}
			r.cur = rd
		}
		pkt, err := r.cur.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.Problems = append(r.Problems, err.Error()+": the rest of the file was not read")
			}
			r.endFile()
			continue
		}
		if err := r.run(pkt); err != nil {
			return r.now, false, err
		}
	}
	return r.now, false, r.flushBatch()
}

// flushBatch runs the frames the batch holds.
func (r *ReplaySource) flushBatch() error {
	if r.Batcher == nil || r.Batcher.Len() == 0 {
		return nil
	}
	n := r.Batcher.Len()
	if err := r.Batcher.Run(); err != nil {
		return err
	}
	r.Packets += uint64(n)
	return nil
}

// endFile notes how the current file ended and closes it.
func (r *ReplaySource) endFile() {
	if cut := r.cur.Cut(); cut != "" {
		r.Problems = append(r.Problems, cut)
	}
	notes, total := r.cur.Notes()
	r.Problems = append(r.Problems, notes...)
	if total > len(notes) {
		r.Problems = append(r.Problems, fmt.Sprintf("... and %d more records with such problems", total-len(notes)))
	}
	r.cur.Close()
	r.cur = nil
}

func (r *ReplaySource) run(pkt capture.Packet) error {
	// Suricata's pcap_cnt: the packet's number among all read in this run.
	r.read++
	if len(pkt.Data) < 14 {
		// BPF_PROG_TEST_RUN refuses frames without an Ethernet header.
		r.Skipped++
		return nil
	}
	ts := uint64(pkt.Time.UnixNano())
	if ts > r.now {
		r.now = ts
	}
	// Metadata first: the capture time, and the length on the wire, by
	// which a frame cut by the capture's snap length is counted.
	wire := uint32(len(pkt.Data))
	if !pkt.Synthetic && pkt.OrigLen > len(pkt.Data) {
		wire = uint32(pkt.OrigLen)
	}
	if r.Batcher != nil {
		if r.Batcher.Add(ts, wire, uint32(r.read), pkt.Data) {
			return nil
		}
		// Too large for a slot: the frames before it run first.
		if err := r.flushBatch(); err != nil {
			return err
		}
	}
	r.buf = append(r.buf[:0], make([]byte, loader.ReplayMetaLen)...)
	loader.PutReplayMeta(r.buf, ts, wire, uint32(r.read))
	r.buf = append(r.buf, pkt.Data...)
	if r.runner == nil {
		r.runner = loader.NewFrameRunner(r.Program)
	}
	if _, err := r.runner.Run(r.buf, loader.ReplayMetaLen); errors.Is(err, unix.EINVAL) && len(pkt.Data) > 60000 {
		r.Skipped++ // beyond what a multi-buffer frame can hold
		return nil
	} else if err != nil {
		return fmt.Errorf("packet %d: running the program: %w", pkt.Index, err)
	}
	r.Packets++
	return nil
}

// Quiescent: the program runs only inside Feed.
func (r *ReplaySource) Quiescent() bool { return true }

// Wait does not block: replay drains what each batch produced.
func (r *ReplaySource) Wait() time.Duration { return 0 }

// Clock: replay timestamps are Unix nanoseconds.
func (r *ReplaySource) Clock(ns uint64) time.Time { return time.Unix(0, int64(ns)).UTC() }

// Stop closes the open capture.
func (r *ReplaySource) Stop() error {
	if r.cur != nil {
		err := r.cur.Close()
		r.cur = nil
		return err
	}
	return nil
}

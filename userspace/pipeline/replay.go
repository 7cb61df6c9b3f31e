package pipeline

import (
	"context"
	"errors"
	"fmt"
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
	ahead   *captureReader // reads the captures ahead of the kernel
	chunk   *itemChunk     // the items being taken, from ahead
	pos     int
	buf     []byte
	now     uint64
	Packets uint64
	read    uint64 // records read, all files (pcap_cnt)
	Skipped uint64 // frames BPF_PROG_TEST_RUN refuses: shorter than Ethernet
	// Cut counts frames longer than BPF_PROG_TEST_RUN takes (BIG TCP
	// super-packets a host captured before segmentation), run cut to
	// LongestRunnable bytes: counted by their wire length, as a frame cut
	// by a capture's snap length is, their payload past the cut not in
	// the pcap output.
	Cut uint64
	// NotEthernet counts capture records skipped because they cannot be
	// presented as Ethernet (a link type xdpsensor does not read, such as
	// a pcapng's RadioTap interface; a link header cut short).
	NotEthernet uint64
	// Problems are what could not be read, "file: record N: ...": a file
	// cut short or with a corrupt record is replayed up to that record;
	// the first few records of a file skipped as NotEthernet.
	Problems []string
}

// Feed runs up to Batch packets. Each step of the captures counts toward
// the batch as it always did: a packet, a file that could not be opened,
// a file's end.
func (r *ReplaySource) Feed(ctx context.Context) (uint64, bool, error) {
	batch := r.Batch
	if batch <= 0 {
		batch = 1024
	}
	if r.Batcher != nil {
		batch = min(batch, loader.FeedBatch)
	}
	if r.ahead == nil {
		r.ahead = readCaptures(ctx, r.Files)
	}
	for i := 0; i < batch; i++ {
		// Every 64 steps: at every step the check took a fiftieth of
		// a replay's time outside the kernel.
		if i%64 == 0 && ctx.Err() != nil {
			return r.now, true, r.flushBatch()
		}
		it, ok := r.next()
		if !ok {
			return r.now, true, r.flushBatch()
		}
		r.Problems = append(r.Problems, it.problems...)
		if it.notEthernet {
			r.read++ // pcap_cnt numbers the records of the capture
			r.NotEthernet++
			continue
		}
		if !it.packet {
			continue
		}
		if err := r.run(&it.pkt); err != nil {
			return r.now, false, err
		}
	}
	return r.now, false, r.flushBatch()
}

// next is the next step of the captures; false once they are all read.
func (r *ReplaySource) next() (*replayItem, bool) {
	if r.chunk == nil || r.pos == len(r.chunk.items) {
		// Every frame of the chunk was copied into the batch or run:
		// its memory goes back to the reader.
		r.ahead.recycle(r.chunk)
		c, ok := <-r.ahead.chunks
		if !ok {
			r.chunk = nil
			return nil, false
		}
		r.chunk, r.pos = c, 0
	}
	it := &r.chunk.items[r.pos]
	r.pos++
	return it, true
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

// LongestRunnable is the longest frame replay runs whole: the most a
// multi-buffer BPF_PROG_TEST_RUN frame holds is a page of linear data and
// MAX_SKB_FRAGS (17 at the least) pages of fragments, about 73 KB; an IP
// packet is at most 65,535 bytes but for BIG TCP's.
const LongestRunnable = 65535 + 14 + 3*4

func (r *ReplaySource) run(pkt *capture.Packet) error {
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
	if pkt.OrigLen > len(pkt.Data) {
		wire = uint32(pkt.OrigLen)
	}
	data := pkt.Data
	if len(data) > LongestRunnable {
		data = data[:LongestRunnable]
		r.Cut++
	}
	if r.Batcher != nil {
		if r.Batcher.Add(ts, wire, uint32(r.read), data) {
			return nil
		}
		// Too large for a slot: the frames before it run first.
		if err := r.flushBatch(); err != nil {
			return err
		}
	}
	r.buf = append(r.buf[:0], make([]byte, loader.ReplayMetaLen)...)
	loader.PutReplayMeta(r.buf, ts, wire, uint32(r.read))
	r.buf = append(r.buf, data...)
	if r.runner == nil {
		r.runner = loader.NewFrameRunner(r.Program)
	}
	if _, err := r.runner.Run(r.buf, loader.ReplayMetaLen); err != nil {
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

// Stop ends the reading ahead and closes the open capture.
func (r *ReplaySource) Stop() error {
	if r.ahead != nil {
		r.ahead.stop()
	}
	return nil
}

// captureReader reads the captures in a goroutine of its own, a chunk of
// steps ahead of the kernel: decoding a capture took an eighth of a
// replay's time, spent while the kernel waited.
type captureReader struct {
	chunks chan *itemChunk
	free   chan *itemChunk
	cancel context.CancelFunc
	done   chan struct{}
}

// replayItem is one step of reading the captures: a packet, a record
// skipped as not Ethernet, or the problems of a file that could not be
// opened or has ended.
type replayItem struct {
	problems    []string
	packet      bool
	notEthernet bool
	pkt         capture.Packet // Data points into its chunk's arena
}

type itemChunk struct {
	items []replayItem
	arena []byte
}

const (
	chunkItems  = 256
	chunksAhead = 32 // 8192 steps read ahead
	// maxSkipNotes bounds the skipped records of one file that Problems
	// names (NotEthernet counts them all).
	maxSkipNotes = 5
)

// readCaptures starts reading files ahead, until ctx ends or stop.
func readCaptures(ctx context.Context, files []string) *captureReader {
	ctx, cancel := context.WithCancel(ctx)
	c := &captureReader{chunks: make(chan *itemChunk, chunksAhead), free: make(chan *itemChunk, chunksAhead+2),
		cancel: cancel, done: make(chan struct{})}
	go c.read(ctx, files)
	return c
}

func (c *captureReader) read(ctx context.Context, files []string) {
	defer close(c.done)
	defer close(c.chunks)
	var cur *capture.Reader
	defer func() {
		if cur != nil {
			cur.Close()
		}
	}()
	chunk := c.chunk()
	send := func() bool {
		select {
		case c.chunks <- chunk:
			chunk = c.chunk()
			return true
		case <-ctx.Done():
			return false
		}
	}
	emit := func(it replayItem) bool {
		chunk.items = append(chunk.items, it)
		return len(chunk.items) < chunkItems || send()
	}
	skipped := 0 // records of the current file skipped as not Ethernet
	for file := 0; ctx.Err() == nil; {
		if cur == nil {
			if file >= len(files) {
				if len(chunk.items) > 0 {
					send()
				}
				return
			}
			rd, err := capture.Open(files[file])
			file++
			if err != nil {
				if !emit(replayItem{problems: []string{err.Error()}}) { // the other files may be fine
					return
				}
				continue
			}
			cur, skipped = rd, 0
		}
		pkt, err := cur.Next()
		if errors.Is(err, capture.ErrRecordSkipped) {
			// One record the kernel cannot be given: the rest of the
			// file is sound. The first few are named, all are counted.
			it := replayItem{notEthernet: true}
			if skipped < maxSkipNotes {
				it.problems = []string{err.Error()}
			}
			skipped++
			if !emit(it) {
				return
			}
			continue
		}
		if err != nil {
			var problems []string
			if !errors.Is(err, io.EOF) {
				problems = append(problems, err.Error()+": the rest of the file was not read")
			}
			// How the file ended.
			if cut := cur.Cut(); cut != "" {
				problems = append(problems, cut)
			}
			if skipped > maxSkipNotes {
				problems = append(problems, fmt.Sprintf("%s: %d more records skipped: not readable as Ethernet", files[file-1], skipped-maxSkipNotes))
			}
			notes, total := cur.Notes()
			problems = append(problems, notes...)
			if total > len(notes) {
				problems = append(problems, fmt.Sprintf("... and %d more records with such problems", total-len(notes)))
			}
			cur.Close()
			cur = nil
			if !emit(replayItem{problems: problems}) {
				return
			}
			continue
		}
		start := len(chunk.arena)
		chunk.arena = append(chunk.arena, pkt.Data...)
		pkt.Data = chunk.arena[start:len(chunk.arena):len(chunk.arena)]
		if !emit(replayItem{packet: true, pkt: pkt}) {
			return
		}
	}
}

// chunk is an empty chunk, a recycled one when there is one. When its
// arena outgrows its array, the items before keep the old one alive.
func (c *captureReader) chunk() *itemChunk {
	select {
	case ch := <-c.free:
		return ch
	default:
		return &itemChunk{items: make([]replayItem, 0, chunkItems), arena: make([]byte, 0, chunkItems*1600)}
	}
}

func (c *captureReader) recycle(ch *itemChunk) {
	if ch == nil {
		return
	}
	clear(ch.items)
	ch.items, ch.arena = ch.items[:0], ch.arena[:0]
	select {
	case c.free <- ch:
	default:
	}
}

func (c *captureReader) stop() {
	c.cancel()
	for range c.chunks { // let the reader see it is stopped
	}
	<-c.done
}

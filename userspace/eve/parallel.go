package eve

import (
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/outfile"
)

// parallel encodes a Writer's records in worker goroutines, a batch of
// them at a time, and writes the batches in the order they were queued:
// an EVE record costs about a microsecond to encode, and a drain that
// encodes on one core caps the events a sensor can write.
type parallel struct {
	out     *outfile.Writer
	cur     *batch
	pending []*batch // dispatched, in order, not yet written
	work    chan *batch
	free    chan *batch
	workers int
}

// batchEvents is how many records a worker encodes at once: enough that
// handing a batch over costs little beside encoding it.
const batchEvents = 128

// queueDepth is how many batches may be queued or encoded but not yet
// written (about 2 MB of output): with the 4 it was, the drain waited on
// a worker, and woke again, every batch or two (ring drain to EVE 1.86 ->
// 1.99 M events/s, interleaved).
const queueDepth = 16

type queued struct {
	alert *event.Alert
	flow  *event.Flow
	stats *event.Stats
}

type batch struct {
	events []queued
	out    []byte
	ends   []int // where each record ends in out
	done   chan struct{}
}

func newParallel(out *outfile.Writer, opts *Options, workers int) *parallel {
	p := &parallel{out: out, workers: workers, work: make(chan *batch, queueDepth), free: make(chan *batch, queueDepth+workers)}
	for range workers {
		go p.encode(*opts)
	}
	p.cur = p.batch()
	return p
}

func (p *parallel) batch() *batch {
	select {
	case b := <-p.free:
		return b
	default:
		return &batch{events: make([]queued, 0, batchEvents), out: make([]byte, 0, batchEvents*1024), done: make(chan struct{}, 1)}
	}
}

// encode is a worker: each its own memo.
func (p *parallel) encode(opts Options) {
	var m memo
	for b := range p.work {
		b.out, b.ends = b.out[:0], b.ends[:0]
		for _, q := range b.events {
			switch {
			case q.alert != nil:
				b.out = appendAlert(b.out, q.alert, &opts, &m)
			case q.flow != nil:
				b.out = appendFlow(b.out, q.flow, &opts, &m)
			default:
				b.out = appendStats(b.out, q.stats, &opts)
			}
			b.out = append(b.out, '\n')
			b.ends = append(b.ends, len(b.out))
		}
		b.done <- struct{}{}
	}
}

func (p *parallel) queue(q queued) error {
	p.cur.events = append(p.cur.events, q)
	if len(p.cur.events) == batchEvents {
		p.dispatch()
	}
	return nil
}

// dispatch hands the current batch to the workers, and writes the
// batches already encoded; at most queueDepth batches wait.
func (p *parallel) dispatch() {
	if len(p.cur.events) == 0 {
		return
	}
	b := p.cur
	p.cur = p.batch()
	p.work <- b
	p.pending = append(p.pending, b)
	for len(p.pending) > 0 {
		select {
		case <-p.pending[0].done:
		default:
			if len(p.pending) <= queueDepth {
				return
			}
			<-p.pending[0].done
		}
		p.write(p.pending[0])
		p.pending = p.pending[1:]
	}
}

// write hands a batch's records to the file, one record a Write, and
// recycles it.
func (p *parallel) write(b *batch) {
	start := 0
	for _, end := range b.ends {
		p.out.Write(b.out[start:end]) // fails only once closed: we never are here
		start = end
	}
	clear(b.events) // drop the references
	b.events = b.events[:0]
	select {
	case p.free <- b:
	default:
	}
}

// sync writes every queued record.
func (p *parallel) sync() {
	p.dispatch()
	for _, b := range p.pending {
		<-b.done
		p.write(b)
	}
	p.pending = p.pending[:0]
}

func (p *parallel) stop() {
	p.sync()
	close(p.work)
}

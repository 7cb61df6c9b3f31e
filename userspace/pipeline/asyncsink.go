package pipeline

import (
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/outfile"
)

// asyncSink writes another sink's records in a goroutine of its own, in
// order, a batch at a time, so that encoding them (Zeek's conn.log costs
// about a microsecond a flow) runs beside the drain instead of in it.
// Every other call waits for the records before it. The events handed to
// it must stay unchanged (the pipeline's are never changed once written).
type asyncSink struct {
	sink event.Sink
	cur  []asyncRecord
	work chan []asyncRecord // nil: a sync point, answered on acks
	acks chan struct{}
	err  error // the first write error, returned at the next sync point
	// closed: the goroutine is gone; the inner sink still reports.
	closed bool
}

type asyncRecord struct {
	alert *event.Alert
	flow  *event.Flow
}

const asyncBatch = 128

func newAsyncSink(s event.Sink) *asyncSink {
	a := &asyncSink{sink: s, work: make(chan []asyncRecord, 8), acks: make(chan struct{})}
	go a.run()
	return a
}

func (a *asyncSink) run() {
	for batch := range a.work {
		if batch == nil {
			a.acks <- struct{}{}
			continue
		}
		for _, r := range batch {
			var err error
			if r.alert != nil {
				err = a.sink.WriteAlert(r.alert)
			} else {
				err = a.sink.WriteFlow(r.flow)
			}
			if err != nil && a.err == nil {
				a.err = err // read only after an ack
			}
		}
	}
	close(a.acks)
}

func (a *asyncSink) add(r asyncRecord) error {
	if a.cur == nil {
		a.cur = make([]asyncRecord, 0, asyncBatch)
	}
	a.cur = append(a.cur, r)
	if len(a.cur) == asyncBatch {
		a.work <- a.cur
		a.cur = nil
	}
	return nil
}

// sync waits until every record handed over is written.
func (a *asyncSink) sync() error {
	if len(a.cur) > 0 {
		a.work <- a.cur
		a.cur = nil
	}
	a.work <- nil
	<-a.acks
	err := a.err
	a.err = nil
	return err
}

func (a *asyncSink) WriteAlert(al *event.Alert) error { return a.add(asyncRecord{alert: al}) }
func (a *asyncSink) WriteFlow(f *event.Flow) error    { return a.add(asyncRecord{flow: f}) }

func (a *asyncSink) Flush() error {
	err := a.sync()
	if f, ok := a.sink.(interface{ Flush() error }); ok {
		if ferr := f.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (a *asyncSink) Reopen() error {
	err := a.sync()
	if r, ok := a.sink.(interface{ Reopen() error }); ok {
		if rerr := r.Reopen(); err == nil {
			err = rerr
		}
	}
	return err
}

// OutputStats reports the inner sink's file (outfile.Reporter), after
// Close too: what closing lost is in it.
func (a *asyncSink) OutputStats() outfile.Stats {
	if !a.closed {
		a.sync()
	}
	if r, ok := a.sink.(outfile.Reporter); ok {
		return r.OutputStats()
	}
	return outfile.Stats{}
}

func (a *asyncSink) Close() error {
	err := a.sync()
	close(a.work)
	<-a.acks
	a.closed = true
	if cerr := a.sink.Close(); err == nil {
		err = cerr
	}
	return err
}

// Package flowtable turns the kernel's flow table into session records:
// closed flows after a short linger, idle flows after the flow timeout, and
// every remaining flow at shutdown. Each flow is written exactly once,
// because it is deleted from the kernel table when it is written.
package flowtable

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/ringbuf"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// Defaults: SANCP's and Suricata's idle timeout, and the time a closed
// flow waits for its last packets (the final ACK after FIN/FIN).
const (
	DefaultTimeout = 120 * time.Second
	DefaultLinger  = 2 * time.Second
)

// Tracker finalizes flows. Times are on the packet clock (kernel
// monotonic live, capture time in replay).
type Tracker struct {
	Flows   *ebpf.Map
	Decoder *ringbuf.Decoder
	Write   func(*event.Flow) error
	Timeout time.Duration
	Linger  time.Duration

	closing  map[loader.BpfFlowKey]closingFlow
	lastScan uint64
	// Counters for stats.
	Written, Expired, Finished uint64
}

type closingFlow struct {
	value  loader.BpfFlowValue // snapshot from the close event
	reason event.EndReason
	due    uint64
}

// Closed records a flow-closed event; the record is written after Linger.
func (t *Tracker) Closed(ev *loader.BpfFlowEvent, now uint64) {
	if t.closing == nil {
		t.closing = map[loader.BpfFlowKey]closingFlow{}
	}
	t.closing[ev.Key] = closingFlow{
		value:  ev.Value,
		reason: ringbuf.EndReason(ev.Reason),
		due:    max(now, ev.Value.LastSeenNs) + uint64(t.linger()),
	}
}

func (t *Tracker) linger() time.Duration {
	if t.Linger > 0 {
		return t.Linger
	}
	return DefaultLinger
}

func (t *Tracker) timeout() time.Duration {
	if t.Timeout > 0 {
		return t.Timeout
	}
	return DefaultTimeout
}

// Tick writes closed flows whose linger has passed and expires idle flows.
// The idle scan reads the whole table, so it runs at most once a second of
// packet time.
func (t *Tracker) Tick(now uint64) error {
	for k, c := range t.closing {
		if now < c.due {
			continue
		}
		if err := t.finishClosed(k, c); err != nil {
			return err
		}
	}
	if now-t.lastScan < uint64(time.Second) && t.lastScan != 0 {
		return nil
	}
	t.lastScan = now
	return t.scan(func(k *loader.BpfFlowKey, v *loader.BpfFlowValue) (event.EndReason, bool) {
		if _, pending := t.closing[*k]; pending {
			return "", false
		}
		if v.Closed != 0 && v.LastSeenNs+uint64(t.linger()) <= now {
			// Its close event was lost: finish it from the table.
			return closeReason(v), true
		}
		if v.LastSeenNs+uint64(t.timeout()) <= now {
			return event.EndTimeout, true
		}
		return "", false
	})
}

// Flush writes every flow still known: lingering ones with their close
// reason, the rest as shutdown.
func (t *Tracker) Flush() error {
	for k, c := range t.closing {
		if err := t.finishClosed(k, c); err != nil {
			return err
		}
	}
	return t.scan(func(_ *loader.BpfFlowKey, v *loader.BpfFlowValue) (event.EndReason, bool) {
		if v.Closed != 0 {
			return closeReason(v), true
		}
		return event.EndShutdown, true
	})
}

func closeReason(v *loader.BpfFlowValue) event.EndReason {
	if v.CloseFlags&uint8(loader.BpfCloseBitsCLOSE_RST) != 0 {
		return event.EndRST
	}
	return event.EndFIN
}

// finishClosed writes a closed flow from its latest table entry (which has
// the packets after the close), or from the event's snapshot when the entry
// is gone or already belongs to a newer flow.
func (t *Tracker) finishClosed(k loader.BpfFlowKey, c closingFlow) error {
	delete(t.closing, k)
	v := c.value
	var cur loader.BpfFlowValue
	if err := t.Flows.Lookup(&k, &cur); err == nil && cur.FirstSeenNs == c.value.FirstSeenNs {
		if err := t.Flows.LookupAndDelete(&k, &cur); err == nil && cur.FirstSeenNs == c.value.FirstSeenNs {
			v = cur
		}
	}
	t.Finished++
	return t.write(&k, &v, c.reason)
}

func (t *Tracker) write(k *loader.BpfFlowKey, v *loader.BpfFlowValue, reason event.EndReason) error {
	t.Written++
	if reason == event.EndTimeout {
		t.Expired++
	}
	return t.Write(t.Decoder.Flow(k, v, reason))
}

// scan walks the table in batches and writes (and deletes) the flows
// pick selects.
func (t *Tracker) scan(pick func(*loader.BpfFlowKey, *loader.BpfFlowValue) (event.EndReason, bool)) error {
	type victim struct {
		key    loader.BpfFlowKey
		reason event.EndReason
	}
	var victims []victim
	keys := make([]loader.BpfFlowKey, 4096)
	vals := make([]loader.BpfFlowValue, 4096)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := t.Flows.BatchLookup(&cursor, keys, vals, nil)
		for i := 0; i < n; i++ {
			if reason, ok := pick(&keys[i], &vals[i]); ok {
				victims = append(victims, victim{keys[i], reason})
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading flow table: %w", err)
		}
	}
	for _, vi := range victims {
		var v loader.BpfFlowValue
		// Lookup-and-delete hands over the newest counters atomically.
		if err := t.Flows.LookupAndDelete(&vi.key, &v); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				continue // evicted meanwhile
			}
			return fmt.Errorf("removing flow: %w", err)
		}
		if err := t.write(&vi.key, &v, vi.reason); err != nil {
			return err
		}
	}
	return nil
}

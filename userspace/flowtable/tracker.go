// Package flowtable turns the kernel's flow table into session records:
// closed flows after a short linger, idle flows after the flow timeout, and
// every remaining flow at shutdown. Each flow is written exactly once: its
// entry leaves the kernel table only after its record reached the output
// (Commit, after a flush), and a restarted daemon skips flows whose record
// the output already holds (Skip) — so a kill at any moment neither loses
// nor repeats a record.
package flowtable

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader/abi"
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
	Decoder *Decoder
	Write   func(*event.Flow) error
	Timeout time.Duration
	Linger  time.Duration

	// Skip holds flow ids already written (by an earlier process): their
	// entries are removed without a second record.
	Skip map[uint64]bool

	closing  map[abi.BpfFlowKey]closingFlow
	lastScan uint64
	// written flows wait here for Commit to remove them from the kernel,
	// indexed by key (first_seen) so that scans skip them cheaply.
	uncommitted []committed
	written     map[abi.BpfFlowKey]uint64
	// Counters for stats.
	Written, Expired, Finished uint64
}

type committed struct {
	key   abi.BpfFlowKey
	first uint64 // first_seen of the flow written: a newer flow on the key stays
}

type closingFlow struct {
	value  abi.BpfFlowValue // snapshot from the close event
	reason event.EndReason
	due    uint64
}

// Closed records a flow-closed event; the record is written after Linger.
func (t *Tracker) Closed(ev *abi.BpfFlowEvent, now uint64) {
	if t.closing == nil {
		t.closing = map[abi.BpfFlowKey]closingFlow{}
	}
	t.closing[ev.Key] = closingFlow{
		value:  ev.Value,
		reason: endReason(ev.Reason),
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
	return t.scan(func(k *abi.BpfFlowKey, v *abi.BpfFlowValue) (event.EndReason, bool) {
		if _, pending := t.closing[*k]; pending {
			return "", false
		}
		if t.isUncommitted(k, v) {
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

func (t *Tracker) isUncommitted(k *abi.BpfFlowKey, v *abi.BpfFlowValue) bool {
	first, ok := t.written[*k]
	return ok && first == v.FirstSeenNs
}

// Flush writes every flow still known: lingering ones with their close
// reason, the rest as shutdown.
func (t *Tracker) Flush() error {
	for k, c := range t.closing {
		if err := t.finishClosed(k, c); err != nil {
			return err
		}
	}
	return t.scan(func(k *abi.BpfFlowKey, v *abi.BpfFlowValue) (event.EndReason, bool) {
		if t.isUncommitted(k, v) {
			return "", false
		}
		if v.Closed != 0 {
			return closeReason(v), true
		}
		return event.EndShutdown, true
	})
}

// finishClosed writes a closed flow from its latest table entry (which has
// the packets after the close), or from the event's snapshot when the entry
// is gone or already belongs to a newer flow.
func (t *Tracker) finishClosed(k abi.BpfFlowKey, c closingFlow) error {
	delete(t.closing, k)
	v := c.value
	var cur abi.BpfFlowValue
	if err := t.Flows.Lookup(&k, &cur); err == nil && cur.FirstSeenNs == c.value.FirstSeenNs {
		v = cur
	}
	t.Finished++
	return t.write(&k, &v, c.reason)
}

func (t *Tracker) write(k *abi.BpfFlowKey, v *abi.BpfFlowValue, reason event.EndReason) error {
	t.uncommitted = append(t.uncommitted, committed{*k, v.FirstSeenNs})
	if t.written == nil {
		t.written = map[abi.BpfFlowKey]uint64{}
	}
	t.written[*k] = v.FirstSeenNs
	f := t.Decoder.Flow(k, v, reason)
	if t.Skip[f.FlowID] {
		return nil // an earlier process wrote it, then stopped before removing it
	}
	t.Written++
	if reason == event.EndTimeout {
		t.Expired++
	}
	return t.Write(f)
}

// Commit removes the flows written so far from the kernel table; call it
// once their records are flushed to the output. Batches of 4096 keys, one
// syscall each; a batch stops at a key already gone (evicted), which is
// then skipped.
func (t *Tracker) Commit() error {
	keys := make([]abi.BpfFlowKey, 0, min(len(t.uncommitted), 4096))
	for i := 0; i < len(t.uncommitted); {
		keys = keys[:0]
		for j := i; j < len(t.uncommitted) && len(keys) < cap(keys); j++ {
			keys = append(keys, t.uncommitted[j].key)
		}
		n, err := t.Flows.BatchDelete(keys, nil)
		switch {
		case err == nil:
			i += len(keys)
		case errors.Is(err, ebpf.ErrKeyNotExist):
			i += n + 1 // keys[n] was gone already
		case errors.Is(err, ebpf.ErrNotSupported):
			for _, k := range keys {
				if err := t.Flows.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
					return fmt.Errorf("removing a written flow: %w", err)
				}
			}
			i += len(keys)
		default:
			return fmt.Errorf("removing written flows: %w", err)
		}
	}
	t.uncommitted = t.uncommitted[:0]
	clear(t.written)
	return nil
}

// scan walks the table in batches and writes the flows pick selects (they
// leave the table at Commit). The batch's values are fresh enough: idle
// and closed flows see no more packets, and at shutdown the program is
// already detached.
func (t *Tracker) scan(pick func(*abi.BpfFlowKey, *abi.BpfFlowValue) (event.EndReason, bool)) error {
	keys := make([]abi.BpfFlowKey, 4096)
	vals := make([]abi.BpfFlowValue, 4096)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := t.Flows.BatchLookup(&cursor, keys, vals, nil)
		for i := 0; i < n; i++ {
			if reason, ok := pick(&keys[i], &vals[i]); ok {
				if werr := t.write(&keys[i], &vals[i], reason); werr != nil {
					return werr
				}
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading flow table: %w", err)
		}
	}
}

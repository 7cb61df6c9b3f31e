package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
)

// replacedMap is a pinned map Load replaced (ReplaceIncompatible), still
// open.
type replacedMap struct {
	name string
	m    *ebpf.Map
}

// UpgradeLosses are what the pinned maps Load replaced still held, lost
// with them: the daemon publishes them as flows_lost_upgrade,
// events_lost_upgrade and capture_lost_upgrade.
type UpgradeLosses struct {
	Flows  uint64 // open flows of the flow tables (flows_v4, flows_v6): never written
	Events uint64 // unread records of the event ring: alerts, flow records, close hints
	Frames uint64 // unread frames of the capture ring
}

// CountReplaced counts what the maps Load replaced still hold, closes
// them, and says per map what was lost. Call it once no program writes to
// them any more: after the attachments replaced an earlier run's program
// (an adopted one runs on its old maps until then). Later calls return
// nothing. What a map held that cannot be counted is said, not guessed.
func (s *Sensor) CountReplaced() (UpgradeLosses, []string) {
	var up UpgradeLosses
	var lines []string
	for _, r := range s.replaced {
		what := "pinned map " + r.name + " (replaced: it no longer fit)"
		switch r.name {
		case "flows_v4", "flows_v6":
			n, err := countEntries(r.m)
			up.Flows += n
			lines = append(lines, countLine(err, "%s held %d open flows: lost, never written (flows_lost_upgrade)", what, n))
		case "flow_extras":
			n, err := countEntries(r.m)
			lines = append(lines, countLine(err, "%s held %d flow extensions: flows still open are written without their rare counters", what, n))
		case "events":
			n, bytes, err := countRing(r.m)
			up.Events += n
			lines = append(lines, countLine(err, "%s held %d unread records (%d bytes; alerts, flow records and close hints, not told apart): lost (events_lost_upgrade)", what, n, bytes))
		case "capture":
			n, bytes, err := countRing(r.m)
			up.Frames += n
			lines = append(lines, countLine(err, "%s held %d unread frames (%d bytes): lost (capture_lost_upgrade)", what, n, bytes))
		}
	}
	s.closeReplaced()
	return up, lines
}

// countLine formats what a replaced map held, or that it could not be
// counted (the count then is what was read before the error).
func countLine(err error, format string, args ...any) string {
	line := fmt.Sprintf(format, args...)
	if err != nil {
		line += fmt.Sprintf("; counting stopped there: %v", err)
	}
	return line
}

// restoreReplaced pins the replaced maps back in dir, where a Load that
// failed after unpinning them found them (removing what that Load pinned
// there in their place), and closes them: a failed start changes nothing,
// and the next one finds what they hold.
func (s *Sensor) restoreReplaced(dir string) error {
	var errs []error
	for _, r := range s.replaced {
		path := filepath.Join(dir, r.name)
		// The handle still names path (it was opened there): Unpin removes
		// what the failed Load pinned there, if anything, and makes the
		// handle forget it, or Pin would take the path as done.
		if err := r.m.Unpin(); err != nil {
			errs = append(errs, fmt.Errorf("restoring pinned map %s: %w", path, err))
			continue
		}
		if err := r.m.Pin(path); err != nil {
			errs = append(errs, fmt.Errorf("restoring pinned map %s: %w", path, err))
		}
	}
	s.closeReplaced()
	return errors.Join(errs...)
}

func (s *Sensor) closeReplaced() {
	for _, r := range s.replaced {
		r.m.Close()
	}
	s.replaced = nil
}

// countEntries counts a hash map's entries by walking its keys as bytes
// (an old binary's key may not be ours). A walk that meets a deleted key
// starts over in the kernel: it is bounded by the map's capacity, and
// nothing deletes from a map no program uses any more.
func countEntries(m *ebpf.Map) (uint64, error) {
	var n uint64
	key, err := m.NextKeyBytes(nil)
	for err == nil && key != nil {
		n++
		if n > uint64(m.MaxEntries()) {
			return n - 1, errors.New("more keys than the map holds: it is being written to")
		}
		key, err = m.NextKeyBytes(key)
	}
	if err != nil {
		return n, fmt.Errorf("walking %s: %w", m, err)
	}
	return n, nil
}

// countRing counts the records a BPF ring buffer holds unread, and their
// bytes, by reading them (the ring is going away). The record framing is
// the kernel's, whatever program wrote them.
func countRing(m *ebpf.Map) (records, bytes uint64, err error) {
	rd, err := ringbuf.NewReader(m)
	if err != nil {
		return 0, 0, fmt.Errorf("opening %s: %w", m, err)
	}
	defer rd.Close()
	bytes = uint64(rd.AvailableBytes())
	rd.SetDeadline(time.Now())
	var rec ringbuf.Record
	for {
		err := rd.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return records, bytes, nil
		}
		if err != nil {
			return records, bytes, fmt.Errorf("reading %s: %w", m, err)
		}
		records++
	}
}

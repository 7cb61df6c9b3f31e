package pipeline

import (
	"log/slog"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/outfile"
)

// outputHealth follows what the outputs and the pcap ring could not write,
// round after round: it retries held-back records, logs when an output
// starts and stops failing, and keeps the counters the daemon publishes.
type outputHealth struct {
	failing    map[string]bool      // output path -> failing at the last round
	lastNag    map[string]time.Time // output path -> last "still failing" log
	pcapPaused bool
	now        func() time.Time
	// What the outputs could not write, summed, at the last round.
	outputs outfile.Stats
	// The pcap ring's frames and bytes written, and frames lost.
	pcapFrames, pcapBytes, pcapLost uint64
}

// nagInterval is how often a still-failing output is logged again.
const nagInterval = time.Minute

// outputRound is called once per drain round (from flush). Outputs whose
// records are held back get a Flush even when the round wrote nothing new,
// so writing resumes as soon as space returns.
func (p *Pipeline) outputRound() {
	h := &p.health
	if h.now == nil {
		h.now, h.failing, h.lastNag = time.Now, map[string]bool{}, map[string]time.Time{}
	}
	var sum outfile.Stats
	for _, s := range p.sinks {
		r, ok := s.(outfile.Reporter)
		if !ok {
			continue
		}
		if st := r.OutputStats(); st.Pending > 0 {
			if f, ok := s.(interface{ Flush() error }); ok {
				f.Flush() // failures are counted by the Writer
			}
		}
		st := r.OutputStats()
		sum.WriteErrors += st.WriteErrors
		sum.RecordsLost += st.RecordsLost
		h.logOutput(p.log, st)
	}
	h.outputs = sum
	if p.capture != nil {
		st := p.capture.ring.Stats()
		h.pcapFrames, h.pcapBytes = st.Packets, st.Bytes
		h.pcapLost = st.Dropped + p.capture.lost
		if st.Paused != h.pcapPaused {
			h.pcapPaused = st.Paused
			if st.Paused {
				p.log.Error("pcap ring cannot be written: capture paused, frames are counted as lost (pcap_frames_lost) until a retry works",
					"err", st.LastError, "frames_lost", h.pcapLost)
			} else {
				p.log.Info("pcap ring writable again: capture resumed", "frames_lost", h.pcapLost)
			}
		}
	}
	p.publish()
}

// logOutput logs an output's change between writable and failing, and a
// still-failing output at most once a minute.
func (h *outputHealth) logOutput(log *slog.Logger, st outfile.Stats) {
	was := h.failing[st.Path]
	h.failing[st.Path] = st.Failing
	switch {
	case st.Failing && !was:
		h.lastNag[st.Path] = h.now()
		log.Error("output cannot be written: records are kept and retried every second, past --output-backlog counted as lost (output_records_lost)",
			"file", st.Path, "err", st.LastError, "pending", st.Pending, "records_lost", st.RecordsLost)
	case !st.Failing && was:
		log.Info("output writable again", "file", st.Path, "write_errors", st.WriteErrors, "records_lost", st.RecordsLost)
	case st.Failing && h.now().Sub(h.lastNag[st.Path]) >= nagInterval:
		h.lastNag[st.Path] = h.now()
		log.Warn("output still cannot be written", "file", st.Path, "err", st.LastError,
			"pending", st.Pending, "records_lost", st.RecordsLost)
	}
}

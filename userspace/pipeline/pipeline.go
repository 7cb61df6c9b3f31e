// Package pipeline wires a packet source (a live interface, or a capture
// fed through BPF_PROG_TEST_RUN) to the ring drain, the flow tracker and
// the outputs. `run` and `replay` differ only in their Source.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/ringbuf"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/flowtable"
	"github.com/xdpsensor/xdpsensor/userspace/label"
)

// Source delivers packets to the sensor's kernel program.
type Source interface {
	// Feed hands the program some packets (a live interface needs nothing)
	// and returns the packet clock's current time in ns, and done once
	// there is nothing more to feed.
	Feed(ctx context.Context) (now uint64, done bool, err error)
	// Wait is how long to block on the ring after a Feed.
	Wait() time.Duration
	// Clock converts packet-clock ns to wall time.
	Clock(ns uint64) time.Time
	// Stop ends packet delivery (detaches a live interface).
	Stop() error
	// Quiescent says the datapath runs only inside Feed (a replay):
	// between Feeds the flow tables hold still.
	Quiescent() bool
}

// Options configure a pipeline.
type Options struct {
	FlowTimeout time.Duration
	FlowLinger  time.Duration
	// SweepPeriod is the packet time of one pass over the flow tables (0:
	// flowtable.DefaultSweepPeriod).
	SweepPeriod time.Duration
	// EmergencyTimeout is the idle timeout while the flow tables are
	// nearly full (0: flowtable.DefaultEmergencyTimeout).
	EmergencyTimeout time.Duration
	// StatsInterval is how often a stats event is written (wall clock,
	// live); 0 writes one at the end only.
	StatsInterval time.Duration
	// Classify resolves a classtype to its long name and priority.
	Classify func(classtype string) (category string, priority uint32, ok bool)
	Logger   *slog.Logger
	// Reopen asks for every output file to be reopened (SIGHUP).
	Reopen <-chan struct{}
	// KeepFlows leaves open flows in the kernel at the end (the program
	// stays attached: the next run adopts them) instead of writing them.
	KeepFlows bool
	// PrivateTables says the sensor's maps are this run's alone and go
	// with it (replay): the flows written at the end stay in them.
	PrivateTables bool
	// SkipFlows are flow ids the output already holds (a restart).
	SkipFlows map[uint64]bool
	// Interfaces names the ifindexes we attached to (they may live in
	// another network namespace); others are looked up here.
	Interfaces map[uint32]string
	// Upgrade is what the pinned maps replaced at start-up held
	// (loader.Sensor.CountReplaced), published with the daemon's counters.
	Upgrade loader.UpgradeLosses
}

// Counts are what a pipeline wrote.
type Counts struct {
	Alerts, Flows, Stats uint64
	Unknown              uint64 // ring records of an unknown type
	HistoryLost          uint64 // history letters the kernel lost, summed over the flows written
}

// Pipeline drains one sensor into its sinks.
type Pipeline struct {
	sensor  *loader.Sensor
	sinks   []event.Sink
	opts    Options
	reader  *ringbuf.Reader
	rules   *ringbuf.KernelRules
	decoder *ringbuf.Decoder
	flows   *flowtable.Decoder
	tracker *flowtable.Tracker
	listed  *blocklistmaps.Resolver
	now     uint64
	counts  Counts
	flushed Counts
	log     *slog.Logger
	capture *captureSink // nil without full-content capture
	// waiting are alerts whose packet is not yet in the pcap ring (live,
	// its frame follows the alert into its own ring), written in order
	// once it is, or when it is not coming.
	waiting   []waitingAlert
	quiescent bool         // the source is a replay: nothing arrives between Feeds
	health    outputHealth // outputhealth.go: write failures, daemon_stats
	flushedAt time.Time    // wall clock of the last flush of the outputs
	wallNow   func() time.Time

	started   time.Time // wall clock, for the stats events' uptime
	lastStats time.Time
	// lastLoss is the loss counters the last loss report was made from.
	lastLoss LossSnapshot
	// thresholdsSwept is the packet time ended threshold windows were
	// last removed at.
	thresholdsSwept uint64
}

// replayFlushEvery is how often a replay pushes its outputs to disk and
// publishes its counters: after every batch of frames, the writes and
// map updates took a twentieth of the replay.
const replayFlushEvery = 100 * time.Millisecond

// thresholdSweepPeriod is how often, in packet time, ended threshold
// windows are removed: the kernel never evicts one, and a full table
// leaves new windows untracked (thresholds_full).
const thresholdSweepPeriod = 10 * time.Second

// New prepares a pipeline over a loaded sensor.
func New(sensor *loader.Sensor, sinks []event.Sink, opts Options) (*Pipeline, error) {
	rd, err := ringbuf.NewReader(sensor.Objects.Events)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{sensor: sensor, sinks: sinks, opts: opts, reader: rd, log: opts.Logger, wallNow: time.Now}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.rules = &ringbuf.KernelRules{Map: sensor.Objects.Rules, Classify: opts.Classify}
	p.decoder = &ringbuf.Decoder{Rules: p.rules, Interface: interfaceNames(opts.Interfaces)}
	zones := &flowtable.Zones{Map: sensor.Objects.Zones}
	p.listed = &blocklistmaps.Resolver{Maps: sensor.Maps()}
	p.flows = &flowtable.Decoder{Zones: zones.VLANs, Listed: p.listedRules, Tunnel: zones.Tunnel}
	p.tracker = &flowtable.Tracker{
		Maps:             sensor.Maps(),
		Capacity:         sensor.Config.FlowCapacity(),
		CapacityV6:       uint64(sensor.Config.FlowTableSizeV6),
		Decoder:          p.flows,
		Write:            p.writeFlow,
		Timeout:          opts.FlowTimeout,
		Linger:           opts.FlowLinger,
		EmergencyTimeout: opts.EmergencyTimeout,
		SweepPeriod:      opts.SweepPeriod,
		Skip:             opts.SkipFlows,
		Discard:          opts.PrivateTables,
	}
	p.tracker.Sync = p.flush
	p.started = time.Now()
	p.lastStats = p.started
	// Loss reports count from here: an adopted program's counters hold
	// what an earlier run lost.
	p.lastLoss = LossSnapshot{At: p.started, Counters: map[string]uint64{}}
	if c, err := p.counters(); err == nil {
		p.lastLoss = lossSnapshot(c, p.started)
	}
	return p, nil
}

// Run feeds and drains until the source is done or ctx is cancelled, then
// stops the source, drains what is left, writes every remaining flow and
// closes the sinks.
func (p *Pipeline) Run(ctx context.Context, src Source) (Counts, error) {
	p.decoder.Clock = src.Clock
	p.flows.Clock = src.Clock
	p.tracker.Quiescent = src.Quiescent()
	p.quiescent = src.Quiescent()
	if p.capture != nil {
		p.capture.clock = src.Clock
		p.capture.iface = p.decoder.Interface
	}
	err := p.loop(ctx, src)
	if stopErr := src.Stop(); stopErr != nil && err == nil {
		err = fmt.Errorf("stopping source: %w", stopErr)
	}
	if finErr := p.finish(); finErr != nil && err == nil {
		err = finErr
	}
	for _, s := range p.sinks {
		if cerr := s.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing output: %w", cerr)
		}
	}
	if p.capture != nil {
		if cerr := p.capture.close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the pcap ring: %w", cerr)
		}
	}
	// What closing could not write (a full disk) is lost too: counted
	// where stats, the metrics and the summary line read it, and in the
	// run's last loss report, whether finish got to the end or not.
	p.outputRound()
	p.publish()
	p.logFinalLosses(time.Now())
	p.reader.Close()
	p.listed.Close()
	return p.counts, err
}

func (p *Pipeline) loop(ctx context.Context, src Source) error {
	for {
		now, done, err := src.Feed(ctx)
		if err != nil {
			return err
		}
		p.now = now
		p.refreshRules()
		// Frames first: an alert's packet is in the pcap ring before the
		// alert names its file.
		if err := p.drainCapture(); err != nil {
			return err
		}
		deadline := time.Now().Add(src.Wait())
		read := func() error { return p.reader.ReadUntil(deadline, p.handle) }
		if src.Quiescent() {
			// A replay's batch is whole in the ring: take all of it.
			read = func() error { return p.reader.Drain(p.handle) }
		}
		if err := read(); err != nil {
			return err
		}
		if err := p.writeWaiting(false); err != nil {
			return err
		}
		if p.capture != nil {
			p.capture.endRound(p.quiescent)
		}
		if err := p.tracker.Tick(p.now); err != nil {
			return err
		}
		p.expireThresholds()
		if !p.quiescent || done || p.wallNow().Sub(p.flushedAt) >= replayFlushEvery {
			if err := p.flush(); err != nil {
				return err
			}
			p.flushedAt = p.wallNow()
		}
		// A replay's tables are its own and go with it: written flows
		// leave them before the next batch, flushed or not.
		if err := p.tracker.Commit(); err != nil {
			return err
		}
		if iv := p.opts.StatsInterval; iv > 0 && time.Since(p.lastStats) >= iv {
			if err := p.writeStats(time.Now(), false); err != nil {
				p.log.Warn("stats", "err", err)
			}
		}
		select {
		case <-p.opts.Reopen:
			if err := reopenOutputs(p.sinks); err != nil {
				p.log.Error("reopening outputs", "err", err)
			} else {
				p.log.Info("outputs reopened")
			}
		default:
		}
		if done || ctx.Err() != nil {
			return nil
		}
	}
}

func (p *Pipeline) drainCapture() error {
	if p.capture == nil {
		return nil
	}
	return p.capture.drain()
}

// finish drains the rings to the end and writes the remaining flows.
func (p *Pipeline) finish() error {
	if err := p.drainCapture(); err != nil {
		return err
	}
	if err := p.reader.Flush(); err != nil {
		return fmt.Errorf("flushing event ring: %w", err)
	}
	err := p.reader.ReadUntil(time.Now().Add(5*time.Second), p.handle)
	if err != nil && !errors.Is(err, ringbuf.ErrFlushed) {
		return err
	}
	// The program is detached: frames still in the capture ring are the
	// last, and alerts still waiting for theirs wait no more.
	if err := p.drainCapture(); err != nil {
		return err
	}
	if err := p.writeWaiting(true); err != nil {
		return err
	}
	if !p.opts.KeepFlows {
		// The source stopped (the program is detached): the tables hold
		// still, written flows leave them in batches.
		p.tracker.Quiescent = true
		if err := p.tracker.Flush(); err != nil {
			return err
		}
	}
	if err := p.flush(); err != nil {
		return err
	}
	if err := p.tracker.Commit(); err != nil {
		return err
	}
	// The last stats event: what this run wrote and lost.
	p.publish()
	if err := p.writeStats(time.Now(), true); err != nil {
		return err
	}
	return p.flush()
}

// Losses are what this run lost, by reason (the kernel's counters and
// the daemon's).
func (p *Pipeline) Losses() []Loss {
	c, err := p.counters()
	if err != nil {
		return nil
	}
	return losses(c)
}

// flush pushes buffered output to disk once per drain round, so an analyst
// tailing eve.json sees an alert within one poll interval, and publishes
// the daemon's counters.
func (p *Pipeline) flush() error {
	if p.capture != nil {
		if err := p.capture.flush(); err != nil {
			p.log.Warn("flushing the pcap ring", "err", err)
		}
	}
	// Retry held-back records and publish the daemon's counters, after the
	// flush below.
	defer p.outputRound()
	if p.counts == p.flushed {
		return nil
	}
	p.flushed = p.counts
	for _, s := range p.sinks {
		if f, ok := s.(interface{ Flush() error }); ok {
			if err := f.Flush(); err != nil {
				return fmt.Errorf("flushing output: %w", err)
			}
		}
	}
	return nil
}

// daemonStats are the daemon's counters now.
func (p *Pipeline) daemonStats() abi.BpfDaemonStats {
	c := &p.tracker.Counters
	d := abi.BpfDaemonStats{
		AlertsWritten:      p.counts.Alerts,
		FlowsWritten:       c.Written,
		FlowsTimeout:       c.Timeout,
		FlowsEmergency:     c.Emergency,
		FlowsClosedWritten: c.Closed,
		FlowsShutdown:      c.Shutdown,
		FlowsFromRing:      c.FromRing,
		StatsWritten:       p.counts.Stats,
		FlowTableEntries:   c.Entries,
		FlowTableCapacity:  p.tracker.Capacity,
		EmergencyEntered:   c.EmergencyEntered,
		ExportLatePackets:  c.LatePackets,
		ExportSplit:        c.Split,
		ExtrasOrphaned:     c.ExtrasOrphaned,
		RingRecordsUnknown: p.counts.Unknown,
		AlertsRuleUnknown:  p.decoder.RulesUnknown,
		HistoryLettersLost: p.counts.HistoryLost,
		FlowsLostUpgrade:   p.opts.Upgrade.Flows,
		EventsLostUpgrade:  p.opts.Upgrade.Events,
		CaptureLostUpgrade: p.opts.Upgrade.Frames,
		FlowRulesUnnamed:   p.flows.RulesUnnamed,
	}
	if c.InEmergency {
		d.Emergency = 1
	}
	d.OutputWriteErrors = p.health.outputs.WriteErrors
	d.OutputRecordsLost = p.health.outputs.RecordsLost
	d.PcapFramesWritten, d.PcapBytesWritten, d.PcapFramesLost = p.health.pcapFrames, p.health.pcapBytes, p.health.pcapLost
	// The fleet publisher's own count, where stats and the summary read.
	for _, s := range p.sinks {
		if cs, ok := s.(interface{ Counters() []event.Counter }); ok {
			for _, c := range cs.Counters() {
				if c.Name == "fleet.spool_dropped" {
					d.FleetSpoolDropped += c.Value
				}
			}
		}
	}
	return d
}

// expireThresholds removes the threshold windows that ended, once every
// thresholdSweepPeriod of packet time.
func (p *Pipeline) expireThresholds() {
	if p.sensor == nil || p.now < p.thresholdsSwept+uint64(thresholdSweepPeriod) {
		return
	}
	p.thresholdsSwept = p.now
	if _, err := blocklistmaps.ExpireThresholds(p.sensor.Maps(), p.now); err != nil {
		p.log.Warn("removing ended threshold windows", "err", err)
	}
}

// publish writes the daemon's counters where stats and metrics read them.
func (p *Pipeline) publish() {
	if p.sensor == nil || p.sensor.Objects.DaemonCounters == nil {
		return
	}
	d := p.daemonStats()
	if err := p.sensor.Maps().WriteDaemonStats(&d); err != nil && !p.health.failing["daemon_counters"] {
		if p.health.failing != nil {
			p.health.failing["daemon_counters"] = true
		}
		p.log.Warn("publishing counters", "err", err)
	}
}

// listedRules names the rules that list addr now in a flow with other,
// as the kernel decides them: a rule whose $HOME_NET/$EXTERNAL_NET
// constraint refuses other is not named, and the covering prefix's rule
// is, when it accepts other.
func (p *Pipeline) listedRules(addr, other netip.Addr) ([]event.Rule, int) {
	rules, unknown, err := p.listed.Rules(addr, other, p.rules)
	// Once, not once a record: a map that cannot be read fails them all.
	if err != nil && !p.health.failing["flow_rules"] {
		if p.health.failing != nil {
			p.health.failing["flow_rules"] = true
		}
		p.log.Warn("naming flows' rules (records go out without them)", "addr", addr, "err", err)
	}
	return rules, unknown
}

func (p *Pipeline) refreshRules() {
	var cfg abi.BpfSensorConfig
	if err := p.sensor.Objects.Config.Lookup(uint32(0), &cfg); err == nil {
		if err := p.rules.Refresh(cfg.Generation); err != nil {
			p.log.Warn("naming alerts' rules (each is looked up alone instead)", "err", err)
		}
		p.listed.Refresh(cfg.Generation)
	}
}

func (p *Pipeline) handle(raw []byte) error {
	switch abi.RecordKind(raw) {
	case abi.KindAlert:
		a, err := p.decoder.Alert(raw)
		if err != nil {
			return err
		}
		if p.capture == nil {
			return p.writeAlert(a)
		}
		ev, _ := abi.AlertEvent(raw) // decoded above
		p.waiting = append(p.waiting, waitingAlert{alert: a, frame: newFrameID(ev.TsNs, &ev.Key, ev.Direction),
			captured: p.capture.captured(a), since: time.Now()})
		return p.writeWaiting(false)
	case abi.KindFlowClosed:
		ev, err := abi.FlowEvent(raw)
		if err != nil {
			return err
		}
		p.tracker.Closed(ev, p.now)
	case abi.KindFlowRecord:
		ev, err := abi.FlowEvent(raw)
		if err != nil {
			return err
		}
		return p.tracker.Record(ev)
	default:
		p.counts.Unknown++
		p.log.Warn("unknown ring record", "type", raw[0], "bytes", len(raw))
	}
	return nil
}

// waitingAlert is an alert waiting for its packet's pcap file.
type waitingAlert struct {
	alert    *event.Alert
	frame    frameID
	captured bool      // the kernel hands its packet to the capture ring
	since    time.Time // wall time it was read
}

// frameWait bounds how long an alert waits for its frame: the kernel
// hands the frame over microseconds after the alert, so one that has
// not come by then was lost (capture_lost: the capture ring was full).
const frameWait = 500 * time.Millisecond

// writeWaiting writes the waiting alerts, in the order they were read,
// each naming the pcap file that holds its packet (capture_file) and
// stamped with the time that packet's record carries. It stops at the
// first alert whose frame may still come, unless final.
func (p *Pipeline) writeWaiting(final bool) error {
	drained := false
	for len(p.waiting) > 0 {
		w := &p.waiting[0]
		f, known := p.capture.takeFrame(w.frame)
		if !known && w.captured && !drained {
			// Its frame may be in the capture ring already.
			if err := p.capture.drain(); err != nil {
				return err
			}
			drained = true
			f, known = p.capture.takeFrame(w.frame)
		}
		if !known && w.captured && !final && !p.quiescent && time.Since(w.since) < frameWait {
			return nil
		}
		if known {
			w.alert.Packet.Time = f.time
			// Only a file that holds the packet: Write named it while
			// the packet was in the ring's buffer, and a write cut
			// short by a full disk may have taken it back out since
			// (then it is counted in pcap_frames_lost).
			if f.frame.Path != "" && p.capture.ring.Stored(f.frame) {
				w.alert.CaptureFile = f.frame.Path
			}
		}
		a := w.alert
		p.waiting[0] = waitingAlert{}
		p.waiting = p.waiting[1:]
		if err := p.writeAlert(a); err != nil {
			return err
		}
	}
	p.waiting = nil
	return nil
}

func (p *Pipeline) writeAlert(a *event.Alert) error {
	p.counts.Alerts++
	for _, s := range p.sinks {
		if err := s.WriteAlert(a); err != nil {
			return fmt.Errorf("writing alert: %w", err)
		}
	}
	return nil
}

func (p *Pipeline) writeFlow(f *event.Flow) error {
	label.Apply(f)
	p.counts.Flows++
	p.counts.HistoryLost += f.HistoryLost
	for _, s := range p.sinks {
		if err := s.WriteFlow(f); err != nil {
			return fmt.Errorf("writing flow: %w", err)
		}
	}
	return nil
}

// interfaceNames caches ifindex -> name lookups.
func interfaceNames(known map[uint32]string) func(uint32) string {
	var mu sync.Mutex
	names := map[uint32]string{}
	for k, v := range known {
		names[k] = v
	}
	return func(ifindex uint32) string {
		if ifindex == 0 {
			return ""
		}
		mu.Lock()
		defer mu.Unlock()
		if n, ok := names[ifindex]; ok {
			return n
		}
		n := ""
		if iface, err := net.InterfaceByIndex(int(ifindex)); err == nil {
			n = iface.Name
		}
		names[ifindex] = n
		return n
	}
}

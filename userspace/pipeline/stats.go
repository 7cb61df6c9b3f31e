package pipeline

import (
	"fmt"
	"strings"
	"time"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// suricataNames are the kernel and daemon counters that mean what one of
// Suricata's stats counters means, under Suricata's name.
var suricataNames = []struct{ name, ours string }{
	{"decoder.pkts", "packets"},
	{"decoder.bytes", "bytes"},
	{"decoder.ipv4", "ipv4_packets"},
	{"decoder.ipv6", "ipv6_packets"},
	{"decoder.tcp", "tcp_packets"},
	{"decoder.udp", "udp_packets"},
	{"decoder.icmpv4", "icmp_packets"},
	{"decoder.icmpv6", "icmpv6_packets"},
	{"decoder.vlan", "vlan_packets"},
	{"flow.total", "flows_new"},
	{"flow.tcp_reuse", "flows_reused"},
	{"flow.active", "flow_table_entries"},
	{"flow.emerg_mode_entered", "emergency_entered"},
}

// Loss is one reason something the sensor saw reached no output.
type Loss struct {
	Counter string // the kernel's or the daemon's counter
	What    string
	N       uint64
}

// lossReasons name every counter of something lost (or merged, or
// saturated), in the order a summary lists them. Not lost_events: it is
// every failed reservation on the event ring, whose parts are here by
// their own names (alerts, flow records, merged flows) but for close
// hints, which lose nothing (the sweep writes the closed flow).
var lossReasons = []struct{ counter, what string }{
	{"flows_lost_upgrade", "open flows of a pinned flow table replaced at start-up (it no longer fit)"},
	{"events_lost_upgrade", "unread event records of a pinned event ring replaced at start-up"},
	{"capture_lost_upgrade", "unread captured frames of a pinned capture ring replaced at start-up"},
	{"flow_records_lost", "flow records (event ring full)"},
	{"alerts_lost", "alerts (event ring full)"},
	{"thresholds_full", "matches alerted without their threshold (thresholds table full)"},
	{"flows_merged", "new connections kept in the old flow (event ring full)"},
	{"capture_lost", "captured frames (capture ring full)"},
	{"pcap_frames_lost", "captured frames the pcap ring could not write"},
	{"fleet_spool_dropped", "events not in the fleet stream (spool full; in the local outputs)"},
	{"output_records_lost", "records outputs could not write"},
	{"export_late_packets", "packets that reached a flow after its record"},
	{"export_split", "flows written in two records (a race with a new connection)"},
	{"flow_extra_full", "flows whose rare counters saturated (extension map full)"},
	{"history_letters_lost", "history letters past the kernel's room (conn.log history cut short)"},
	{"alerts_rule_unknown", "alerts whose rule was replaced before they were read (written with a placeholder rule)"},
	{"flow_rules_unnamed", "rules of listed flows their records could not name (the blocklist changed before the record was written)"},
	{"zones_full", "packets whose VLAN stack could not be told apart (zones map full)"},
	{"prefix_walk_cut", "flow-end decisions made without their outermost listed prefixes (more nested than the kernel tries): an alert may be missed"},
	{"ring_records_unknown", "event ring records of an unknown type"},
}

// losses lists the nonzero loss counters of a counter set.
func losses(counters []abi.Counter) []Loss {
	byName := map[string]uint64{}
	for _, c := range counters {
		byName[c.Name] = c.Value
	}
	var out []Loss
	for _, r := range lossReasons {
		if n := byName[r.counter]; n > 0 {
			out = append(out, Loss{Counter: r.counter, What: r.what, N: n})
		}
	}
	return out
}

// InNoFlow names the frames the kernel counted but put in no flow record:
// malformed (every malformed_* reason), non-IP, and later IP fragments
// whose first was not seen. Not losses, their counters are their record,
// but the summary line says them: no frame goes unmentioned.
func InNoFlow(st *abi.BpfSensorStats) []Loss {
	counters, err := abi.Counters(st)
	if err != nil {
		return nil
	}
	byName := map[string]uint64{}
	var malformed uint64
	for _, c := range counters {
		byName[c.Name] = c.Value
		if strings.HasPrefix(c.Name, "malformed_") {
			malformed += c.Value
		}
	}
	orphans := "orphaned fragments"
	if byName["fragments_orphaned"] == 1 {
		orphans = "orphaned fragment"
	}
	var out []Loss
	for _, r := range []Loss{
		{Counter: "malformed_*", What: "malformed", N: malformed},
		{Counter: "non_ip_packets", What: "non-IP", N: byName["non_ip_packets"]},
		{Counter: "fragments_orphaned", What: orphans, N: byName["fragments_orphaned"]},
	} {
		if r.N > 0 {
			out = append(out, r)
		}
	}
	return out
}

// FormatInNoFlow is how a summary line says them ("" when none):
// "in no flow: 2 malformed, 1 non-IP".
func FormatInNoFlow(ls []Loss) string {
	if len(ls) == 0 {
		return ""
	}
	return "in no flow: " + joinLosses(ls)
}

// FormatLosses is how a summary line says what was lost: "0 lost", or
// each reason with its count.
func FormatLosses(ls []Loss) string {
	if len(ls) == 0 {
		return "0 lost"
	}
	return "lost: " + joinLosses(ls)
}

// joinLosses lists counts and their reasons: "2 malformed, 1 non-IP".
func joinLosses(ls []Loss) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%d %s", l.N, l.What)
	}
	return strings.Join(parts, ", ")
}

// counters reads the kernel's counters and the daemon's, in that order.
func (p *Pipeline) counters() ([]abi.Counter, error) {
	st, err := p.sensor.Maps().ReadStats()
	if err != nil {
		return nil, err
	}
	kernel, err := abi.Counters(&st)
	if err != nil {
		return nil, err
	}
	d := p.daemonStats()
	daemon, err := abi.DaemonCounters(&d)
	if err != nil {
		return nil, err
	}
	return append(kernel, daemon...), nil
}

// statsEvent is a stats event of the counters: Suricata's names for what
// Suricata counts the same way, then every kernel counter under
// xdpsensor_kernel and every daemon counter under xdpsensor_daemon.
func (p *Pipeline) statsEvent(counters []abi.Counter, kernelCount int, now time.Time) *event.Stats {
	byName := map[string]uint64{}
	for _, c := range counters {
		byName[c.Name] = c.Value
	}
	s := &event.Stats{Time: now, Uptime: now.Sub(p.started)}
	for _, n := range suricataNames {
		s.Counters = append(s.Counters, event.Counter{Name: n.name, Value: byName[n.ours]})
	}
	for i, c := range counters {
		group := "xdpsensor_kernel."
		if i >= kernelCount {
			group = "xdpsensor_daemon."
		}
		s.Counters = append(s.Counters, event.Counter{Name: group + c.Name, Value: c.Value})
	}
	// Outputs with counters of their own (the fleet publisher's spool).
	for _, sink := range p.sinks {
		if cs, ok := sink.(interface{ Counters() []event.Counter }); ok {
			s.Counters = append(s.Counters, cs.Counters()...)
		}
	}
	return s
}

// writeStats writes a stats event to every output that takes one and,
// at most once a minute, logs what was lost since the last loss report.
// The last one of a run (final) leaves the loss report to logFinalLosses,
// after the outputs' last round.
func (p *Pipeline) writeStats(now time.Time, final bool) error {
	counters, err := p.counters()
	if err != nil {
		return fmt.Errorf("reading counters: %w", err)
	}
	kernelCount := len(counters) - len(abi.DaemonCountersNames())
	ev := p.statsEvent(counters, kernelCount, now)
	for _, s := range p.sinks {
		if ss, ok := s.(event.StatsSink); ok {
			if err := ss.WriteStats(ev); err != nil {
				return fmt.Errorf("writing stats: %w", err)
			}
		}
	}
	p.counts.Stats++
	p.lastStats = now
	if cur := lossSnapshot(counters, now); !final && LogLossRates(p.log, p.lastLoss, cur) {
		p.lastLoss = cur
	}
	return nil
}

// logFinalLosses logs, at the end of a run, every loss counter that grew
// since the last loss report, however short the time since: the one-minute
// limit would keep a replay's losses, and a live run's last minute, out of
// the log.
func (p *Pipeline) logFinalLosses(now time.Time) {
	counters, err := p.counters()
	if err != nil {
		p.log.Warn("reading the loss counters at the end", "err", err)
		return
	}
	cur := lossSnapshot(counters, now)
	logLosses(p.log, p.lastLoss, cur)
	p.lastLoss = cur
}

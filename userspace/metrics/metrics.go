// Package metrics exports a sensor's counters to Prometheus.
//
// The Collector reads the kernel counters when Prometheus scrapes: the
// per-CPU stats map, the config entry (blocklist generation and entry
// counts) and the flow table's size, plus the NIC's own RX counters and
// whatever the daemon reports through Options.Pipeline. Nothing polls in
// the background; a scrape costs one stats lookup, one config lookup, one
// netlink dump per interface and one batch walk of the flow table's keys.
//
// Every kernel counter of struct sensor_stats is exported (the names come
// from BTF, so a counter added to the C struct appears as
// xdpsensor_<name>_total until it is given a better name here).
//
// Bytes by protocol are what the kernel counts: the IP length (header and
// payload) for IP protocols, the whole frame for non-IP ethertypes. The
// frame totals (xdpsensor_frames_total, xdpsensor_frame_bytes_total)
// count every frame the program saw, malformed ones included: frames_total
// is the sum of packets_total over proto plus malformed_packets_total over
// reason.
package metrics

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
)

const namespace = "xdpsensor"

// Interface is one interface the sensor is attached to.
type Interface struct {
	Name string
	// Mode is the XDP attach mode the kernel gave us: "native" or
	// "generic" ("" when not attached).
	Mode string
	// EgressMode is host mode's TC egress hook: "tcx" or "clsact" ("" when
	// host mode is off).
	EgressMode string
}

// PipelineCounts are what the daemon wrote. Fields the daemon does not
// track (yet) stay zero.
type PipelineCounts struct {
	AlertsWritten    uint64 // alert records written (EVE, unified2, ...)
	FlowsWritten     uint64 // flow records written, all reasons
	FlowsExpired     uint64 // ... of which for an idle timeout
	FlowsFinished    uint64 // ... of which after the flow closed (FIN/RST)
	PcapBytesWritten uint64 // bytes written to capture files
	CaptureDrops     uint64 // captured frames the daemon could not write
}

// Options describe what the kernel maps do not know.
type Options struct {
	// Interfaces the sensor watches: their NIC RX counters and attach modes
	// are exported.
	Interfaces []Interface
	// Netns is the network namespace of the interfaces (a name under
	// /var/run/netns or a path; "" for ours).
	Netns string
	// Pipeline returns the daemon's counters; nil leaves out the
	// daemon-side metrics and the derived eviction count. It is called
	// once per scrape, from the scraping goroutine: it must be safe for
	// concurrent use with the pipeline (atomics or a lock).
	Pipeline func() PipelineCounts
}

// Collector is a prometheus.Collector over a sensor's maps.
type Collector struct {
	maps *abi.BpfMaps
	opts Options

	kernel []kernelMetric // in sensor_stats order
	daemon []daemonMetric // in daemon_stats order

	alertsWritten, flowsWritten, flowsExpired, flowsFinished *prometheus.Desc
	pcapBytes, captureDrops                                  *prometheus.Desc
	flowsActive, flowsEvicted                                *prometheus.Desc
	blocklistEntries, blocklistGeneration                    *prometheus.Desc
	ifPackets, ifBytes, attachMode, egressMode               *prometheus.Desc

	mu   sync.Mutex // guards the batch buffers
	keys []abi.BpfFlowKey
	vals []abi.BpfFlowValue
	// flowBase is flows_new − active flows when the collector was made:
	// the flows an earlier daemon wrote or lost, which this one's
	// FlowsWritten does not include (stats and flows stay pinned across
	// restarts).
	flowBase uint64
	initErr  error
}

// kernelMetric is where one sensor_stats field goes.
type kernelMetric struct {
	desc  *prometheus.Desc
	label string // the value of desc's one label, if it has one
}

// daemonMetric is where one daemon_stats field goes.
type daemonMetric struct {
	desc  *prometheus.Desc
	gauge bool
}

// daemon_stats fields that are levels, not counts.
var daemonGauges = map[string]bool{"flow_table_entries": true, "flow_table_capacity": true, "emergency": true}

// The protocol classes of sensor_stats, by field prefix.
var protoClasses = []string{"tcp", "udp", "icmp", "icmpv6", "other_ip", "non_ip"}

// Kernel counters with names of their own (the rest are labelled series or
// the generic fallback).
var kernelNames = map[string]struct{ name, help string }{
	"packets":            {"frames_total", "Frames the XDP/TC program saw, malformed ones included."},
	"bytes":              {"frame_bytes_total", "Bytes of the frames the program saw."},
	"vlan_packets":       {"vlan_packets_total", "IP packets with at least one VLAN tag."},
	"fragments":          {"fragments_total", "IP fragments after the first (no ports)."},
	"matches":            {"matches_total", "Packets whose addresses matched a blocklist rule."},
	"alerts":             {"alerts_total", "Alert events the kernel emitted to the event ring."},
	"alerts_suppressed":  {"alerts_suppressed_total", "Matches a rule's threshold held back."},
	"flows_new":          {"flows_created_total", "Flows the kernel created in its flow table."},
	"flows_closed":       {"flows_closed_total", "Flow-closed (FIN/RST) events the kernel emitted."},
	"flow_insert_failed": {"flow_insert_failed_total", "Packets whose flow could not be inserted in the flow table."},
	"lost_events":        {"lost_events_total", "Events lost because the event ring was full."},
	"capture_packets":    {"capture_packets_total", "Frames the kernel handed to the capture ring."},
	"capture_bytes":      {"capture_bytes_total", "Bytes the kernel handed to the capture ring."},
	"capture_lost":       {"capture_lost_total", "Frames the capture ring had no room for."},
	"capture_capped":     {"capture_capped_total", "Frames not captured because their flow used up its capture budget."},
	"blocklist_lookups":  {"blocklist_lookups_total", "Flows whose blocklist match was (re)decided."},
}

// NewCollector makes a collector over maps (a loaded sensor's, or
// loader.OpenPinned's). With a Pipeline it reads the stats and the flow
// table once, to tell the flows this daemon will write from those an
// earlier one already did: make it before the pipeline writes anything.
// An error reading the maps here is reported by every scrape.
func NewCollector(maps *abi.BpfMaps, opts Options) *Collector {
	c := &Collector{maps: maps, opts: opts}
	var zero abi.BpfSensorStats
	names, err := abi.Counters(&zero)
	if err != nil {
		c.initErr = err
	}
	packets := desc("packets_total", "IP packets by L4 protocol, and non-IP frames (proto=non_ip).", "proto")
	bytes := desc("bytes_total", "Bytes by protocol: the IP length for IP packets, the frame length for non-IP frames.", "proto")
	ipPackets := desc("ip_packets_total", "Well-formed IP packets by IP version.", "version")
	malformed := desc("malformed_packets_total", "Frames the parser rejected, by reason.", "reason")
	for _, n := range names {
		c.kernel = append(c.kernel, kernelFor(n.Name, packets, bytes, ipPackets, malformed))
	}
	var zeroDaemon abi.BpfDaemonStats
	daemonNames, err := abi.DaemonCounters(&zeroDaemon)
	if err != nil && c.initErr == nil {
		c.initErr = err
	}
	for _, n := range daemonNames {
		c.daemon = append(c.daemon, daemonMetricFor(n.Name))
	}

	c.alertsWritten = desc("alerts_written_total", "Alert records the daemon wrote.")
	c.flowsWritten = desc("flows_written_total", "Flow records the daemon wrote, all end reasons.")
	c.flowsExpired = desc("flows_expired_total", "Flow records the daemon wrote for flows idle past the flow timeout.")
	c.flowsFinished = desc("flows_finished_total", "Flow records the daemon wrote for flows that closed (FIN/RST).")
	c.pcapBytes = desc("pcap_written_bytes_total", "Bytes the daemon wrote to capture files.")
	c.captureDrops = desc("capture_dropped_total", "Captured frames the daemon could not write.")
	c.flowsActive = desc("flows_active", "Flows in the kernel flow table now.")
	c.flowsEvicted = desc("flows_evicted",
		"Flows the kernel's LRU table evicted before the daemon wrote them, derived: created - written - active "+
			"(counted from this daemon's start), clamped at 0. An estimate: a gauge, as it may dip between scrapes.")
	c.blocklistEntries = desc("blocklist_entries", "Entries of the live blocklist slot, by kind.", "kind")
	c.blocklistGeneration = desc("blocklist_generation", "Generation of the live blocklist (each install adds one).")
	c.ifPackets = desc("interface_rx_packets_total", "Packets the NIC received (its own counters, netlink).", "interface")
	c.ifBytes = desc("interface_rx_bytes_total", "Bytes the NIC received (its own counters, netlink).", "interface")
	c.attachMode = desc("interface_attach_mode", "XDP attach mode per interface (always 1).", "interface", "mode")
	c.egressMode = desc("interface_egress_attach_mode", "Host mode's TC egress hook per interface (always 1).", "interface", "mode")

	if opts.Pipeline != nil && c.initErr == nil {
		st, err := maps.ReadStats()
		if err != nil {
			c.initErr = err
			return c
		}
		active, err := c.countFlows()
		if err != nil {
			c.initErr = err
			return c
		}
		c.flowBase = sub(st.FlowsNew, active)
	}
	return c
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
}

func kernelFor(name string, packets, bytes, ipPackets, malformed *prometheus.Desc) kernelMetric {
	for _, p := range protoClasses {
		switch name {
		case p + "_packets":
			return kernelMetric{packets, p}
		case p + "_bytes":
			return kernelMetric{bytes, p}
		}
	}
	switch name {
	case "ipv4_packets":
		return kernelMetric{ipPackets, "4"}
	case "ipv6_packets":
		return kernelMetric{ipPackets, "6"}
	}
	if reason, ok := strings.CutPrefix(name, "malformed_"); ok {
		return kernelMetric{malformed, reason}
	}
	if n, ok := kernelNames[name]; ok {
		return kernelMetric{desc: desc(n.name, n.help)}
	}
	return kernelMetric{desc: desc(name+"_total", "Kernel counter sensor_stats."+name+".")}
}

// daemonMetricFor names a daemon_stats field: xdpsensor_daemon_NAME, with
// _total for counts.
func daemonMetricFor(name string) daemonMetric {
	if daemonGauges[name] {
		return daemonMetric{desc: desc("daemon_"+name, "Daemon gauge daemon_stats."+name+"."), gauge: true}
	}
	return daemonMetric{desc: desc("daemon_"+name+"_total", "Daemon counter daemon_stats."+name+".")}
}

// collectDaemon exports the counters the daemon publishes in its map.
func (c *Collector) collectDaemon(ch chan<- prometheus.Metric) {
	ds, err := c.maps.ReadDaemonStats()
	if err == nil {
		var counters []abi.Counter
		if counters, err = abi.DaemonCounters(&ds); err == nil {
			for i, d := range counters {
				kind := prometheus.CounterValue
				if c.daemon[i].gauge {
					kind = prometheus.GaugeValue
				}
				ch <- prometheus.MustNewConstMetric(c.daemon[i].desc, kind, float64(d.Value))
			}
			return
		}
	}
	for _, d := range c.daemon {
		ch <- prometheus.NewInvalidMetric(d.desc, err)
	}
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	seen := map[*prometheus.Desc]bool{}
	for _, k := range c.kernel {
		if !seen[k.desc] {
			seen[k.desc] = true
			ch <- k.desc
		}
	}
	for _, d := range c.daemon {
		ch <- d.desc
	}
	for _, d := range []*prometheus.Desc{c.flowsActive, c.blocklistEntries, c.blocklistGeneration,
		c.ifPackets, c.ifBytes, c.attachMode, c.egressMode} {
		ch <- d
	}
	if c.opts.Pipeline != nil {
		for _, d := range []*prometheus.Desc{c.alertsWritten, c.flowsWritten, c.flowsExpired, c.flowsFinished,
			c.pcapBytes, c.captureDrops, c.flowsEvicted} {
			ch <- d
		}
	}
}

// Collect reads the maps and the NICs now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	// The daemon's counts first: a flow it writes between this read and
	// the kernel's then counts as created and not (yet) written, never as
	// written and not created.
	var pc PipelineCounts
	if c.opts.Pipeline != nil {
		pc = c.opts.Pipeline()
	}

	if c.initErr != nil {
		ch <- prometheus.NewInvalidMetric(c.flowsActive, c.initErr)
		return
	}
	st, err := c.maps.ReadStats()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.flowsActive, err)
		return
	}
	counters, err := abi.Counters(&st)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.flowsActive, err)
		return
	}
	for i, k := range counters {
		km := c.kernel[i]
		if km.label != "" {
			ch <- prometheus.MustNewConstMetric(km.desc, prometheus.CounterValue, float64(k.Value), km.label)
		} else {
			ch <- prometheus.MustNewConstMetric(km.desc, prometheus.CounterValue, float64(k.Value))
		}
	}

	c.collectDaemon(ch)

	active, err := c.countFlows()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.flowsActive, err)
	} else {
		ch <- prometheus.MustNewConstMetric(c.flowsActive, prometheus.GaugeValue, float64(active))
	}

	if c.opts.Pipeline != nil {
		for _, m := range []struct {
			d *prometheus.Desc
			v uint64
		}{
			{c.alertsWritten, pc.AlertsWritten}, {c.flowsWritten, pc.FlowsWritten}, {c.flowsExpired, pc.FlowsExpired},
			{c.flowsFinished, pc.FlowsFinished}, {c.pcapBytes, pc.PcapBytesWritten}, {c.captureDrops, pc.CaptureDrops},
		} {
			ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v))
		}
		if err == nil {
			evicted := sub(sub(sub(st.FlowsNew, c.flowBase), pc.FlowsWritten), active)
			ch <- prometheus.MustNewConstMetric(c.flowsEvicted, prometheus.GaugeValue, float64(evicted))
		}
	}

	if cfg, err := c.maps.ReadConfig(); err != nil {
		ch <- prometheus.NewInvalidMetric(c.blocklistGeneration, err)
	} else {
		slot := cfg.Slots[cfg.Generation&1]
		for _, e := range []struct {
			kind string
			n    uint32
		}{{"exact_v4", slot.ExactV4}, {"exact_v6", slot.ExactV6}, {"prefix_v4", slot.PrefixV4}, {"prefix_v6", slot.PrefixV6}} {
			ch <- prometheus.MustNewConstMetric(c.blocklistEntries, prometheus.GaugeValue, float64(e.n), e.kind)
		}
		ch <- prometheus.MustNewConstMetric(c.blocklistGeneration, prometheus.GaugeValue, float64(cfg.Generation))
	}

	c.collectInterfaces(ch)
}

func (c *Collector) collectInterfaces(ch chan<- prometheus.Metric) {
	for _, ifc := range c.opts.Interfaces {
		if ifc.Mode != "" {
			ch <- prometheus.MustNewConstMetric(c.attachMode, prometheus.GaugeValue, 1, ifc.Name, ifc.Mode)
		}
		if ifc.EgressMode != "" {
			ch <- prometheus.MustNewConstMetric(c.egressMode, prometheus.GaugeValue, 1, ifc.Name, ifc.EgressMode)
		}
	}
	if len(c.opts.Interfaces) == 0 {
		return
	}
	stats := make([]*netlink.LinkStatistics, len(c.opts.Interfaces))
	errs := make([]error, len(c.opts.Interfaces))
	err := loader.InNetns(c.opts.Netns, func() error {
		for i, ifc := range c.opts.Interfaces {
			l, err := netlink.LinkByName(ifc.Name)
			switch {
			case err != nil:
				errs[i] = fmt.Errorf("interface %q: %w", ifc.Name, err)
			case l.Attrs().Statistics == nil:
				errs[i] = fmt.Errorf("interface %q: the kernel reported no statistics", ifc.Name)
			default:
				stats[i] = l.Attrs().Statistics
			}
		}
		return nil
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.ifPackets, err)
		return
	}
	for i, ifc := range c.opts.Interfaces {
		if errs[i] != nil {
			ch <- prometheus.NewInvalidMetric(c.ifPackets, errs[i])
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.ifPackets, prometheus.CounterValue, float64(stats[i].RxPackets), ifc.Name)
		ch <- prometheus.MustNewConstMetric(c.ifBytes, prometheus.CounterValue, float64(stats[i].RxBytes), ifc.Name)
	}
}

// countFlows counts the flow table's entries with batch lookups (one
// syscall per 4096 flows). The table changes while it is walked, so the
// count is as exact as a snapshot of a live hash table can be.
func (c *Collector) countFlows() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		c.keys = make([]abi.BpfFlowKey, 4096)
		c.vals = make([]abi.BpfFlowValue, 4096)
	}
	var cursor ebpf.MapBatchCursor
	var total uint64
	for {
		n, err := c.maps.Flows.BatchLookup(&cursor, c.keys, c.vals, nil)
		total += uint64(n)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return total, nil
		}
		if errors.Is(err, ebpf.ErrNotSupported) {
			return c.countFlowsByKey()
		}
		if err != nil {
			return 0, fmt.Errorf("counting flows: %w", err)
		}
	}
}

// countFlowsByKey walks the keys one syscall each, for kernels without
// batch operations on hash maps (before 5.6).
func (c *Collector) countFlowsByKey() (uint64, error) {
	var total uint64
	var k abi.BpfFlowKey
	var prev any
	for {
		err := c.maps.Flows.NextKey(prev, &k)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return total, nil
		}
		if err != nil {
			return 0, fmt.Errorf("counting flows: %w", err)
		}
		total++
		cur := k
		prev = &cur
	}
}

// sub is a - b clamped at 0.
func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

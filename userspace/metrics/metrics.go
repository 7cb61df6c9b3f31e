// Package metrics exports a sensor's counters to Prometheus.
//
// The Collector reads the counters when Prometheus scrapes: the per-CPU
// stats map, the daemon's counters (daemon_stats, which the daemon
// publishes in a pinned map: records written, records lost by reason,
// the flow tables' occupancy), the config entry (blocklist generation and
// entry counts), plus the NIC's own RX counters. Nothing polls in the
// background; a scrape costs three map lookups and one netlink dump per
// interface, whichever process serves it.
//
// Every counter of struct sensor_stats and struct daemon_stats is exported
// (the names come from BTF, so a counter added to a C struct appears as
// xdpsensor_<name>_total, or xdpsensor_daemon_<name>_total, until it is
// given a better name here).
//
// Bytes by protocol are what the kernel counts: the IP length (header and
// payload) for IP protocols, the whole frame for non-IP ethertypes. The
// frame totals (xdpsensor_frames_total, xdpsensor_frame_bytes_total)
// count every frame the program saw, malformed ones included: frames_total
// is the sum of packets_total over proto plus malformed_packets_total over
// reason.
package metrics

import (
	"fmt"
	"strings"

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

// Options describe what the kernel maps do not know.
type Options struct {
	// Interfaces the sensor watches: their NIC RX counters and attach modes
	// are exported.
	Interfaces []Interface
	// Netns is the network namespace of the interfaces (a name under
	// /var/run/netns or a path; "" for ours).
	Netns string
}

// Collector is a prometheus.Collector over a sensor's maps.
type Collector struct {
	maps *abi.BpfMaps
	opts Options

	kernel []kernelMetric // in sensor_stats order
	daemon []daemonMetric // in daemon_stats order

	blocklistEntries, blocklistGeneration      *prometheus.Desc
	ifPackets, ifBytes, attachMode, egressMode *prometheus.Desc

	initErr error
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
	"packets":                 {"frames_total", "Frames the XDP/TC program saw, malformed ones included."},
	"bytes":                   {"frame_bytes_total", "Bytes of the frames the program saw."},
	"vlan_packets":            {"vlan_packets_total", "IP packets with at least one VLAN tag."},
	"fragments":               {"fragments_total", "IP fragments after the first (no ports of their own)."},
	"matches":                 {"matches_total", "Packets whose addresses matched a blocklist rule."},
	"alerts":                  {"alerts_total", "Alert events the kernel emitted to the event ring."},
	"alerts_suppressed":       {"alerts_suppressed_total", "Matches a rule's threshold held back."},
	"alerts_lost":             {"alerts_lost_total", "Alerts the event ring had no room for (the direction's next packet tries again)."},
	"thresholds_full":         {"thresholds_full_total", "Matches whose threshold window the full thresholds table could not take: alerted, not held to their threshold."},
	"flows_new":               {"flows_created_total", "Flows the kernel created in its flow table."},
	"flows_closed":            {"flows_closed_total", "Flow close hints (FIN/FIN or RST) the kernel emitted."},
	"flows_new_v6":            {"flows_created_ipv6_total", "Of the flows created, those in the IPv6 table."},
	"flows_reused":            {"flows_reused_total", "Flows made by a SYN on a closed tuple; the old flow went out as its own record."},
	"flow_records":            {"flow_records_total", "Finished flow records the kernel sent through the event ring (reused tuples, full table)."},
	"flow_table_full":         {"flow_table_full_total", "Packets the full flow table had no room for: each a record of its own."},
	"flow_records_lost":       {"flow_records_lost_total", "Flow records lost because the event ring was full."},
	"flows_merged":            {"flows_merged_total", "New connections kept in the old flow because the event ring was full."},
	"flow_extra_full":         {"flow_extra_full_total", "Flow extensions that could not be made: counters saturated instead."},
	"zones_full":              {"zones_full_total", "Packets whose VLAN stack could not be interned (zones map full)."},
	"icmp_errors_quoted":      {"icmp_errors_quoted_total", "ICMP errors counted in the flow they quote."},
	"icmp_errors_third_party": {"icmp_errors_third_party_total", "ICMP errors counted in the flow they quote that came from neither of its ends (a router on the path): matched on their own addresses."},
	"lost_events":             {"lost_events_total", "Event ring reservations that failed: alerts, flow records and close hints (each also counted by its own name but close hints, which lose nothing)."},
	"capture_packets":         {"capture_packets_total", "Frames the kernel handed to the capture ring."},
	"capture_bytes":           {"capture_bytes_total", "Bytes the kernel handed to the capture ring."},
	"capture_lost":            {"capture_lost_total", "Frames the capture ring had no room for."},
	"capture_capped":          {"capture_capped_total", "Frames not captured because their flow used up its capture budget."},
	"blocklist_lookups":       {"blocklist_lookups_total", "Flows whose blocklist match was (re)decided."},
	"prefix_walk_cut":         {"prefix_walk_cut_total", "Flow-end decisions (a flow is decided again at each blocklist generation) whose listed prefixes were nested deeper than the kernel tries (8): the outermost were not tried, and an alert may be missed."},
	"mpls_packets":            {"mpls_packets_total", "Packets with an MPLS label stack."},
	"pppoe_packets":           {"pppoe_packets_total", "Packets of PPPoE sessions."},
	"pbb_packets":             {"pbb_packets_total", "Packets with an 802.1ah (PBB) I-TAG."},
	"vntag_packets":           {"vntag_packets_total", "Packets with a VN-Tag."},
	"etag_packets":            {"etag_packets_total", "Packets with an 802.1BR E-Tag."},
	"nsh_packets":             {"nsh_packets_total", "Packets with a network service header (NSH)."},
	"gre_packets":             {"gre_packets_total", "Packets decapsulated from GRE."},
	"erspan_packets":          {"erspan_packets_total", "Mirrored frames decapsulated from ERSPAN (types I-III)."},
	"vxlan_packets":           {"vxlan_packets_total", "Packets decapsulated from VXLAN."},
	"geneve_packets":          {"geneve_packets_total", "Packets decapsulated from Geneve."},
	"ipip_packets":            {"ipip_packets_total", "Packets decapsulated from IP in IP (4in4, 6in4, 4in6, 6in6)."},
	"teredo_packets":          {"teredo_packets_total", "IPv6 packets decapsulated from Teredo."},
	"tunnel_too_deep":         {"tunnel_too_deep_total", "Packets with more nested tunnels than the kernel decodes: keyed on the last decoded layer."},
	"outer_matches":           {"outer_matches_total", "Tunneled packets whose outer addresses matched a blocklist rule."},
	"fragments_joined":        {"fragments_joined_total", "Later IP fragments counted in their first fragment's flow."},
	"fragments_orphaned":      {"fragments_orphaned_total", "Later IP fragments whose first fragment was never seen (or aged out): matched on addresses alone."},
}

// NewCollector makes a collector over maps (a loaded sensor's, or
// loader.OpenPinned's). An error reading the maps here is reported by
// every scrape.
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

	c.blocklistEntries = desc("blocklist_entries", "Entries of the live blocklist slot, by kind.", "kind")
	c.blocklistGeneration = desc("blocklist_generation", "Generation of the live blocklist (each install adds one).")
	c.ifPackets = desc("interface_rx_packets_total", "Packets the NIC received (its own counters, netlink).", "interface")
	c.ifBytes = desc("interface_rx_bytes_total", "Bytes the NIC received (its own counters, netlink).", "interface")
	c.attachMode = desc("interface_attach_mode", "XDP attach mode per interface (always 1).", "interface", "mode")
	c.egressMode = desc("interface_egress_attach_mode", "Host mode's TC egress hook per interface (always 1).", "interface", "mode")

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
	for _, d := range []*prometheus.Desc{c.blocklistEntries, c.blocklistGeneration,
		c.ifPackets, c.ifBytes, c.attachMode, c.egressMode} {
		ch <- d
	}
}

// Collect reads the maps and the NICs now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.initErr != nil {
		ch <- prometheus.NewInvalidMetric(c.blocklistGeneration, c.initErr)
		return
	}
	st, err := c.maps.ReadStats()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.blocklistGeneration, err)
		return
	}
	counters, err := abi.Counters(&st)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.blocklistGeneration, err)
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

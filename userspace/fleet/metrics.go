package fleet

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// The publisher is a Prometheus collector of its Counters: fleet.x is
// xdpsensor_fleet_x_total for counts and xdpsensor_fleet_x for gauges
// (connected, spool_bytes, blocklist revision and generation).
var fleetGauges = map[string]bool{
	"fleet.connected": true, "fleet.spool_bytes": true,
	"fleet.blocklist_revision": true, "fleet.blocklist_generation": true,
}

var fleetHelp = map[string]string{
	"fleet.connected":            "1 while connected to a NATS server",
	"fleet.events_spooled":       "events written to the fleet spool (OUT/spool) for JetStream",
	"fleet.events_published":     "events JetStream acked (duplicates included)",
	"fleet.events_duplicate":     "re-sent events JetStream already had (dropped by its duplicate window)",
	"fleet.events_resent":        "publishes sent again because their ack did not arrive",
	"fleet.spool_dropped":        "events that did not fit the full spool: in the local outputs, not in JetStream",
	"fleet.spool_bytes":          "bytes in the fleet spool",
	"fleet.blocklist_revision":   "KV revision of the fleet blocklist installed (0: none yet)",
	"fleet.blocklist_generation": "kernel blocklist generation of the last fleet install",
	"fleet.blocklist_installs":   "fleet blocklist versions installed",
	"fleet.blocklist_errors":     "fleet blocklist versions that could not be fetched, parsed or installed",
}

func metricName(counter string) string {
	name := "xdpsensor_" + strings.ReplaceAll(counter, ".", "_")
	if !fleetGauges[counter] {
		name += "_total"
	}
	return name
}

// Describe implements prometheus.Collector.
func (p *Publisher) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range p.Counters() {
		ch <- prometheus.NewDesc(metricName(c.Name), fleetHelp[c.Name], nil, nil)
	}
}

// Collect implements prometheus.Collector.
func (p *Publisher) Collect(ch chan<- prometheus.Metric) {
	for _, c := range p.Counters() {
		kind := prometheus.CounterValue
		if fleetGauges[c.Name] {
			kind = prometheus.GaugeValue
		}
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(metricName(c.Name), fleetHelp[c.Name], nil, nil), kind, float64(c.Value))
	}
}

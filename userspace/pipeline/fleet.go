package pipeline

// The fleet (NATS JetStream) hooks into the pipeline in two places, kept
// here: the publisher joins the outputs (Replay and Live), and a live
// sensor watches the fleet's blocklist and installs it.

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/fleet"
)

// withFleet appends the fleet publisher to sinks when cfg.Fleet is set;
// with s (a live sensor) it also starts the blocklist watcher, which
// installs each new version through the same two-slot reload as
// `blocklist load`. On error the sinks are closed.
func withFleet(cfg *Config, prep *prepared, s *loader.Sensor, sinks []event.Sink) ([]event.Sink, error) {
	if cfg.Fleet == nil {
		return sinks, nil
	}
	fc := *cfg.Fleet
	if fc.SensorName == "" {
		fc.SensorName = cfg.SensorName
	}
	// What openOutputs writes eve.json with: the stream gets the same bytes.
	fc.EVE = cfg.eveOptions()
	if fc.SpoolDir == "" {
		fc.SpoolDir = cfg.OutDir + "/spool"
	}
	if fc.Logger == nil {
		fc.Logger = prep.log
	}
	pub, err := fleet.NewPublisher(fc)
	if err != nil {
		closeSinks(sinks)
		return nil, err
	}
	if s != nil {
		var threshold *blocklist.Threshold
		if cfg.DefaultThreshold != "" {
			if threshold, err = blocklist.ParseThreshold(cfg.DefaultThreshold); err != nil {
				pub.Close()
				closeSinks(sinks)
				return nil, fmt.Errorf("--threshold: %w", err)
			}
		}
		bl, err := blocklistmaps.New(s.Maps(), s.Config.PinDir)
		if err != nil {
			pub.Close()
			closeSinks(sinks)
			return nil, err
		}
		pub.WatchBlocklist(fleet.WatchOptions{
			Parse: func(files []blocklist.Input, format string) (*blocklist.List, error) {
				list, err := blocklist.LoadInputs(files, blocklist.Options{Format: format, Classes: prep.classes})
				if err != nil {
					return nil, err
				}
				for _, w := range list.Warnings {
					prep.log.Warn("fleet blocklist", "warning", w)
				}
				if threshold != nil {
					list.ApplyDefaultThreshold(threshold)
				}
				return list, nil
			},
			Install: func(list *blocklist.List) (blocklistmaps.InstallStats, error) {
				unlock, err := bl.Lock()
				if err != nil {
					return blocklistmaps.InstallStats{}, err
				}
				defer unlock()
				return bl.Replace(list)
			},
		})
	}
	return append(sinks, pub), nil
}

// registerOutputMetrics adds the outputs that export metrics of their own
// (the fleet publisher) to reg.
func registerOutputMetrics(reg *prometheus.Registry, sinks []event.Sink) error {
	for _, s := range sinks {
		if c, ok := s.(prometheus.Collector); ok {
			if err := reg.Register(c); err != nil {
				return err
			}
		}
	}
	return nil
}

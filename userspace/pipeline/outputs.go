package pipeline

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"

	"github.com/xdpsensor/xdpsensor/userspace/eve"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/snortalert"
	"github.com/xdpsensor/xdpsensor/userspace/zeek"
)

// openOutputs creates the output directory and one encoder per format, all
// over the same events: eve.json (Suricata EVE), alert.fast and alert.full
// (Snort 2), conn.log (Zeek: TSV, or JSON with cfg.ZeekJSON). localNets
// are $HOME_NET, for Zeek's local_orig/local_resp.
func openOutputs(cfg *Config, localNets []netip.Prefix) ([]event.Sink, error) {
	if cfg.OutDir == "" {
		return nil, errors.New("no output directory (--out)")
	}
	if err := os.MkdirAll(cfg.OutDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	// Every encoder writes through an outfile.Writer, which reopens the
	// file on SIGHUP (Reopen).
	outputs := []struct {
		name string
		open func(path string) (event.Sink, error)
	}{
		{"eve.json", func(p string) (event.Sink, error) {
			// Encoded on every CPU: EVE's records are the costliest to write.
			opts := cfg.eveOptions()
			opts.Workers = runtime.NumCPU()
			return eve.Open(p, opts)
		}},
		{"alert.fast", func(p string) (event.Sink, error) { return snortalert.Open(p, snortalert.Fast, snortalert.Options{}) }},
		{"alert.full", func(p string) (event.Sink, error) { return snortalert.Open(p, snortalert.Full, snortalert.Options{}) }},
		{"conn.log", func(p string) (event.Sink, error) {
			return zeek.Open(p, zeek.Options{LocalNets: localNets, JSON: cfg.ZeekJSON})
		}},
		{"tunnel.log", func(p string) (event.Sink, error) {
			return zeek.OpenTunnels(p, zeek.Options{JSON: cfg.ZeekJSON}), nil
		}},
	}
	var sinks []event.Sink
	for _, o := range outputs {
		path := filepath.Join(cfg.OutDir, o.name)
		s, err := o.open(path)
		if err != nil {
			closeSinks(sinks)
			return nil, fmt.Errorf("opening %s: %w", o.name, err)
		}
		if b, ok := s.(interface{ SetMaxPending(int) }); ok && cfg.OutputBacklog > 0 {
			b.SetMaxPending(cfg.OutputBacklog)
		}
		if o.name == "conn.log" {
			s = newAsyncSink(s) // encoded beside the drain (eve.json encodes on every CPU itself)
		}
		sinks = append(sinks, s)
	}
	return sinks, nil
}

// eveOptions are the EVE encoder's settings, the same for eve.json and
// the fleet's stream.
func (cfg *Config) eveOptions() eve.Options {
	return eve.Options{SensorName: cfg.SensorName, CompressIPv6: cfg.EVECompressIPv6}
}

// reopenOutputs reopens every file output (SIGHUP).
func reopenOutputs(sinks []event.Sink) error {
	var errs []error
	for _, s := range sinks {
		if r, ok := s.(interface{ Reopen() error }); ok {
			errs = append(errs, r.Reopen())
		}
	}
	return errors.Join(errs...)
}

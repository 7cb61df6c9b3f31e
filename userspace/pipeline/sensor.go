package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/xdpsensor/xdpsensor/userspace/metrics"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/classification"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/fleet"
)

// Config is what `run` and `replay` share.
type Config struct {
	Blocklists      []string // files; empty keeps a pinned sensor's current list
	BlocklistFormat string   // auto, plain, snort
	HomeNet         string   // $HOME_NET: "any" or CIDRs
	ExternalNet     string   // $EXTERNAL_NET: "any", "!$HOME_NET" or CIDRs
	Classification  string   // classification.config file; empty: Snort's standard table
	// DefaultThreshold is a Snort threshold value ("type limit, track
	// by_src, count 1, seconds 60") for rules of feeds without rules.
	DefaultThreshold string
	OutDir           string
	SensorName       string
	FlowTimeout      time.Duration
	FlowTableSize    uint32
	RingSize         uint32
	Capture          CaptureConfig
	Logger           *slog.Logger
	// Fleet publishes every event to NATS JetStream too, and makes a live
	// sensor follow the fleet's blocklist (nil: no fleet).
	Fleet *fleet.Config
}

// LiveConfig adds what a live sensor needs.
type LiveConfig struct {
	Config
	Interfaces  []string
	XDPMode     loader.XDPMode
	MonitorPort bool
	PinDir      string
	// Netns is the network namespace holding the interfaces ("" for ours).
	Netns string
	// Reopen asks for the output files to be reopened (SIGHUP).
	Reopen <-chan struct{}
	// KeepAttached leaves the program attached (links pinned) when the
	// daemon exits or dies: the kernel keeps counting, the next run adopts
	// the program, its maps and its ring, and loses nothing.
	KeepAttached bool
	// MetricsAddr serves Prometheus metrics (host:port), "" for none.
	MetricsAddr string
	// Ready is called once every hook is attached (tests; sd_notify).
	Ready func()
	// Frags loads the program for multi-buffer frames (jumbo MTUs).
	Frags bool
	// HostMode also hooks TC egress: a host watching its own NIC sees what
	// it sends (the backscatter seed's RST is sent, not received).
	HostMode bool
}

// Summary is what a run produced.
type Summary struct {
	Counts
	Packets   uint64 // replay: packets fed
	Skipped   uint64 // replay: frames BPF_PROG_TEST_RUN could not take
	Blocklist loader.InstallStats
	OutDir    string
	Kernel    loader.BpfSensorStats // the kernel's counters at the end
}

type prepared struct {
	classes *classification.Table
	list    *blocklist.List
	netvars loader.NetVars
	log     *slog.Logger
}

// prepare reads every input before anything touches the kernel, so bad
// input fails fast and changes nothing.
func prepare(cfg *Config) (*prepared, error) {
	p := &prepared{log: cfg.Logger}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.classes = classification.Standard()
	if cfg.Classification != "" {
		f, err := os.Open(cfg.Classification)
		if err != nil {
			return nil, fmt.Errorf("classification table: %w", err)
		}
		defer f.Close()
		if p.classes, err = classification.Parse(cfg.Classification, f); err != nil {
			return nil, err
		}
	}
	if len(cfg.Blocklists) > 0 {
		list, err := blocklist.Load(cfg.Blocklists, blocklist.Options{Format: cfg.BlocklistFormat, Classes: p.classes})
		if err != nil {
			return nil, fmt.Errorf("blocklist rejected, nothing loaded:\n%w", err)
		}
		for _, w := range list.Warnings {
			p.log.Warn("blocklist", "warning", w)
		}
		if cfg.DefaultThreshold != "" {
			th, err := blocklist.ParseThreshold(cfg.DefaultThreshold)
			if err != nil {
				return nil, fmt.Errorf("--threshold: %w", err)
			}
			list.ApplyDefaultThreshold(th)
		}
		p.list = list
	}
	home, err := blocklist.ParseNetVar("home-net", orAny(cfg.HomeNet))
	if err != nil {
		return nil, err
	}
	ext, err := blocklist.ParseNetVar("external-net", orAny(cfg.ExternalNet))
	if err != nil {
		return nil, err
	}
	p.netvars = loader.NetVars{HomeAny: home.Any, Home: home.Prefixes,
		ExternalAny: ext.Any, ExternalNotHome: ext.NotHome, External: ext.Prefixes}
	return p, nil
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

// localNets are $HOME_NET's prefixes (none when it is any).
func (p *prepared) localNets() []netip.Prefix {
	if p.netvars.HomeAny {
		return nil
	}
	return p.netvars.Home
}

// classify resolves classtypes for decoded rules.
func (p *prepared) classify(classtype string) (string, uint32, bool) {
	c, ok := p.classes.Lookup(classtype)
	return c.Description, c.Priority, ok
}

// install puts the blocklist and network variables into the sensor.
func (p *prepared) install(s *loader.Sensor) (loader.InstallStats, error) {
	if err := s.Maps().SetNetVars(p.netvars); err != nil {
		return loader.InstallStats{}, err
	}
	if p.list == nil {
		return loader.InstallStats{}, nil
	}
	bl, err := s.Blocklist()
	if err != nil {
		return loader.InstallStats{}, err
	}
	unlock, err := bl.Lock()
	if err != nil {
		return loader.InstallStats{}, err
	}
	defer unlock()
	st, err := bl.Replace(p.list)
	if err != nil {
		return st, fmt.Errorf("installing blocklist: %w", err)
	}
	return st, nil
}

// Replay runs capture files through a private instance of the kernel
// program and writes the same outputs as a live sensor.
func Replay(ctx context.Context, cfg Config, files []string) (Summary, error) {
	if len(files) == 0 {
		return Summary{}, errors.New("no capture files to replay")
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return Summary{}, fmt.Errorf("capture %w", err)
		}
	}
	prep, err := prepare(&cfg)
	if err != nil {
		return Summary{}, err
	}
	cfg.Capture = cfg.Capture.withDefaults()
	if cfg.Capture.RingSize > 16<<20 {
		cfg.Capture.RingSize = 16 << 20 // replay drains every batch: 1024 frames fit
	}
	s, err := loader.Load(loader.Config{
		FlowTableSize:   cfg.FlowTableSize,
		RingSize:        cfg.RingSize,
		CaptureRingSize: cfg.Capture.RingSize,
		ReplayClock:     true,
		Frags:           true, // captures hold jumbo and GRO-merged frames
	})
	if err != nil {
		return Summary{}, err
	}
	defer s.Close()
	sum := Summary{OutDir: cfg.OutDir}
	if sum.Blocklist, err = prep.install(s); err != nil {
		return sum, err
	}
	sinks, err := openOutputs(&cfg, prep.localNets())
	if err != nil {
		return sum, err
	}
	if sinks, err = withFleet(&cfg, prep, nil, sinks); err != nil {
		return sum, err
	}
	p, err := New(s, sinks, Options{FlowTimeout: cfg.FlowTimeout, Classify: prep.classify, Logger: prep.log})
	if err != nil {
		return sum, err
	}
	if err := p.startCapture(cfg.Capture, cfg.OutDir, s); err != nil {
		closeSinks(sinks)
		return sum, err
	}
	src := &ReplaySource{Program: s.Objects.Xdpsensor, Files: files}
	sum.Counts, err = p.Run(ctx, src)
	sum.Packets = src.Packets
	sum.Skipped = src.Skipped
	if src.Skipped > 0 {
		prep.log.Warn("frames the kernel program could not run (shorter than Ethernet or longer than ~64 KB)", "skipped", src.Skipped)
	}
	if st, serr := s.Maps().ReadStats(); serr == nil {
		sum.Kernel = st
	}
	return sum, err
}

// Live attaches to interfaces and runs until ctx is cancelled.
func Live(ctx context.Context, cfg LiveConfig) (Summary, error) {
	if len(cfg.Interfaces) == 0 {
		return Summary{}, errors.New("no interface to watch (--iface)")
	}
	prep, err := prepare(&cfg.Config)
	if err != nil {
		return Summary{}, err
	}
	// Check the interfaces before anything is loaded or pinned.
	if err := loader.InNetns(cfg.Netns, func() error {
		for _, ifname := range cfg.Interfaces {
			if _, err := net.InterfaceByName(ifname); err != nil {
				return fmt.Errorf("interface %q: no such interface (see `ip link`)", ifname)
			}
		}
		return nil
	}); err != nil {
		return Summary{}, err
	}
	pinDir := cfg.PinDir
	if pinDir == "" {
		pinDir = loader.DefaultPinDir
	}
	if err := loader.CheckPrivileges(); err != nil {
		return Summary{}, err
	}
	unlock, err := lockDaemon(pinDir)
	if err != nil {
		return Summary{}, err
	}
	defer unlock()
	cfg.Capture = cfg.Capture.withDefaults()
	s, err := loader.Load(loader.Config{
		PinDir:        pinDir,
		FlowTableSize: cfg.FlowTableSize,
		RingSize:      cfg.RingSize,
		MonitorPort:   cfg.MonitorPort,
		Frags:         cfg.Frags,

		CaptureRingSize:     cfg.Capture.RingSize,
		ReplaceIncompatible: true,
	})
	if err != nil {
		return Summary{}, err
	}
	defer s.Close()
	for _, w := range s.Warnings {
		prep.log.Warn(w)
	}
	sum := Summary{OutDir: cfg.OutDir}
	if sum.Blocklist, err = prep.install(s); err != nil {
		return sum, err
	}
	if prep.list != nil {
		prep.log.Info("blocklist installed", "generation", sum.Blocklist.Generation, "rules", sum.Blocklist.Rules,
			"exact_v4", sum.Blocklist.ExactV4, "exact_v6", sum.Blocklist.ExactV6,
			"prefix_v4", sum.Blocklist.PrefixV4, "prefix_v6", sum.Blocklist.PrefixV6, "took", sum.Blocklist.Took)
	}
	sinks, err := openOutputs(&cfg.Config, prep.localNets())
	if err != nil {
		return sum, err
	}
	if sinks, err = withFleet(&cfg.Config, prep, s, sinks); err != nil {
		return sum, err
	}
	mode := cfg.XDPMode
	if mode == "" {
		mode = loader.XDPAuto
	}
	src := &LiveSource{}
	names := map[uint32]string{}
	adopted := false
	err = loader.InNetns(cfg.Netns, func() error {
		for _, ifname := range cfg.Interfaces {
			a, err := s.Attach(ifname, mode)
			if err != nil {
				return err
			}
			src.Attachments = append(src.Attachments, a)
			names[uint32(a.Ifindex)] = ifname
			if a.Adopted {
				adopted = true
				prep.log.Info("adopted the program an earlier run left attached (replaced atomically)", "interface", ifname, "mode", a.Mode)
			} else {
				prep.log.Info("attached", "interface", ifname, "mode", a.Mode, "monitor_port", cfg.MonitorPort)
			}
			if cfg.KeepAttached {
				if err := a.Keep(); err != nil {
					return err
				}
			}
			if on, err := loader.RXVLANOffload(ifname); err == nil && on {
				prep.log.Warn("the NIC strips VLAN tags before XDP sees them: flows of different VLANs will merge",
					"interface", ifname, "remedy", "ethtool -K "+ifname+" rxvlan off")
			}
			if cfg.HostMode {
				e, err := s.AttachEgress(ifname)
				if err != nil {
					return err
				}
				src.Egress = append(src.Egress, e)
				prep.log.Info("attached egress", "interface", ifname, "mode", e.Mode, "adopted", e.Adopted)
				if cfg.KeepAttached {
					if err := e.Keep(); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		src.Stop()
		closeSinks(sinks)
		return sum, err
	}
	var skip map[uint64]bool
	if adopted {
		// An earlier run may have written some flows and died before
		// removing them from the kernel: do not write them twice.
		if skip, err = writtenFlowIDs(filepath.Join(cfg.OutDir, "eve.json")); err != nil {
			prep.log.Warn("reading earlier flow records", "err", err)
		}
	}
	p, err := New(s, sinks, Options{FlowTimeout: cfg.FlowTimeout, Classify: prep.classify, Logger: prep.log,
		Interfaces: names, KeepFlows: cfg.KeepAttached, SkipFlows: skip, Reopen: cfg.Reopen})
	if err != nil {
		src.Stop()
		closeSinks(sinks)
		return sum, err
	}
	if err := p.startCapture(cfg.Capture, cfg.OutDir, s); err != nil {
		src.Stop()
		closeSinks(sinks)
		return sum, err
	}
	if cfg.MetricsAddr != "" {
		var ifs []metrics.Interface
		for i, a := range src.Attachments {
			mi := metrics.Interface{Name: a.Interface, Mode: string(a.Mode)}
			if i < len(src.Egress) {
				mi.EgressMode = src.Egress[i].Mode
			}
			ifs = append(ifs, mi)
		}
		reg, err := metrics.NewRegistry(metrics.NewCollector(s.Maps(), metrics.Options{Interfaces: ifs, Netns: cfg.Netns, Pipeline: p.MetricsCounts}))
		if err == nil {
			err = registerOutputMetrics(reg, sinks)
		}
		if err != nil {
			src.Stop()
			closeSinks(sinks)
			return sum, err
		}
		errc := make(chan error, 1)
		go func() { errc <- metrics.Serve(ctx, cfg.MetricsAddr, reg, prep.log) }()
		select {
		case err := <-errc:
			if err != nil {
				src.Stop()
				closeSinks(sinks)
				return sum, fmt.Errorf("--metrics-addr: %w", err)
			}
		case <-time.After(50 * time.Millisecond): // listening
		}
		prep.log.Info("serving metrics", "addr", cfg.MetricsAddr)
	}
	if cfg.Ready != nil {
		cfg.Ready()
	}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go expireLoop(sweepCtx, s, prep.log, time.Minute)
	sum.Counts, err = p.Run(ctx, src)
	if st, serr := s.Maps().ReadStats(); serr == nil {
		sum.Kernel = st
	}
	return sum, err
}

// expireLoop removes expired blocklist entries (fwsam times, `blocklist
// add --expires`) while the sensor runs.
func expireLoop(ctx context.Context, s *loader.Sensor, log *slog.Logger, every time.Duration) {
	bl, err := s.Blocklist()
	if err != nil {
		log.Error("blocklist expiry disabled", "err", err)
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			unlock, err := bl.Lock()
			if err != nil {
				log.Error("blocklist expiry", "err", err)
				continue
			}
			n, err := bl.Expire(now)
			unlock()
			switch {
			case err != nil:
				log.Error("blocklist expiry", "err", err)
			case n > 0:
				log.Info("blocklist entries expired", "entries", n)
			}
		}
	}
}

func closeSinks(sinks []event.Sink) {
	for _, s := range sinks {
		s.Close()
	}
}

// writtenFlowIDs reads the flow ids of the flow records in eve.json (its
// last 64 MiB: a restart only needs the recent ones).
func writtenFlowIDs(path string) (map[uint64]bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	const tail = 64 << 20
	if st, err := f.Stat(); err == nil && st.Size() > tail {
		if _, err := f.Seek(st.Size()-tail, io.SeekStart); err != nil {
			return nil, err
		}
	}
	ids := map[uint64]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"event_type":"flow"`)) {
			continue
		}
		var rec struct {
			FlowID uint64 `json:"flow_id"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.FlowID != 0 {
			ids[rec.FlowID] = true
		}
	}
	return ids, sc.Err()
}

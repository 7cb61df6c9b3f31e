package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/loader/pinlock"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
	"github.com/xdpsensor/xdpsensor/userspace/classification"
	"github.com/xdpsensor/xdpsensor/userspace/eve"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/fleet"
	"github.com/xdpsensor/xdpsensor/userspace/flowtable"
	"github.com/xdpsensor/xdpsensor/userspace/metrics"
	"github.com/xdpsensor/xdpsensor/userspace/outfile"
)

// Config is what `run` and `replay` share.
type Config struct {
	// VXLANPort and GenevePort are the UDP destination ports decoded as
	// those tunnels (0: 4789 and 6081).
	VXLANPort, GenevePort uint16
	Blocklists            []string // files; empty keeps a pinned sensor's current list
	BlocklistFormat       string   // auto, plain, snort
	// Replace allows an empty list, or one listing every address.
	Replace        blocklist.ReplaceOptions
	HomeNet        string // $HOME_NET: "any" or CIDRs
	ExternalNet    string // $EXTERNAL_NET: "any", "!$HOME_NET" or CIDRs
	Classification string // classification.config file; empty: Snort's standard table
	// DefaultThreshold is a Snort threshold value ("type limit, track
	// by_src, count 1, seconds 60") for rules of feeds without rules.
	DefaultThreshold string
	OutDir           string
	// OutputBacklog is the bytes of records each output keeps while it
	// cannot be written (0: outfile.DefaultMaxPending).
	OutputBacklog int
	SensorName    string
	// EVECompressIPv6 writes IPv6 addresses in EVE in RFC 5952 form, as
	// Suricata's eve-log ipv6-compress: yes; by default they are written
	// in full, as Suricata's default (ipv6-compress: no) writes them.
	EVECompressIPv6 bool
	// ZeekJSON writes the Zeek logs as JSON lines, as Zeek does with
	// LogAscii::use_json=T, instead of TSV.
	ZeekJSON        bool
	FlowTimeout     time.Duration
	FlowTableSize   uint32 // IPv4 flows, 0: from memory (loader.FlowTables)
	FlowTableSizeV6 uint32 // IPv6 flows, 0: a quarter of FlowTableSize
	// ThresholdTableSize is how many threshold windows the kernel keeps
	// (0: loader.DefaultThresholds).
	ThresholdTableSize uint32
	EmergencyTimeout   time.Duration
	// AlertEveryPacket alerts on every matching packet (Snort 2) rather
	// than each flow direction's first (Suricata's IP-only rules).
	AlertEveryPacket bool
	// StatsInterval is how often a stats event is written and losses are
	// logged (live); 0: at the end only.
	StatsInterval time.Duration
	RingSize      uint32
	Capture       CaptureConfig
	Logger        *slog.Logger
	// Fleet publishes every event to NATS JetStream too, and makes a live
	// sensor follow the fleet's blocklist (nil: no fleet).
	Fleet *fleet.Config
	// ReplayPerFrame replays each frame with a BPF_PROG_TEST_RUN of its
	// own instead of in batches: the reference the batches are tested
	// against.
	ReplayPerFrame bool
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
	Packets     uint64 // replay: packets fed
	Skipped     uint64 // replay: frames BPF_PROG_TEST_RUN could not take
	Cut         uint64 // replay: frames longer than it takes, run cut (ReplaySource.Cut)
	NotEthernet uint64 // replay: capture records skipped, not readable as Ethernet (a link type we do not read)
	Blocklist   blocklistmaps.InstallStats
	OutDir      string
	Problems    []string           // replay: what of the captures could not be read
	Kernel      abi.BpfSensorStats // the kernel's counters at the end
	Losses      []Loss             // what was lost, by reason (none: nothing)
	Daemon      abi.BpfDaemonStats // the daemon's counters at the end
}

type prepared struct {
	classes *classification.Table
	list    *blocklist.List
	netvars blocklistmaps.NetVars
	log     *slog.Logger
	// alertEveryPacket: IP-only rules alert on every packet (Snort 2).
	alertEveryPacket bool
}

// prepare reads every input before anything touches the kernel, so bad
// input fails fast and changes nothing.
func prepare(ctx context.Context, cfg *Config) (*prepared, error) {
	p := &prepared{log: cfg.Logger, alertEveryPacket: cfg.AlertEveryPacket}
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
		list, err := blocklist.LoadContext(ctx, cfg.Blocklists, blocklist.Options{Format: cfg.BlocklistFormat, Classes: p.classes})
		if err != nil {
			return nil, fmt.Errorf("blocklist rejected, nothing loaded:\n%w", err)
		}
		if err := list.CheckReplacement(cfg.Replace); err != nil {
			return nil, fmt.Errorf("blocklist refused, nothing loaded: %w", err)
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
	p.netvars = blocklistmaps.NetVars{HomeAny: home.Any, Home: home.Prefixes,
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

// flowTimeout is the run's idle timeout, the default when not set.
func flowTimeout(cfg *Config) time.Duration {
	if cfg.FlowTimeout > 0 {
		return cfg.FlowTimeout
	}
	return flowtable.DefaultTimeout
}

// configure writes the run's settings into the sensor (tunnel ports,
// network variables, alert mode, the idle split time, capture settings)
// and installs the blocklist, all under the pin directory's lock: each
// setting is a read-modify-write of the one config entry, which a CLI
// `blocklist load` may rewrite meanwhile; without the lock one of the two
// changes is lost. cfg.Capture has its defaults.
func (p *prepared) configure(s *loader.Sensor, cfg *Config) (blocklistmaps.InstallStats, error) {
	var st blocklistmaps.InstallStats
	unlock, err := pinlock.Lock(s.Config.PinDir)
	if err != nil {
		return st, err
	}
	defer unlock()
	if err := loader.SetTunnelPorts(s.Maps(), cfg.VXLANPort, cfg.GenevePort); err != nil {
		return st, err
	}
	if err := blocklistmaps.SetNetVars(s.Maps(), p.netvars); err != nil {
		return st, err
	}
	if err := s.SetAlertEveryPacket(p.alertEveryPacket); err != nil {
		return st, err
	}
	if err := loader.SetIdleSplit(s.Maps(), flowTimeout(cfg)); err != nil {
		return st, err
	}
	c := cfg.Capture
	if err := s.SetCapture(loader.CaptureSettings{Mode: c.Mode, Snaplen: c.Snaplen, FlowBytes: c.FlowBytes}); err != nil {
		return st, err
	}
	if p.list == nil {
		return st, nil
	}
	bl, err := blocklistmaps.New(s.Maps(), s.Config.PinDir)
	if err != nil {
		return st, err
	}
	if st, err = bl.Replace(p.list); err != nil {
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
	// The object is parsed on the other CPU while the lists are read and
	// the captures scanned.
	abi.ParseSpecAhead()
	prep, err := prepare(ctx, &cfg)
	if err != nil {
		return Summary{}, err
	}
	cfg.Capture = cfg.Capture.withDefaults()
	if cfg.Capture.RingSize > 8<<20 {
		// Replay drains the ring after every batch: 1024 frames of at
		// most 3 KB and their headers fit, as does one frame run alone.
		cfg.Capture.RingSize = 8 << 20
	}
	flowsOnDemand := true // tables the operator sized may be far larger than the captures' flows
	sized := cfg.FlowTableSize == 0
	if sized {
		cfg.FlowTableSize, cfg.FlowTableSizeV6, flowsOnDemand = replayTables(files)
	}
	// The captures are read from here on, while the program loads.
	ahead := readCaptures(ctx, files)
	defer func() {
		if ahead != nil {
			ahead.stop()
		}
	}()
	s, err := loader.Load(loader.Config{
		FlowTableSize:      cfg.FlowTableSize,
		FlowTableSizeV6:    cfg.FlowTableSizeV6,
		ThresholdTableSize: cfg.ThresholdTableSize,
		RingSize:           cfg.RingSize,
		CaptureRingSize:    cfg.Capture.RingSize,
		ReplayClock:        true,
		Frags:              true, // captures hold jumbo and GRO-merged frames
		// A test run's verdict goes nowhere; replayed frames get the
		// verdict they would on a monitor port (it is all this changes).
		MonitorPort: true,
		// Threshold windows and zones are sized for the worst capture
		// and few are made; flow tables as replayTables says.
		AllocOnDemand:      true,
		AllocFlowsOnDemand: flowsOnDemand,
	})
	if err != nil {
		return Summary{}, err
	}
	defer s.Close()
	sum := Summary{OutDir: cfg.OutDir}
	if sum.Blocklist, err = prep.configure(s, &cfg); err != nil {
		return sum, err
	}
	// The kernel ends a flow idle past its timeout when its next packet
	// comes (configure), even in the batch that made it idle, so the sweep
	// need not pass every 10 s of packet time to split a reused tuple:
	// over tables sized from the captures it passes once a timeout,
	// writing what went idle up to a timeout late (a capture of an hour
	// spent half its replay in passes). Tables the operator sized may
	// fill and need emergency sweeps: those keep the default pace.
	var sweep time.Duration
	if sized {
		sweep = max(flowTimeout(&cfg), flowtable.DefaultSweepPeriod)
	}
	sinks, err := openOutputs(&cfg, prep.localNets())
	if err != nil {
		return sum, err
	}
	if sinks, err = withFleet(&cfg, prep, nil, sinks); err != nil {
		return sum, err
	}
	opts := Options{FlowTimeout: cfg.FlowTimeout, EmergencyTimeout: cfg.EmergencyTimeout, SweepPeriod: sweep,
		StatsInterval: cfg.StatsInterval, Classify: prep.classify, Logger: prep.log, PrivateTables: true}
	p, err := New(s, sinks, opts)
	if err != nil {
		return sum, err
	}
	if err := p.startCapture(cfg.Capture, cfg.OutDir, s); err != nil {
		closeSinks(sinks)
		return sum, err
	}
	src := &ReplaySource{Program: s.Objects.Xdpsensor, Files: files, ahead: ahead}
	ahead = nil // the source stops it
	if cfg.ReplayPerFrame {
		prep.log.Debug("replay: one frame per call")
	} else if src.Batcher, err = loader.NewBatchRunner(s); err != nil {
		prep.log.Warn("replay: one frame per call (no batches)", "err", err)
		src.Batcher = nil
	} else {
		defer src.Batcher.Close()
	}
	restore := paceCollector()
	sum.Counts, err = p.Run(ctx, src)
	restore()
	sum.Packets = src.Packets
	sum.Skipped = src.Skipped
	sum.Cut = src.Cut
	sum.NotEthernet = src.NotEthernet
	sum.Problems = src.Problems
	for _, pr := range src.Problems {
		prep.log.Warn("capture", "problem", pr)
	}
	if err == nil && len(src.Problems) > 0 && src.Packets == 0 && src.Skipped == 0 {
		err = fmt.Errorf("no packet could be read:\n%s", strings.Join(src.Problems, "\n"))
	}
	if src.Skipped > 0 {
		prep.log.Warn("frames the kernel program could not run (shorter than Ethernet)", "skipped", src.Skipped)
	}
	if src.Cut > 0 {
		prep.log.Warn("frames longer than BPF_PROG_TEST_RUN takes (BIG TCP) run cut: counted by their wire length, their payload past the cut not captured",
			"cut", src.Cut, "cut_to_bytes", LongestRunnable)
	}
	if src.NotEthernet > 0 {
		prep.log.Warn("capture records skipped: not readable as Ethernet (a link type xdpsensor does not read, or a link header cut short)",
			"skipped", src.NotEthernet)
	}
	if st, serr := s.Maps().ReadStats(); serr == nil {
		sum.Kernel = st
	}
	sum.Daemon, _ = s.Maps().ReadDaemonStats()
	if p != nil {
		sum.Losses = p.Losses()
	}
	return sum, err
}

// replayTablesBySize bounds the flow tables by the captures' sizes: a
// record holds at least a 16-byte header and a 14-byte frame, so a file of
// B bytes holds at most B/30 packets and no more flows.
func replayTablesBySize(files []string) (v4, v6 uint32) {
	v4, v6 = loader.FlowTables(0)
	var total int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil || !st.Mode().IsRegular() {
			return v4, v6
		}
		total += st.Size()
	}
	n := uint32(loader.MinFlows)
	for n < v4 && int64(n) < total/30 {
		n *= 2
	}
	return n, n
}

// Live attaches to interfaces and runs until ctx is cancelled.
func Live(ctx context.Context, cfg LiveConfig) (Summary, error) {
	if len(cfg.Interfaces) == 0 {
		return Summary{}, errors.New("no interface to watch (--iface)")
	}
	abi.ParseSpecAhead() // while the lists are read
	prep, err := prepare(ctx, &cfg.Config)
	if err != nil {
		return Summary{}, err
	}
	// What the operator gave is checked before anything is loaded,
	// pinned or attached: a run that cannot start leaves nothing behind.
	if err := checkInterfaces(cfg.Netns, cfg.Interfaces); err != nil {
		return Summary{}, err
	}
	if err := checkOutDir(&cfg.Config); err != nil {
		return Summary{}, err
	}
	var ln net.Listener
	if cfg.MetricsAddr != "" {
		if ln, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return Summary{}, fmt.Errorf("--metrics-addr: %w", err)
		}
		defer func() {
			if ln != nil {
				ln.Close() // not handed to the server: Live failed
			}
		}()
	}
	pinDir := cfg.PinDir
	if pinDir == "" {
		pinDir = loader.DefaultPinDir
	}
	if canon, err := canonicalPath(pinDir); err == nil {
		pinDir = canon // one daemon per directory, however it is spelled
	}
	if err := loader.CheckPrivileges(); err != nil {
		return Summary{}, err
	}
	unlock, err := lockDaemon(pinDir)
	if err != nil {
		return Summary{}, err
	}
	defer unlock()
	_, statErr := os.Stat(filepath.Join(pinDir, "config"))
	fresh := statErr != nil // no sensor pinned here before this run
	cfg.Capture = cfg.Capture.withDefaults()
	s, err := loader.Load(loader.Config{
		PinDir:             pinDir,
		FlowTableSize:      cfg.FlowTableSize,
		FlowTableSizeV6:    cfg.FlowTableSizeV6,
		ThresholdTableSize: cfg.ThresholdTableSize,
		RingSize:           cfg.RingSize,
		MonitorPort:        cfg.MonitorPort,
		Frags:              cfg.Frags,

		CaptureRingSize:     cfg.Capture.RingSize,
		ReplaceIncompatible: true,
	})
	if err != nil {
		return Summary{}, err
	}
	defer s.Close()
	running := false
	defer func() {
		// A first run that failed removes the maps (and kept links) it
		// pinned; a restart's pins hold an earlier run's state and stay.
		if !running && fresh {
			loader.Unpin(pinDir)
		}
	}()
	for _, w := range s.Warnings {
		prep.log.Warn(w)
	}
	counted := false
	defer func() {
		// A run that fails before counting still says what the replaced
		// maps held (it publishes no counters).
		if !counted {
			countReplaced(s, prep.log)
		}
	}()
	sum := Summary{OutDir: cfg.OutDir}
	if sum.Blocklist, err = prep.configure(s, &cfg.Config); err != nil {
		return sum, err
	}
	if prep.list != nil {
		prep.log.Info("blocklist installed", "generation", sum.Blocklist.Generation, "rules", sum.Blocklist.Rules,
			"exact_v4", sum.Blocklist.ExactV4, "exact_v6", sum.Blocklist.ExactV6,
			"prefix_v4", sum.Blocklist.PrefixV4, "prefix_v6", sum.Blocklist.PrefixV6, "took", sum.Blocklist.Took)
		if n := sum.Blocklist.ThresholdsDropped; n > 0 {
			prep.log.Warn("threshold windows not carried over to the new rules (thresholds table full): those rules count afresh", "windows", n)
		}
	}
	sinks, err := openOutputs(&cfg.Config, prep.localNets())
	if err != nil {
		return sum, err
	}
	if sinks, err = withFleet(&cfg.Config, prep, s, sinks); err != nil {
		return sum, err
	}
	src := &LiveSource{}
	var capSink *captureSink
	// Until the pipeline runs (and then stops and closes them itself), a
	// failure detaches what was attached and closes the outputs.
	defer func() {
		if !running {
			src.Stop()
			closeSinks(sinks)
			if capSink != nil {
				capSink.close()
			}
		}
	}()
	if capSink, err = prepareCapture(cfg.Capture, cfg.OutDir, s); err != nil {
		return sum, err
	}
	names, adopted, err := attachAll(s, &cfg, src, prep.log)
	if err != nil {
		return sum, err
	}
	// The program the attachments replaced (adopted, or an earlier run's
	// left attached) wrote to the replaced maps until now: count them now.
	upgrade := countReplaced(s, prep.log)
	counted = true
	var skip map[uint64]bool
	if adopted {
		// An earlier run may have written some flows and died before
		// removing them from the kernel: do not write them twice.
		if skip, err = writtenFlowIDs(filepath.Join(cfg.OutDir, "eve.json")); err != nil {
			prep.log.Warn("reading earlier flow records", "err", err)
		}
	}
	p, err := New(s, sinks, Options{FlowTimeout: cfg.FlowTimeout, EmergencyTimeout: cfg.EmergencyTimeout,
		StatsInterval: cfg.StatsInterval, Classify: prep.classify, Logger: prep.log, Interfaces: names, KeepFlows: cfg.KeepAttached, SkipFlows: skip, Reopen: cfg.Reopen,
		Upgrade: upgrade})
	if err != nil {
		return sum, err
	}
	p.capture = capSink
	if ln != nil {
		if err := serveMetrics(ctx, ln, &cfg, s, src, p, prep.log); err != nil {
			return sum, err
		}
		ln = nil // the server closes it
	}
	if err := watchInterfaces(ctx, s, &cfg, src, prep.log); err != nil {
		return sum, err
	}
	if cfg.Ready != nil {
		cfg.Ready()
	}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go expireLoop(sweepCtx, s, prep.log, time.Minute)
	running = true
	restore := paceCollector()
	sum.Counts, err = p.Run(ctx, src)
	restore()
	if st, serr := s.Maps().ReadStats(); serr == nil {
		sum.Kernel = st
	}
	if p != nil {
		sum.Losses = p.Losses()
	}
	return sum, err
}

// countReplaced counts what the pinned maps Load replaced still held,
// and logs it per map.
func countReplaced(s *loader.Sensor, log *slog.Logger) loader.UpgradeLosses {
	up, lines := s.CountReplaced()
	for _, l := range lines {
		log.Warn(l)
	}
	return up
}

// checkOutDir creates the output directory (and OUT/pcap when capturing)
// and fails when it cannot be written to or others could plant files in it.
func checkOutDir(cfg *Config) error {
	if cfg.OutDir == "" {
		return errors.New("no output directory (--out)")
	}
	dirs := []string{cfg.OutDir}
	if cfg.Capture.enabled() {
		dirs = append(dirs, filepath.Join(cfg.OutDir, "pcap"))
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("creating output directory: %w", err)
		}
		d, err := outfile.OpenDir(dir)
		if err != nil {
			return err
		}
		d.Close()
		if err := unix.Access(dir, unix.W_OK); err != nil {
			return fmt.Errorf("output directory %s cannot be written: %w", dir, err)
		}
	}
	return nil
}

// checkInterfaces fails on the first interface netns does not have.
func checkInterfaces(netns string, ifnames []string) error {
	return loader.InNetns(netns, func() error {
		for _, ifname := range ifnames {
			if _, err := net.InterfaceByName(ifname); err != nil {
				return fmt.Errorf("interface %q: no such interface (see `ip link`)", ifname)
			}
		}
		return nil
	})
}

// attachAll hooks the program to every interface (and TC egress in host
// mode), adding the attachments to src; it returns the interfaces'
// names by ifindex and whether an earlier run's program was adopted.
func attachAll(s *loader.Sensor, cfg *LiveConfig, src *LiveSource, log *slog.Logger) (map[uint32]string, bool, error) {
	mode := cfg.XDPMode
	if mode == "" {
		mode = loader.XDPAuto
	}
	names := map[uint32]string{}
	adopted := false
	err := loader.InNetns(cfg.Netns, func() error {
		for _, ifname := range cfg.Interfaces {
			a, err := s.Attach(ifname, mode)
			if err != nil {
				return err
			}
			src.Attachments = append(src.Attachments, a)
			names[uint32(a.Ifindex)] = ifname
			if a.Adopted {
				adopted = true
				log.Info("adopted the program an earlier run left attached (replaced atomically)", "interface", ifname, "mode", a.Mode)
			} else {
				log.Info("attached", "interface", ifname, "mode", a.Mode, "monitor_port", cfg.MonitorPort)
			}
			if cfg.KeepAttached {
				if err := a.Keep(); err != nil {
					return err
				}
			}
			if on, err := loader.RXVLANOffload(ifname); err == nil && on {
				log.Warn("the NIC strips VLAN tags before XDP sees them: flows of different VLANs will merge",
					"interface", ifname, "remedy", "ethtool -K "+ifname+" rxvlan off")
			}
			if cfg.HostMode {
				e, err := s.AttachEgress(ifname)
				if err != nil {
					return err
				}
				src.Egress = append(src.Egress, e)
				log.Info("attached egress", "interface", ifname, "mode", e.Mode, "adopted", e.Adopted)
				if cfg.KeepAttached {
					if err := e.Keep(); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	return names, adopted, err
}

// serveMetrics starts the Prometheus endpoint on ln.
func serveMetrics(ctx context.Context, ln net.Listener, cfg *LiveConfig, s *loader.Sensor, src *LiveSource, p *Pipeline, log *slog.Logger) error {
	var ifs []metrics.Interface
	for i, a := range src.Attachments {
		mi := metrics.Interface{Name: a.Interface, Mode: string(a.Mode)}
		if i < len(src.Egress) {
			mi.EgressMode = src.Egress[i].Mode
		}
		ifs = append(ifs, mi)
	}
	reg, err := metrics.NewRegistry(metrics.NewCollector(s.Maps(), metrics.Options{Interfaces: ifs, Netns: cfg.Netns}))
	if err == nil {
		err = registerOutputMetrics(reg, p.sinks) // the fleet publisher's counters
	}
	if err != nil {
		return err
	}
	go func() {
		if err := metrics.ServeListener(ctx, ln, reg, log); err != nil {
			log.Error("serving metrics", "err", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return nil
}

// expireLoop removes expired blocklist entries (fwsam times, `blocklist
// add --expires`) while the sensor runs.
func expireLoop(ctx context.Context, s *loader.Sensor, log *slog.Logger, every time.Duration) {
	bl, err := blocklistmaps.New(s.Maps(), s.Config.PinDir)
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
	ids := map[uint64]bool{}
	flows := eve.Reader{MaxLine: 16 << 20, Needles: [][]byte{[]byte(`"event_type":"flow"`)}, Tail: 64 << 20}
	err := flows.ScanFile(path, func(line []byte) bool {
		var rec struct {
			FlowID uint64 `json:"flow_id"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.FlowID != 0 {
			ids[rec.FlowID] = true
		}
		return true
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return ids, err
}

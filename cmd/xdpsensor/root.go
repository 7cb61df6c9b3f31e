package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/capture"
	"github.com/xdpsensor/xdpsensor/userspace/flowtable"
	"github.com/xdpsensor/xdpsensor/userspace/pipeline"
)

type globalFlags struct {
	pinDir     string
	logLevel   string
	cpuProfile string
}

func newRootCommand() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "xdpsensor",
		Short:         "XDP network security monitoring sensor: C&C blocklist alerts, session records with TCP flag counts",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.pinDir, "pin-dir", loader.DefaultPinDir, "bpffs directory of the sensor's pinned maps")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	// For finding where the daemon spends its time under load.
	root.PersistentFlags().StringVar(&g.cpuProfile, "cpu-profile", "", "write a Go CPU profile of the command to this file")
	root.PersistentFlags().MarkHidden("cpu-profile")
	var profile *os.File
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if g.cpuProfile == "" {
			return nil
		}
		f, err := os.Create(g.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		profile = f
		return pprof.StartCPUProfile(f)
	}
	root.PersistentPostRun = func(*cobra.Command, []string) {
		if profile != nil {
			pprof.StopCPUProfile()
			profile.Close()
		}
	}
	root.AddCommand(newRunCommand(g), newReplayCommand(g), newStatsCommand(g), newFlowsCommand(g), newDetachCommand(g),
		newBlocklistCommand(g), newSessionsCommand(g), newCarveCommand(g), newPcapCommand(g), newUICommand(g), newFleetCommand(g))
	// After AddCommand: --config fills every command's flags from a file.
	addConfigFlag(root)
	return root
}

func (g *globalFlags) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})), nil
}

// sensorFlags are shared by run and replay.
type sensorFlags struct {
	blocklists       []string
	blocklistFormat  string
	homeNet          string
	externalNet      string
	classification   string
	threshold        string
	out              string
	sensorName       string
	flowTimeout      time.Duration
	flowTableSize    uint32
	flowTableMemory  string
	thresholdTable   uint32
	emergencyTimeout time.Duration
	alertEveryPacket bool
	statsInterval    time.Duration
	ringSize         uint32

	capture      string
	snaplen      uint32
	captureFlow  string
	pcapFiles    int
	pcapSize     string
	pcapRotate   time.Duration
	pcapFormat   string
	captureRing  uint32
	backlog      string
	replace      blocklist.ReplaceOptions
	ipv6Compress bool
	zeekJSON     bool

	vxlanPort  uint16
	genevePort uint16

	nats natsFlags // fleet.go
}

func (f *sensorFlags) register(cmd *cobra.Command, defaultOut string) {
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.blocklists, "blocklist", "b", nil, "blocklist file: plain addresses/CIDRs or Snort/ET rules (repeatable)")
	fl.StringVar(&f.blocklistFormat, "format", "auto", "blocklist format: "+strings.Join(blocklist.Formats(), ", "))
	fl.StringVar(&f.homeNet, "home-net", "any", "$HOME_NET: any, or CIDRs like [192.0.2.0/24,2001:db8::/32]")
	fl.StringVar(&f.externalNet, "external-net", "any", "$EXTERNAL_NET: any, !$HOME_NET, or CIDRs")
	fl.StringVar(&f.classification, "classification", "", "Snort classification.config (default: the standard table)")
	fl.StringVar(&f.threshold, "threshold", "", `threshold for feeds without rules of their own, as Snort writes it ("type limit, track by_src, count 1, seconds 60")`)
	fl.BoolVar(&f.replace.AllowEmpty, "allow-empty", false, "accept --blocklist files with no address")
	fl.BoolVar(&f.replace.AllowAll, "allow-all", false, "accept --blocklist files holding 0.0.0.0/0 or ::/0 (every packet alerts)")
	fl.StringVarP(&f.out, "out", "o", defaultOut, "output directory (eve.json)")
	fl.BoolVar(&f.ipv6Compress, "eve-ipv6-compress", false, "write IPv6 addresses in EVE compressed (2001:db8::1), as Suricata's eve-log ipv6-compress: yes; by default in full, as Suricata's default")
	fl.BoolVar(&f.zeekJSON, "zeek-json", false, "write conn.log as JSON lines, as Zeek does with LogAscii::use_json=T, instead of TSV")
	fl.StringVar(&f.sensorName, "sensor-name", "", "sensor name for the EVE host field; with --nats also its subject token (default there: the host name)")
	fl.DurationVar(&f.flowTimeout, "flow-timeout", flowtable.DefaultTimeout, "write a flow's record after this long idle")
	fl.Uint32Var(&f.flowTableSize, "flow-table-size", 0, "IPv4 flows the kernel table holds (0: sized to a sixteenth of memory, at most 1048576); the IPv6 table holds a quarter as many")
	fl.StringVar(&f.flowTableMemory, "flow-table-memory", "", "size the flow tables to this much kernel memory instead (e.g. 512M)")
	fl.Uint32Var(&f.thresholdTable, "threshold-table-size", loader.DefaultThresholds, "threshold windows (rule and tracked address) the kernel keeps; a match that finds the table full alerts untracked, counted as thresholds_full")
	fl.DurationVar(&f.emergencyTimeout, "emergency-timeout", flowtable.DefaultEmergencyTimeout, "idle timeout while the flow tables are 90% full, until they drain below 70%")
	fl.BoolVar(&f.alertEveryPacket, "alert-every-packet", false, "alert on every matching packet (Snort 2) instead of each flow direction's first (Suricata's IP-only rules)")
	fl.DurationVar(&f.statsInterval, "stats-interval", time.Minute, "write a stats event (and log losses) this often; 0: at the end only")
	fl.Uint32Var(&f.ringSize, "ring-size", loader.DefaultRingSize, "event ring buffer size in bytes (a power of two)")
	fl.StringVar(&f.capture, "capture", "listed", "full-content capture to OUT/pcap: listed (every packet of flows touching a listed address, from the first), all, or none")
	fl.Uint32Var(&f.snaplen, "snaplen", 0, "bytes of each frame to capture (0: whole frames)")
	fl.StringVar(&f.captureFlow, "capture-flow-bytes", "0", "stop capturing a flow after this many bytes, like Suricata's stream depth (e.g. 1M; 0: no limit)")
	fl.IntVar(&f.pcapFiles, "pcap-files", pipeline.DefaultPcapFiles, "keep a ring of this many pcap files (tshark -b files:N)")
	fl.StringVar(&f.pcapSize, "pcap-size", "100M", "start a new pcap file at this size (tshark -b filesize)")
	fl.DurationVar(&f.pcapRotate, "pcap-rotate", 0, "also start a new pcap file this often (e.g. 1h; 0: by size only)")
	fl.StringVar(&f.pcapFormat, "pcap-format", "pcap", "pcap or pcapng")
	fl.StringVar(&f.backlog, "output-backlog", "8M", "bytes of records each output file keeps in memory while it cannot be written (disk full), retried every second; records past this are counted as lost")
	fl.Uint32Var(&f.captureRing, "capture-ring-size", pipeline.DefaultCaptureRingSize, "kernel-to-daemon capture ring in bytes (a power of two)")
	fl.Uint16Var(&f.vxlanPort, "vxlan-port", loader.DefaultVXLANPort, "UDP destination port decoded as VXLAN (AWS VPC Traffic Mirroring: 4789)")
	fl.Uint16Var(&f.genevePort, "geneve-port", loader.DefaultGenevePort, "UDP destination port decoded as Geneve")
	f.nats.registerSensor(fl)
}

func (f *sensorFlags) config(log *slog.Logger) (pipeline.Config, error) {
	mode, err := loader.ParseCaptureMode(f.capture)
	if err != nil {
		return pipeline.Config{}, err
	}
	size, err := capture.ParseSize(f.pcapSize)
	if err != nil || size <= 0 {
		return pipeline.Config{}, fmt.Errorf("--pcap-size %q: want a size like 100M", f.pcapSize)
	}
	flowBytes, err := capture.ParseSize(f.captureFlow)
	if err != nil || flowBytes < 0 {
		return pipeline.Config{}, fmt.Errorf("--capture-flow-bytes %q: want a size like 1M, or 0", f.captureFlow)
	}
	if f.pcapFormat != "pcap" && f.pcapFormat != "pcapng" {
		return pipeline.Config{}, fmt.Errorf("--pcap-format %q: want pcap or pcapng", f.pcapFormat)
	}
	if f.pcapFiles < 1 {
		return pipeline.Config{}, fmt.Errorf("--pcap-files %d: want at least 1", f.pcapFiles)
	}
	backlog, err := capture.ParseSize(f.backlog)
	if err != nil || backlog < 0 || backlog > 1<<30 {
		return pipeline.Config{}, fmt.Errorf("--output-backlog %q: want a size like 8M, at most 1G", f.backlog)
	}
	if f.snaplen > loader.MaxSnaplen {
		return pipeline.Config{}, fmt.Errorf("--snaplen %d: at most %d", f.snaplen, loader.MaxSnaplen)
	}
	v4, v6 := f.flowTableSize, uint32(0)
	if f.flowTableMemory != "" {
		if f.flowTableSize != 0 {
			return pipeline.Config{}, errors.New("--flow-table-size and --flow-table-memory: give one")
		}
		budget, err := capture.ParseSize(f.flowTableMemory)
		if err != nil || budget < loader.MinFlows*loader.FlowBytesV4 {
			return pipeline.Config{}, fmt.Errorf("--flow-table-memory %q: want a size of at least %d bytes, like 256M", f.flowTableMemory, loader.MinFlows*loader.FlowBytesV4)
		}
		v4, v6 = loader.FlowTables(uint64(budget))
	}
	if f.emergencyTimeout <= 0 {
		return pipeline.Config{}, fmt.Errorf("--emergency-timeout %s: want a positive duration", f.emergencyTimeout)
	}
	cfg := pipeline.Config{
		Capture: pipeline.CaptureConfig{Mode: mode, Snaplen: f.snaplen, FlowBytes: uint64(flowBytes), Files: f.pcapFiles,
			FileSize: size, Rotate: f.pcapRotate, Format: f.pcapFormat, RingSize: f.captureRing},
		VXLANPort:        f.vxlanPort,
		GenevePort:       f.genevePort,
		Blocklists:       f.blocklists,
		BlocklistFormat:  f.blocklistFormat,
		Replace:          f.replace,
		HomeNet:          f.homeNet,
		ExternalNet:      f.externalNet,
		Classification:   f.classification,
		DefaultThreshold: f.threshold,
		OutDir:           f.out,
		OutputBacklog:    int(backlog),
		SensorName:       f.sensorName,
		EVECompressIPv6:  f.ipv6Compress,
		ZeekJSON:         f.zeekJSON,
		FlowTimeout:      f.flowTimeout,
		FlowTableSize:    v4,
		FlowTableSizeV6:  v6,
		EmergencyTimeout: f.emergencyTimeout,
		AlertEveryPacket: f.alertEveryPacket,
		StatsInterval:    f.statsInterval,
		RingSize:         f.ringSize,
		Logger:           log,
	}
	cfg.ThresholdTableSize = f.thresholdTable
	return cfg, f.nats.apply(&cfg)
}

// Package loader loads the xdpsensor kernel program (its bpf2go bindings
// are loader/abi), pins its maps and attaches it to interfaces; it also
// runs single frames through it (BPF_PROG_TEST_RUN) for replay.
package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/loader/pinlock"
)

// DefaultPinDir is where a running sensor pins its maps.
const DefaultPinDir = "/sys/fs/bpf/xdpsensor"

// Config sizes and shapes one loaded instance of the kernel program.
type Config struct {
	// PinDir is the bpffs directory for the maps; empty loads a private,
	// unpinned instance (replay, tests).
	PinDir string
	// FlowTableSize is the number of IPv4 flows the table holds (0: sized
	// from the machine's memory, see FlowTables); FlowTableSizeV6 of IPv6
	// flows (0: a quarter of the IPv4 table's).
	FlowTableSize, FlowTableSizeV6 uint32
	// FlowExtraSize caps the flow extensions (0: a quarter of the tables).
	FlowExtraSize uint32
	// ThresholdTableSize is how many threshold windows (rule and tracked
	// address) the kernel keeps (0: DefaultThresholds). A match that finds
	// the table full alerts untracked, counted in thresholds_full.
	ThresholdTableSize uint32
	// RingSize is the event ring in bytes (a power of two, at least a page).
	RingSize uint32
	// CaptureRingSize is the capture ring in bytes; 0 leaves one page,
	// enough for a sensor that captures nothing.
	CaptureRingSize uint32
	// MonitorPort makes the program drop frames after recording them: on a
	// dedicated SPAN/tap port the mirrored copies have no place in the stack.
	MonitorPort bool
	// ReplayClock takes each packet's time and wire length from 16 bytes
	// of XDP metadata (ReplayMeta) instead of the kernel clock and the
	// frame.
	ReplayClock bool
	// ReplaceIncompatible lets the daemon start over with a pinned map
	// whose layout or size no longer fits (a new binary, other sizes): that
	// map is created anew, Sensor.Warnings says so, and what the old one
	// still held is counted by CountReplaced. Without it, Load refuses and
	// says how to clean up.
	ReplaceIncompatible bool
	// Frags loads the XDP program for multi-buffer frames
	// (BPF_F_XDP_HAS_FRAGS): jumbo-MTU NICs, and replays of captures
	// holding GRO-merged frames of up to 64 KB.
	Frags bool
	// BenchNewFlows gives every packet new ports (benchmarks of the
	// new-flow path with one repeated frame); never set it on a sensor.
	BenchNewFlows bool
	// AllocOnDemand creates the threshold and zone tables without
	// preallocating their entries (BPF_F_NO_PREALLOC): same capacity,
	// same program, but an entry's memory is taken when it is made.
	// Replay sizes them for the worst capture and fills a fraction.
	AllocOnDemand bool
	// AllocFlowsOnDemand does the same for the flow tables. Preallocated
	// entries take time to make (about 0.36 µs each on the bench VM) but
	// lie side by side: a replayed frame took about 70 ns less in the
	// kernel than with entries spread over the slab.
	AllocFlowsOnDemand bool
}

// RulesPerGeneration is the most rules one blocklist load may hold
// (blocklistmaps.DefaultCapacity.Rules).
const RulesPerGeneration = 1 << 16

// RulesMapEntries sizes the rules map: a reload writes the new
// generation's rules while the live one's are still in use, so the map
// holds both in full, plus as many again for `blocklist add` (which
// adds to the live generation until the next reload).
const RulesMapEntries = 3 * RulesPerGeneration

// Defaults for a live sensor; tests pass smaller sizes.
const (
	DefaultRingSize = 16 << 20
	// MaxDefaultFlows is the IPv4 table a machine with memory to spare
	// gets; its IPv6 table holds a quarter as many.
	MaxDefaultFlows = 1 << 20
	// MinFlows is the smallest table the sizing picks.
	MinFlows = 1 << 12
	// DefaultZones is how many VLAN stacks (and tunnels) can be told apart.
	DefaultZones = 65536
	// DefaultThresholds is how many threshold windows the kernel keeps:
	// preallocated, about 90 bytes each (6 MB).
	DefaultThresholds = 65536
)

// Kernel memory of one flow table entry, all in: the hash map's 48-byte
// element header, the key and the 104-byte value, and its bucket (16
// bytes with a power-of-two table). Userspace sizes tables with these;
// the benchmarks read the real figure from the maps' memlock.
const (
	htabElemHeader = 48
	htabBucket     = 16
	FlowBytesV4    = htabElemHeader + 16 + 104 + htabBucket
	FlowBytesV6    = htabElemHeader + 40 + 104 + htabBucket
)

// FlowTables sizes the flow tables for a memory budget in bytes (0: a
// sixteenth of the machine's memory): the largest power-of-two IPv4 table
// (at most MaxDefaultFlows, at least MinFlows) whose tables, IPv6 a quarter
// of IPv4, fit.
func FlowTables(budget uint64) (v4, v6 uint32) {
	if budget == 0 {
		var si unix.Sysinfo_t
		if err := unix.Sysinfo(&si); err == nil {
			budget = uint64(si.Totalram) * uint64(si.Unit) / 16
		}
	}
	v4 = MaxDefaultFlows
	for v4 > MinFlows && uint64(v4)*FlowBytesV4+uint64(v4/4)*FlowBytesV6 > budget {
		v4 /= 2
	}
	return v4, v4 / 4
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.FlowTableSize == 0 {
		v4, v6 := FlowTables(0)
		out.FlowTableSize = v4
		if out.FlowTableSizeV6 == 0 {
			out.FlowTableSizeV6 = v6
		}
	}
	if out.FlowTableSizeV6 == 0 {
		out.FlowTableSizeV6 = max(out.FlowTableSize/4, 1)
	}
	if out.FlowExtraSize == 0 {
		out.FlowExtraSize = max((out.FlowTableSize+out.FlowTableSizeV6)/4, MinFlows)
	}
	if out.RingSize == 0 {
		out.RingSize = DefaultRingSize
	}
	if out.ThresholdTableSize == 0 {
		out.ThresholdTableSize = DefaultThresholds
	}
	return out
}

// FlowCapacity is how many flows the tables hold.
func (c *Config) FlowCapacity() uint64 {
	return uint64(c.FlowTableSize) + uint64(c.FlowTableSizeV6)
}

// Objects are what a sensor loads: every map and the XDP program. The TC
// egress program of host mode is loaded only when asked for (LoadEgress).
type Objects struct {
	abi.BpfMaps
	Xdpsensor *ebpf.Program `ebpf:"xdpsensor"`
}

// Close releases the program and maps.
func (o *Objects) Close() error {
	err := o.BpfMaps.Close()
	if o.Xdpsensor != nil {
		err = errors.Join(err, o.Xdpsensor.Close())
	}
	return err
}

// Sensor is one loaded instance of the program and its maps.
type Sensor struct {
	Objects Objects
	Egress  *ebpf.Program // host mode's TC program, once LoadEgress ran
	Config  Config
	// Warnings are what Load had to give up on (maps created anew).
	Warnings []string
	spec     *ebpf.CollectionSpec
	// replaced are the old maps behind Warnings, held open until
	// CountReplaced counts what they held.
	replaced []replacedMap
}

// Maps returns the sensor's maps.
func (s *Sensor) Maps() *abi.BpfMaps { return &s.Objects.BpfMaps }

// Load checks the kernel, loads the program and creates (or, when pinned
// copies exist, reuses) its maps.
func Load(cfg Config) (*Sensor, error) {
	cfg = cfg.withDefaults()
	if err := CheckPrivileges(); err != nil {
		return nil, err
	}
	if err := checkKernel(); err != nil {
		return nil, err
	}
	spec, err := abi.Spec()
	if err != nil {
		return nil, fmt.Errorf("reading embedded BPF object: %w", err)
	}
	if err := configureSpec(spec, cfg); err != nil {
		return nil, err
	}

	opts := &ebpf.CollectionOptions{}
	if cfg.PinDir != "" {
		if err := ensurePinDir(cfg.PinDir); err != nil {
			return nil, err
		}
		opts.Maps.PinPath = cfg.PinDir
	} else {
		for _, m := range spec.Maps {
			m.Pinning = ebpf.PinNone
		}
	}

	s := &Sensor{Config: cfg, spec: spec}
	if cfg.PinDir != "" {
		// LoadAndAssign compares outer maps only: a pinned map of maps
		// whose inner maps no longer fit would fail the verifier.
		err = pinnedInnerCompatible(spec, cfg.PinDir)
	}
	if err == nil {
		err = spec.LoadAndAssign(&s.Objects, opts)
	}
	if errors.Is(err, ebpf.ErrMapIncompatible) && cfg.PinDir != "" && cfg.ReplaceIncompatible {
		warnings, old, rerr := unpinIncompatible(spec, cfg.PinDir)
		if rerr != nil {
			return nil, rerr
		}
		s.Warnings, s.replaced = warnings, old
		err = spec.LoadAndAssign(&s.Objects, opts)
		if err != nil {
			// Nothing replaced after all: the old maps go back.
			if rerr := s.restoreReplaced(cfg.PinDir); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}
	if err != nil {
		s.closeReplaced()
		return nil, explainLoadError(err, cfg)
	}
	if err := initConfig(s.Maps()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// unpinIncompatible removes the pins of maps that do not fit the spec, so
// that Load creates them anew; the old ones live on only while an old
// program still uses them, and while the returned handles are open (for
// CountReplaced).
func unpinIncompatible(spec *ebpf.CollectionSpec, dir string) ([]string, []replacedMap, error) {
	var warnings []string
	var old []replacedMap
	fail := func(err error) ([]string, []replacedMap, error) {
		s := Sensor{replaced: old}
		return nil, nil, errors.Join(err, s.restoreReplaced(dir))
	}
	for name, ms := range spec.Maps {
		if ms.Pinning != ebpf.PinByName {
			continue
		}
		path := filepath.Join(dir, name)
		m, err := ebpf.LoadPinnedMap(path, nil)
		if err != nil {
			continue
		}
		cerr := ms.Compatible(m)
		if cerr == nil {
			cerr = innerCompatible(ms, m, dir)
		}
		if cerr == nil {
			m.Close()
			continue
		}
		if err := os.Remove(path); err != nil {
			m.Close()
			return fail(fmt.Errorf("removing incompatible pinned map %s: %w", path, err))
		}
		old = append(old, replacedMap{name: name, m: m})
		lost := map[string]string{
			"flows_v4": "the flows it held are not written (counted: flows_lost_upgrade)", "flows_v6": "the flows it held are not written (counted: flows_lost_upgrade)",
			"flow_extras": "the flows it held lose their rare counters", "events": "events it held are lost (counted: events_lost_upgrade)",
			"capture": "frames it held are lost (counted: capture_lost_upgrade)", "config": "the blocklist must be loaded again",
			"rules": "the blocklist must be loaded again", "stats": "the kernel's counters start from zero",
			"daemon_counters": "the daemon's counters start from zero",
		}[name]
		if strings.HasPrefix(name, "blocklist_") || strings.HasSuffix(name, "_slots") || strings.HasSuffix(name, "_filter") {
			lost = "the blocklist must be loaded again"
		}
		if lost == "" {
			lost = "its contents start empty"
		}
		warnings = append(warnings, fmt.Sprintf("pinned map %s no longer fits (%v): created anew; %s", name, cerr, lost))
	}
	sort.Strings(warnings)
	sort.Slice(old, func(i, j int) bool { return old[i].name < old[j].name })
	return warnings, old, nil
}

// pinnedInnerCompatible checks the inner maps of the maps of maps pinned
// under dir (innerCompatible); nil when they fit or are not pinned.
func pinnedInnerCompatible(spec *ebpf.CollectionSpec, dir string) error {
	for name, ms := range spec.Maps {
		if ms.Pinning != ebpf.PinByName || ms.InnerMap == nil {
			continue
		}
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
		if err != nil {
			continue // not pinned yet, or not a map: LoadAndAssign says
		}
		err = innerCompatible(ms, m, dir)
		m.Close()
		if err != nil {
			return fmt.Errorf("pinned map %s: %w", name, err)
		}
	}
	return nil
}

// innerCompatible checks a map of maps' inner maps against the spec's
// template (MapSpec.Compatible compares the outer map only): the kernel
// holds a program's reads to the template the outer map was made with
// (the prefix tries' values grew from 8 to 12 bytes, for one), and
// refuses inner maps of another layout. An inner map in a slot is
// compared; with none, an empty one made from the spec is put in an empty
// slot and taken out again, under the pin directory's lock (pinlock) so
// that no blocklist writer fills the slot meanwhile; an empty inner map
// matches nothing, for any program still using the map.
func innerCompatible(ms *ebpf.MapSpec, m *ebpf.Map, dir string) error {
	if ms.InnerMap == nil {
		return nil
	}
	want := ms.InnerMap
	found, empty, err := innerLayout(want, m)
	if found || err != nil {
		return err
	}
	if empty < 0 {
		return nil // every slot's map went away meanwhile: nothing to tell
	}
	unlock, err := pinlock.Lock(dir)
	if err != nil {
		return err
	}
	defer unlock()
	var id uint32
	if err := m.Lookup(uint32(empty), &id); !errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil // filled meanwhile: the next start compares it
	}
	probe := want.Copy()
	probe.Name, probe.Pinning = "xs_inner_probe", ebpf.PinNone
	if probe.MaxEntries == 0 {
		probe.MaxEntries = 1
	}
	inner, err := ebpf.NewMap(probe)
	if err != nil {
		return fmt.Errorf("probing the inner maps of %s: %w", m, err)
	}
	defer inner.Close()
	if err := m.Update(uint32(empty), inner, ebpf.UpdateAny); err != nil {
		if errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("inner maps: another layout: %w", ebpf.ErrMapIncompatible)
		}
		return nil // anything else: LoadAndAssign says
	}
	if err := m.Delete(uint32(empty)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("probing the inner maps of %s: %w", m, err)
	}
	return nil
}

// innerLayout compares the first inner map the map of maps m holds with
// the template want: found says one was there to compare, empty is a slot
// without one (-1: none).
func innerLayout(want *ebpf.MapSpec, m *ebpf.Map) (found bool, empty int, err error) {
	empty = -1
	for slot := uint32(0); slot < m.MaxEntries(); slot++ {
		var id uint32
		if err := m.Lookup(slot, &id); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) && empty < 0 {
				empty = int(slot)
			}
			continue
		}
		inner, err := ebpf.NewMapFromID(ebpf.MapID(id))
		if err != nil {
			continue // gone meanwhile
		}
		err = layoutCompatible(want, inner)
		inner.Close()
		if err != nil {
			return true, empty, fmt.Errorf("inner maps: %w", err)
		}
		return true, empty, nil
	}
	return false, empty, nil
}

// layoutCompatible is MapSpec.Compatible but for the size, which the
// configuration chooses (--flow-table-size, --ring-size, a blocklist
// slot's entries): whether this build reads m's entries as they are laid
// out.
func layoutCompatible(ms *ebpf.MapSpec, m *ebpf.Map) error {
	c := ms.Copy()
	c.MaxEntries = m.MaxEntries()
	return c.Compatible(m)
}

func configureSpec(spec *ebpf.CollectionSpec, cfg Config) error {
	spec.Maps["flows_v4"].MaxEntries = cfg.FlowTableSize
	spec.Maps["flows_v6"].MaxEntries = cfg.FlowTableSizeV6
	if cfg.AllocFlowsOnDemand {
		for _, name := range []string{"flows_v4", "flows_v6"} {
			spec.Maps[name].Flags |= unix.BPF_F_NO_PREALLOC
		}
	}
	if cfg.AllocOnDemand {
		for _, name := range []string{"thresholds", "zones"} {
			spec.Maps[name].Flags |= unix.BPF_F_NO_PREALLOC
		}
	}
	spec.Maps["flow_extras"].MaxEntries = cfg.FlowExtraSize
	spec.Maps["zones"].MaxEntries = DefaultZones
	spec.Maps["thresholds"].MaxEntries = cfg.ThresholdTableSize
	spec.Maps["rules"].MaxEntries = RulesMapEntries // bpf/maps.h says 65536: one generation's worth
	if cfg.RingSize&(cfg.RingSize-1) != 0 || cfg.RingSize < uint32(os.Getpagesize()) {
		return fmt.Errorf("ring size %d: must be a power of two and at least %d bytes", cfg.RingSize, os.Getpagesize())
	}
	spec.Maps["events"].MaxEntries = cfg.RingSize
	capRing := cfg.CaptureRingSize
	if capRing == 0 {
		capRing = uint32(os.Getpagesize())
	}
	if capRing&(capRing-1) != 0 || capRing < uint32(os.Getpagesize()) {
		return fmt.Errorf("capture ring size %d: must be a power of two and at least %d bytes", capRing, os.Getpagesize())
	}
	spec.Maps["capture"].MaxEntries = capRing

	verdict := uint32(2) // XDP_PASS
	if cfg.MonitorPort {
		verdict = 1 // XDP_DROP
	}
	if cfg.Frags {
		spec.Programs["xdpsensor"].Flags |= unix.BPF_F_XDP_HAS_FRAGS
	}
	for _, v := range []struct {
		name  string
		value any
	}{
		{"cfg_verdict", verdict},
		{"cfg_replay_clock", flag(cfg.ReplayClock)},
		{"cfg_frags", flag(cfg.Frags)},
		{"cfg_bench_new_flows", flag(cfg.BenchNewFlows)},
	} {
		if err := spec.Variables[v.name].Set(v.value); err != nil {
			return fmt.Errorf("setting %s: %w", v.name, err)
		}
	}
	return nil
}

// flag is a bool as the program's u8 variables hold it.
func flag(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// initConfig creates the config entry on first load; a reused pinned map
// keeps its generation and blocklist.
func initConfig(m *abi.BpfMaps) error {
	var cfg abi.BpfSensorConfig
	if err := m.Config.Lookup(uint32(0), &cfg); err != nil {
		return fmt.Errorf("reading config map: %w", err)
	}
	return nil
}

// LoadEgress loads the TC egress program of host mode over the sensor's
// own maps.
func (s *Sensor) LoadEgress() (*ebpf.Program, error) {
	if s.Egress != nil {
		return s.Egress, nil
	}
	replace := map[string]*ebpf.Map{}
	v := reflect.ValueOf(&s.Objects.BpfMaps).Elem()
	for i := 0; i < v.NumField(); i++ {
		if name := v.Type().Field(i).Tag.Get("ebpf"); name != "" {
			if m, ok := v.Field(i).Interface().(*ebpf.Map); ok && m != nil {
				replace[name] = m
			}
		}
	}
	var objs struct {
		Egress *ebpf.Program `ebpf:"xdpsensor_egress"`
	}
	if err := s.spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{MapReplacements: replace}); err != nil {
		return nil, explainLoadError(err, s.Config)
	}
	s.Egress = objs.Egress
	return objs.Egress, nil
}

// Close releases the program and map handles. Pinned maps stay pinned.
func (s *Sensor) Close() error {
	s.closeReplaced()
	err := s.Objects.Close()
	if s.Egress != nil {
		err = errors.Join(err, s.Egress.Close())
	}
	return err
}

// CheckPrivileges fails with a clear message when the process cannot use BPF.
func CheckPrivileges() error {
	if os.Geteuid() == 0 {
		return nil
	}
	caps, err := effectiveCaps()
	if err == nil && caps&(1<<unix.CAP_BPF) != 0 && caps&(1<<unix.CAP_NET_ADMIN) != 0 {
		return nil
	}
	return errors.New("xdpsensor needs root (or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON): run it with sudo")
}

func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, err
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32, nil
}

// checkKernel names the first missing kernel feature the program needs.
func checkKernel() error {
	checks := []struct {
		what string
		err  error
	}{
		{"BPF ring buffer maps (Linux 5.8)", features.HaveMapType(ebpf.RingBuf)},
		{"LPM trie maps (Linux 4.11)", features.HaveMapType(ebpf.LPMTrie)},
		{"array-of-maps (Linux 4.12)", features.HaveMapType(ebpf.ArrayOfMaps)},
		{"the bpf_xdp_load_bytes helper (Linux 5.18)", features.HaveProgramHelper(ebpf.XDP, asm.FnXdpLoadBytes)},
		{"the bpf_xdp_get_buff_len helper (Linux 5.18)", features.HaveProgramHelper(ebpf.XDP, asm.FnXdpGetBuffLen)},
	}
	for _, c := range checks {
		if c.err == nil {
			continue
		}
		var uname unix.Utsname
		_ = unix.Uname(&uname)
		release := unix.ByteSliceToString(uname.Release[:])
		if errors.Is(c.err, ebpf.ErrNotSupported) {
			return fmt.Errorf("kernel %s is too old: xdpsensor needs %s", release, c.what)
		}
		return fmt.Errorf("probing kernel %s for %s: %w", release, c.what, c.err)
	}
	return nil
}

// ensurePinDir makes sure bpffs is mounted under the pin directory (mounting
// it at /sys/fs/bpf when nothing is) and creates the directory root-only.
func ensurePinDir(dir string) error {
	parent := filepath.Dir(dir)
	if !isBPFFS(parent) {
		if parent != "/sys/fs/bpf" {
			return fmt.Errorf("%s is not on a bpffs mount: mount one with `mount -t bpf bpf %s`", parent, parent)
		}
		if err := unix.Mount("bpf", parent, "bpf", 0, "mode=0700"); err != nil {
			return fmt.Errorf("bpffs is not mounted at %s and mounting it failed (%w): run `mount -t bpf bpf %s`", parent, err, parent)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating pin directory: %w", err)
	}
	return nil
}

func isBPFFS(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return uint32(st.Type) == unix.BPF_FS_MAGIC
}

func explainLoadError(err error, cfg Config) error {
	var verr *ebpf.VerifierError
	if errors.As(err, &verr) {
		return fmt.Errorf("loading objects: the kernel verifier rejected the program:\n%+v", verr)
	}
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		return fmt.Errorf("loading objects: a map pinned under %s does not fit this build or configuration (%w); "+
			"run `xdpsensor detach --pin-dir %s` to remove the old maps, or start with the same sizes", cfg.PinDir, err, cfg.PinDir)
	}
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("loading objects: %w (raise RLIMIT_MEMLOCK or run as root)", err)
	}
	return fmt.Errorf("loading objects: %w", err)
}

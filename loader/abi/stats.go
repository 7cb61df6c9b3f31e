package abi

import (
	"encoding/binary"
	"fmt"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// Counter is one named counter, the kernel's or the daemon's.
type Counter struct {
	Name  string // the C field name, as bpftool prints it
	Value uint64
}

// counterNames holds, per C struct of u64 counters (sensor_stats,
// daemon_stats), its field names in declaration order, from the object's BTF.
var counterNames sync.Map // struct name -> []string

func namesOf(structName string) ([]string, error) {
	if v, ok := counterNames.Load(structName); ok {
		return v.([]string), nil
	}
	spec, err := sharedSpec()
	if err != nil {
		return nil, err
	}
	var st *btf.Struct
	if err := spec.Types.TypeByName(structName, &st); err != nil {
		return nil, fmt.Errorf("finding %s in BTF: %w", structName, err)
	}
	names := make([]string, len(st.Members))
	for i, m := range st.Members {
		if m.Offset.Bytes() != uint32(i*8) {
			return nil, fmt.Errorf("%s.%s is not the %d-th u64", structName, m.Name, i)
		}
		names[i] = m.Name
	}
	counterNames.Store(structName, names)
	return names, nil
}

// named pairs each u64 of a counter struct with its C field name.
func named(structName string, words []uint64) ([]Counter, error) {
	names, err := namesOf(structName)
	if err != nil {
		return nil, err
	}
	if len(words) != len(names) {
		return nil, fmt.Errorf("%s has %d fields in BTF, %d in Go", structName, len(names), len(words))
	}
	out := make([]Counter, len(names))
	for i := range names {
		out[i] = Counter{Name: names[i], Value: words[i]}
	}
	return out, nil
}

func words[T any](s *T) []uint64 {
	return unsafe.Slice((*uint64)(unsafe.Pointer(s)), int(unsafe.Sizeof(*s))/8)
}

// Counters names every kernel counter of s by its C name, in declaration order.
func Counters(s *BpfSensorStats) ([]Counter, error) {
	return named("sensor_stats", words(s))
}

// DaemonCounters names every counter of the daemon's by its C name.
func DaemonCounters(s *BpfDaemonStats) ([]Counter, error) {
	return named("daemon_stats", words(s))
}

// DaemonCountersNames are daemon_stats' field names, in order.
func DaemonCountersNames() []string {
	names, _ := namesOf("daemon_stats")
	return names
}

// ReadDaemonStats reads the counters the daemon publishes.
func (m *BpfMaps) ReadDaemonStats() (BpfDaemonStats, error) {
	var d BpfDaemonStats
	if err := m.DaemonCounters.Lookup(uint32(0), &d); err != nil {
		return d, fmt.Errorf("reading daemon counters: %w", err)
	}
	return d, nil
}

// WriteDaemonStats publishes the daemon's counters.
func (m *BpfMaps) WriteDaemonStats(d *BpfDaemonStats) error {
	if err := m.DaemonCounters.Put(uint32(0), d); err != nil {
		return fmt.Errorf("publishing daemon counters: %w", err)
	}
	return nil
}

// ReadStats sums the per-CPU counters.
//
// The CPUs' copies are read as bytes and summed in place: decoding them
// into a []BpfSensorStats took ~15 µs a read, and a replay reads the stats
// twice a batch.
func (m *BpfMaps) ReadStats() (BpfSensorStats, error) {
	var sum BpfSensorStats
	raw, err := m.Stats.LookupBytes(uint32(0))
	if err == nil && raw == nil {
		err = ebpf.ErrKeyNotExist
	}
	if err != nil {
		return sum, fmt.Errorf("reading stats: %w", err)
	}
	dst := words(&sum)
	size := len(dst) * 8
	stride := (int(m.Stats.ValueSize()) + 7) &^ 7
	if stride != size || len(raw)%stride != 0 {
		return sum, fmt.Errorf("reading stats: %d bytes a CPU in the map, %d in Go", m.Stats.ValueSize(), size)
	}
	for off := 0; off < len(raw); off += stride {
		cpu := raw[off : off+size]
		for j := range dst {
			dst[j] += binary.NativeEndian.Uint64(cpu[8*j:])
		}
	}
	return sum, nil
}

// ReadConfig returns the sensor config entry.
func (m *BpfMaps) ReadConfig() (BpfSensorConfig, error) {
	var cfg BpfSensorConfig
	if err := m.Config.Lookup(uint32(0), &cfg); err != nil {
		return cfg, fmt.Errorf("reading config: %w", err)
	}
	return cfg, nil
}

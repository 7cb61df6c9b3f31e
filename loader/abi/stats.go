package abi

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf/btf"
)

// Counter is one named kernel counter.
type Counter struct {
	Name  string // the C field name, as bpftool prints it
	Value uint64
}

var statsNames = sync.OnceValues(func() ([]string, error) {
	spec, err := LoadBpf()
	if err != nil {
		return nil, err
	}
	var st *btf.Struct
	if err := spec.Types.TypeByName("sensor_stats", &st); err != nil {
		return nil, fmt.Errorf("finding sensor_stats in BTF: %w", err)
	}
	names := make([]string, len(st.Members))
	for i, m := range st.Members {
		if m.Offset.Bytes() != uint32(i*8) {
			return nil, fmt.Errorf("sensor_stats.%s is not the %d-th u64", m.Name, i)
		}
		names[i] = m.Name
	}
	return names, nil
})

// Counters names every field of s by its C name, in declaration order.
func Counters(s *BpfSensorStats) ([]Counter, error) {
	names, err := statsNames()
	if err != nil {
		return nil, err
	}
	words := unsafe.Slice((*uint64)(unsafe.Pointer(s)), int(unsafe.Sizeof(*s))/8)
	if len(words) != len(names) {
		return nil, fmt.Errorf("sensor_stats has %d fields in BTF, %d in Go", len(names), len(words))
	}
	out := make([]Counter, len(names))
	for i := range names {
		out[i] = Counter{Name: names[i], Value: words[i]}
	}
	return out, nil
}

// ReadStats sums the per-CPU counters.
func (m *BpfMaps) ReadStats() (BpfSensorStats, error) {
	var per []BpfSensorStats
	if err := m.Stats.Lookup(uint32(0), &per); err != nil {
		return BpfSensorStats{}, fmt.Errorf("reading stats: %w", err)
	}
	var sum BpfSensorStats
	n := int(unsafe.Sizeof(sum)) / 8
	dst := unsafe.Slice((*uint64)(unsafe.Pointer(&sum)), n)
	for i := range per {
		src := unsafe.Slice((*uint64)(unsafe.Pointer(&per[i])), n)
		for j := range dst {
			dst[j] += src[j]
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

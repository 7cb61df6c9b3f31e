package loader

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

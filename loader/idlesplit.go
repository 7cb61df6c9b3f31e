package loader

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader/abi"
)

// SetIdleSplit has the kernel end a flow idle for at least d when its
// next packet comes, as a record of its own (FLOW_END_TIMEOUT, or its
// close reason when it had closed), the packet starting the tuple anew:
// the flow splits where its timeout ends it however late the sweep comes.
// d is rounded up to whole seconds; 0 turns it off. run and replay set
// it to their flow timeout. It rewrites the config entry: on a pinned
// sensor, hold its lock (pinlock).
func SetIdleSplit(m *abi.BpfMaps, d time.Duration) error {
	secs := (d + time.Second - 1) / time.Second
	if d < 0 || secs > 1<<32-1 {
		return fmt.Errorf("idle split time %v: out of range", d)
	}
	var cfg abi.BpfSensorConfig
	if err := m.Config.Lookup(uint32(0), &cfg); err != nil {
		return fmt.Errorf("reading sensor config: %w", err)
	}
	cfg.IdleSplitS = uint32(secs)
	if err := m.Config.Update(uint32(0), &cfg, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("writing the idle split time to the sensor config: %w", err)
	}
	return nil
}

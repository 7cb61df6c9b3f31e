package loader

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader/abi"
)

// Default UDP ports of the tunnels decoded by port (IANA's; AWS VPC
// Traffic Mirroring sends VXLAN to 4789).
const (
	DefaultVXLANPort  = 4789
	DefaultGenevePort = 6081
)

// SetTunnelPorts sets the UDP destination ports the kernel decodes as
// VXLAN and Geneve (0: the default port). It rewrites the config entry:
// on a pinned sensor, hold its lock (pinlock).
func SetTunnelPorts(m *abi.BpfMaps, vxlan, geneve uint16) error {
	var cfg abi.BpfSensorConfig
	if err := m.Config.Lookup(uint32(0), &cfg); err != nil {
		return fmt.Errorf("reading sensor config: %w", err)
	}
	cfg.VxlanPort, cfg.GenevePort = vxlan, geneve
	if err := m.Config.Update(uint32(0), &cfg, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("writing the tunnel ports to the sensor config: %w", err)
	}
	return nil
}

package loader

import (
	"fmt"

	"github.com/xdpsensor/xdpsensor/loader/abi"
)

// SetAlertEveryPacket chooses how often IP-only rules (address lists)
// raise alerts: on a flow's first packet in each direction, as Suricata
// inspects them (false, the default), or on every matching packet, as
// Snort 2 does. Thresholds apply on top of either. It rewrites the config
// entry: on a pinned sensor, hold its lock (pinlock).
func (s *Sensor) SetAlertEveryPacket(every bool) error {
	m := s.Maps()
	cfg, err := m.ReadConfig()
	if err != nil {
		return err
	}
	cfg.AlertMode = uint8(abi.BpfAlertModeALERT_PER_DIRECTION)
	if every {
		cfg.AlertMode = uint8(abi.BpfAlertModeALERT_EVERY_PACKET)
	}
	if err := m.Config.Put(uint32(0), &cfg); err != nil {
		return fmt.Errorf("writing the alert mode: %w", err)
	}
	return nil
}

package loader

import (
	"fmt"

	"github.com/xdpsensor/xdpsensor/loader/abi"
)

// CaptureMode says which packets go to the capture ring.
type CaptureMode string

const (
	CaptureNone   CaptureMode = "none"
	CaptureListed CaptureMode = "listed" // every packet of flows touching a listed address
	CaptureAll    CaptureMode = "all"    // every packet
)

// MaxSnaplen is the largest frame the capture ring carries.
const MaxSnaplen = 9216

// ParseCaptureMode validates a --capture value.
func ParseCaptureMode(s string) (CaptureMode, error) {
	switch m := CaptureMode(s); m {
	case CaptureNone, CaptureListed, CaptureAll:
		return m, nil
	}
	return "", fmt.Errorf("--capture %q: want listed, all or none", s)
}

// CaptureSettings configure the kernel's side of full-content capture.
type CaptureSettings struct {
	Mode      CaptureMode
	Snaplen   uint32 // 0: whole frames (up to MaxSnaplen)
	FlowBytes uint64 // per-flow budget, 0: unlimited
}

// SetCapture writes the capture settings into the running program's
// config. It rewrites the config entry: on a pinned sensor, hold its lock
// (pinlock).
func (s *Sensor) SetCapture(c CaptureSettings) error {
	m := s.Maps()
	var mode uint8
	switch c.Mode {
	case CaptureNone, "":
		mode = uint8(abi.BpfCaptureModeCAPTURE_NONE)
	case CaptureListed:
		mode = uint8(abi.BpfCaptureModeCAPTURE_LISTED)
	case CaptureAll:
		mode = uint8(abi.BpfCaptureModeCAPTURE_ALL)
	default:
		return fmt.Errorf("capture mode %q", c.Mode)
	}
	snap := c.Snaplen
	if snap == 0 || snap > MaxSnaplen {
		snap = MaxSnaplen
	}
	cfg, err := m.ReadConfig()
	if err != nil {
		return err
	}
	cfg.CaptureMode = mode
	cfg.CaptureSnaplen = snap
	cfg.CaptureFlowBytes = c.FlowBytes
	if err := m.Config.Put(uint32(0), &cfg); err != nil {
		return fmt.Errorf("writing capture settings: %w", err)
	}
	return nil
}

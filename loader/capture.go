package loader

import (
	"fmt"
	"unsafe"
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

// SetCapture writes the capture settings into the running program's config.
func (m *BpfMaps) SetCapture(c CaptureSettings) error {
	var mode uint8
	switch c.Mode {
	case CaptureNone, "":
		mode = uint8(BpfCaptureModeCAPTURE_NONE)
	case CaptureListed:
		mode = uint8(BpfCaptureModeCAPTURE_LISTED)
	case CaptureAll:
		mode = uint8(BpfCaptureModeCAPTURE_ALL)
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

// CaptureHeaderSize is the size of the record header before the frame bytes.
var CaptureHeaderSize = int(unsafe.Sizeof(BpfCaptureRecord{}))

// ParseCaptureRecord splits a capture ring record into header and frame.
// The returned slice aliases raw.
func ParseCaptureRecord(raw []byte) (*BpfCaptureRecord, []byte, error) {
	if len(raw) < CaptureHeaderSize {
		return nil, nil, fmt.Errorf("capture record of %d bytes, shorter than its header", len(raw))
	}
	hdr := (*BpfCaptureRecord)(unsafe.Pointer(&raw[0]))
	end := CaptureHeaderSize + int(hdr.CapLen)
	if end > len(raw) {
		return nil, nil, fmt.Errorf("capture record claims %d bytes, has %d", hdr.CapLen, len(raw)-CaptureHeaderSize)
	}
	return hdr, raw[CaptureHeaderSize:end], nil
}

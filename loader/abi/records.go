package abi

import (
	"fmt"
	"unsafe"
)

// Kind is the type of an event ring record: its first byte.
type Kind uint8

const (
	KindAlert      = Kind(BpfEventTypeEVENT_ALERT)
	KindFlowClosed = Kind(BpfEventTypeEVENT_FLOW_CLOSED)
	KindFlowRecord = Kind(BpfEventTypeEVENT_FLOW_RECORD)
)

var (
	alertSize = int(unsafe.Sizeof(BpfAlertEvent{}))
	flowSize  = int(unsafe.Sizeof(BpfFlowEvent{}))
)

// RecordKind reports what a raw event ring record holds.
func RecordKind(raw []byte) Kind {
	if len(raw) == 0 {
		return 0
	}
	return Kind(raw[0])
}

// AlertEvent views a raw alert record; the result aliases raw.
func AlertEvent(raw []byte) (*BpfAlertEvent, error) {
	if len(raw) < alertSize {
		return nil, fmt.Errorf("alert record of %d bytes, want %d", len(raw), alertSize)
	}
	return (*BpfAlertEvent)(unsafe.Pointer(&raw[0])), nil
}

// FlowEvent views a raw flow-closed record; the result aliases raw.
func FlowEvent(raw []byte) (*BpfFlowEvent, error) {
	if len(raw) < flowSize {
		return nil, fmt.Errorf("flow record of %d bytes, want %d", len(raw), flowSize)
	}
	return (*BpfFlowEvent)(unsafe.Pointer(&raw[0])), nil
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

package loader

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// XDPContext is struct xdp_md as BPF_PROG_TEST_RUN takes it (ctx_in).
type XDPContext struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// progTestRunAttr is the BPF_PROG_TEST_RUN member of union bpf_attr.
type progTestRunAttr struct {
	progFd      uint32
	retval      uint32
	dataSizeIn  uint32
	dataSizeOut uint32
	dataIn      uint64
	dataOut     uint64
	repeat      uint32
	duration    uint32
	ctxSizeIn   uint32
	ctxSizeOut  uint32
	ctxIn       uint64
	ctxOut      uint64
	flags       uint32
	cpu         uint32
	batchSize   uint32
	_           uint32
}

const bpfProgTestRun = 10 // BPF_PROG_TEST_RUN

// FrameRunner runs single frames through a program with one bpf(2) call
// each. cilium/ebpf's Program.Run masks SIGPROF around every run (two more
// syscalls), which is right for long runs and costs a replay a third of
// its time; a replay's runs are one frame each.
type FrameRunner struct {
	prog *ebpf.Program
	ctx  *XDPContext // heap: the kernel reads it through attr
}

// NewFrameRunner prepares runs of prog.
func NewFrameRunner(prog *ebpf.Program) *FrameRunner {
	return &FrameRunner{prog: prog, ctx: new(XDPContext)}
}

// Run runs data (which must stay on the heap) once; meta bytes at its
// start are XDP metadata. It returns the program's verdict.
func (r *FrameRunner) Run(data []byte, meta uint32) (uint32, error) {
	if len(data) == 0 {
		return 0, fmt.Errorf("empty frame")
	}
	*r.ctx = XDPContext{Data: meta, DataEnd: uint32(len(data))}
	attr := progTestRunAttr{
		progFd:     uint32(r.prog.FD()),
		dataSizeIn: uint32(len(data)),
		dataIn:     uint64(uintptr(unsafe.Pointer(&data[0]))),
		repeat:     1,
		ctxSizeIn:  uint32(unsafe.Sizeof(*r.ctx)),
		ctxIn:      uint64(uintptr(unsafe.Pointer(r.ctx))),
	}
	_, _, errno := unix.Syscall(unix.SYS_BPF, bpfProgTestRun, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(data)
	runtime.KeepAlive(r.ctx)
	if errno != 0 {
		return 0, fmt.Errorf("BPF_PROG_TEST_RUN: %w", errno)
	}
	return attr.retval, nil
}

// ReplayMetaLen is the XDP metadata a replayed frame carries (struct
// replay_meta in bpf/xdpsensor.c): the capture time in ns, the frame's
// length on the wire (which a capture's snap length may have cut) and its
// number in the capture (Suricata's pcap_cnt).
const ReplayMetaLen = 16

// PutReplayMeta writes a frame's replay metadata into the first
// ReplayMetaLen bytes of b.
func PutReplayMeta(b []byte, tsNs uint64, wireLen, pcapCnt uint32) {
	binary.NativeEndian.PutUint64(b[0:8], tsNs)
	binary.NativeEndian.PutUint32(b[8:12], wireLen)
	binary.NativeEndian.PutUint32(b[12:16], pcapCnt)
}

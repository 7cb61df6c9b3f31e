package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/xdpsensor/xdpsensor/loader/abi"
)

// BatchRunner replays frames through the sensor's program a batch per
// bpf(2) call: the frames go into an mmapped array, and one
// BPF_PROG_TEST_RUN with repeat = frames runs the feeder program
// (bpf/replay_feed.c) once per frame; each run copies its frame and replay
// metadata into the packet and tail-calls the sensor's unmodified
// program. Frames run in order on one CPU, exactly as one test run each
// would, at a fraction of the cost.
//
// The test run is the plain one, not live-frames mode: its runs share one
// packet buffer, which the feeder sizes and overwrites for each frame, and
// a verdict goes nowhere. Live-frames mode made each run a page of its
// own, set up from the template and handed to the stack's XDP verdict
// handling: 70-100 ns a frame, a tenth of a replay, for nothing a replay
// uses.
type BatchRunner struct {
	objs     abi.FeedObjects
	slots    []byte // feed_slots, mmapped
	state    []byte // feed_states, mmapped
	n        int    // frames in the batch
	template []byte // the test run's packet as it starts: replay metadata, then room for the largest frame
	ctx      *XDPContext
	held     func() // releases the feeder's place in the XDP dispatcher
}

// Sizes of bpf/replay_feed.c.
const (
	// FeedFrameMax is the largest frame a batch holds; larger ones take
	// the per-frame path (FrameRunner).
	FeedFrameMax = int(unsafe.Sizeof(abi.FeedFeedSlot{}.Data))
	// FeedBatch is the most frames one call runs.
	FeedBatch  = 1024
	slotHeader = int(unsafe.Offsetof(abi.FeedFeedSlot{}.Data))
	slotStride = int(unsafe.Sizeof(abi.FeedFeedSlot{}))
)

// NewBatchRunner loads the feeder for a sensor loaded for replay.
func NewBatchRunner(s *Sensor) (*BatchRunner, error) {
	spec, err := abi.LoadFeed()
	if err != nil {
		return nil, fmt.Errorf("reading embedded feeder object: %w", err)
	}
	if got := spec.Maps["feed_slots"].MaxEntries; got != FeedBatch {
		return nil, fmt.Errorf("feeder holds %d slots, want %d", got, FeedBatch)
	}
	// A tail call needs caller and callee loaded alike.
	if s.Config.Frags {
		spec.Programs["replay_feed"].Flags |= unix.BPF_F_XDP_HAS_FRAGS
	}
	r := &BatchRunner{ctx: new(XDPContext)}
	if err := spec.LoadAndAssign(&r.objs, nil); err != nil {
		return nil, fmt.Errorf("loading the replay feeder: %w", err)
	}
	if err := r.objs.FeedSensor.Put(uint32(0), s.Objects.Xdpsensor); err != nil {
		r.Close()
		return nil, fmt.Errorf("handing the sensor to the feeder: %w", err)
	}
	if r.slots, err = mmapMap(r.objs.FeedSlots); err != nil {
		r.Close()
		return nil, err
	}
	if r.state, err = mmapMap(r.objs.FeedStates); err != nil {
		r.Close()
		return nil, err
	}
	r.template = make([]byte, ReplayMetaLen+FeedFrameMax)
	if r.held, err = holdDispatcher(r.objs.ReplayFeed); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// holdDispatcher keeps prog attached, for as long as the returned function
// is not called, to the loopback of a network namespace of its own where
// no frame ever arrives. Each BPF_PROG_TEST_RUN of an XDP program adds it
// to the kernel's XDP dispatcher and removes it after, and each change
// rewrites the dispatcher's code on every CPU (text poke, IPIs): about
// half a millisecond on a VM, more than a batch of frames costs. A program
// an interface holds is in the dispatcher already: test runs change
// nothing.
func holdDispatcher(prog *ebpf.Program) (func(), error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("reading the current network namespace: %w", err)
	}
	defer orig.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("creating a network namespace for the replay feeder: %w", err)
	}
	own, err := netns.Get()
	var l link.Link
	if err == nil {
		// Loopback is interface 1 in every namespace; it stays down.
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: 1, Flags: link.XDPGenericMode})
	}
	if serr := netns.Set(orig); serr != nil {
		// The thread is stuck in the wrong namespace: let it die with
		// its goroutine rather than run anything else.
		return nil, fmt.Errorf("returning to the original network namespace: %w", serr)
	}
	runtime.UnlockOSThread()
	if err != nil {
		own.Close()
		return nil, fmt.Errorf("holding the replay feeder in the XDP dispatcher: %w", err)
	}
	return func() {
		l.Close()
		own.Close() // the namespace goes with its last reference
	}, nil
}

func mmapMap(m *ebpf.Map) ([]byte, error) {
	size := int(m.MaxEntries()) * ((int(m.ValueSize()) + 7) &^ 7)
	size = (size + os.Getpagesize() - 1) &^ (os.Getpagesize() - 1)
	b, err := unix.Mmap(m.FD(), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", m, err)
	}
	return b, nil
}

// Add puts a frame into the batch. It returns false when the frame does
// not fit a slot (run it alone with FrameRunner) or the batch is full.
func (r *BatchRunner) Add(tsNs uint64, wireLen, pcapCnt uint32, frame []byte) bool {
	if r.n >= FeedBatch || len(frame) < 14 || len(frame) > FeedFrameMax {
		return false
	}
	s := r.slots[r.n*slotStride:]
	PutReplayMeta(s, tsNs, wireLen, pcapCnt)
	binary.NativeEndian.PutUint32(s[ReplayMetaLen:], uint32(len(frame)))
	copy(s[slotHeader:slotHeader+len(frame)], frame)
	r.n++
	return true
}

// Len is the number of frames waiting in the batch.
func (r *BatchRunner) Len() int { return r.n }

// ErrFeed is a batch the feeder could not run whole.
var ErrFeed = errors.New("replay feeder")

// Run runs the batch's frames through the sensor, in order, and empties
// the batch.
func (r *BatchRunner) Run() error {
	n := uint32(r.n)
	if n == 0 {
		return nil
	}
	r.n = 0
	clear(r.state[:16])
	binary.NativeEndian.PutUint32(r.state[16:], n)
	defer binary.NativeEndian.PutUint32(r.state[16:], 0) // disarmed between batches
	for {
		err := r.run(n - r.next())
		if !errors.Is(err, unix.EINTR) {
			return r.check(n, err)
		}
		// A signal (the Go runtime's preemption among them) ends a
		// test run between two of its internal batches: the feeder's
		// count says where to go on from.
		if r.next() >= n {
			return r.check(n, nil)
		}
	}
}

func (r *BatchRunner) next() uint32 { return binary.NativeEndian.Uint32(r.state[0:]) }

func (r *BatchRunner) run(repeat uint32) error {
	*r.ctx = XDPContext{Data: ReplayMetaLen, DataEnd: uint32(len(r.template))}
	attr := progTestRunAttr{
		progFd:     uint32(r.objs.ReplayFeed.FD()),
		dataSizeIn: uint32(len(r.template)),
		dataIn:     uint64(uintptr(unsafe.Pointer(&r.template[0]))),
		repeat:     repeat,
		ctxSizeIn:  uint32(unsafe.Sizeof(*r.ctx)),
		ctxIn:      uint64(uintptr(unsafe.Pointer(r.ctx))),
	}
	_, _, errno := unix.Syscall(unix.SYS_BPF, bpfProgTestRun, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(r.template)
	runtime.KeepAlive(r.ctx)
	if errno != 0 {
		return errno
	}
	return nil
}

// check says whether the feeder ran all n frames.
func (r *BatchRunner) check(n uint32, err error) error {
	if err != nil {
		return fmt.Errorf("%w: BPF_PROG_TEST_RUN of %d frames: %w", ErrFeed, n, err)
	}
	var st abi.FeedFeedState
	st.Next = r.next()
	st.BadLen = binary.NativeEndian.Uint32(r.state[4:])
	st.AdjustErr = binary.NativeEndian.Uint32(r.state[8:])
	st.TailErr = binary.NativeEndian.Uint32(r.state[12:])
	if st.Next != n || st.BadLen+st.AdjustErr+st.TailErr != 0 {
		return fmt.Errorf("%w: ran %d of %d frames (%d bad lengths, %d could not be written, %d tail calls failed)",
			ErrFeed, st.Next, n, st.BadLen, st.AdjustErr, st.TailErr)
	}
	return nil
}

// Close releases the feeder.
func (r *BatchRunner) Close() {
	if r.held != nil {
		r.held()
	}
	if r.slots != nil {
		unix.Munmap(r.slots)
	}
	if r.state != nil {
		unix.Munmap(r.state)
	}
	r.objs.Close()
}

package loader

import (
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/xdpsensor/xdpsensor/loader/abi"
)

// FlowDump reads a sensor's flow tables in the kernel (bpf/flow_dump.c):
// one BPF_PROG_TEST_RUN walks a table with bpf_for_each_map_elem and hands
// each entry through a ring of its own. BPF_MAP_LOOKUP_BATCH takes a
// bucket lock and two copies to userspace per hash bucket: about 0.5 µs
// an entry on this VM, four times the walk. For tables that hold still
// while they are read (a replay's between its batches).
type FlowDump struct {
	objs  abi.DumpObjects
	ring  *ringbuf.Reader
	frame []byte // the test run's packet: the program reads none of it
	held  func()
}

// DumpRingSize is the dump ring's size: ~27,000 entries a run.
const DumpRingSize = 4 << 20

// NewFlowDump loads the dump program over s's flow tables.
func NewFlowDump(s *Sensor) (*FlowDump, error) {
	spec, err := abi.LoadDump()
	if err != nil {
		return nil, fmt.Errorf("reading embedded flow dump object: %w", err)
	}
	spec.Maps["dump_ring"].MaxEntries = DumpRingSize
	// The sensor's tables stand in for the object's: sized and flagged as
	// the configuration made them.
	for name, m := range map[string]*ebpf.Map{"flows_v4": s.Objects.FlowsV4, "flows_v6": s.Objects.FlowsV6} {
		spec.Maps[name].MaxEntries, spec.Maps[name].Flags = m.MaxEntries(), m.Flags()
	}
	d := &FlowDump{frame: make([]byte, 64)}
	opts := &ebpf.CollectionOptions{MapReplacements: map[string]*ebpf.Map{
		"flows_v4": s.Objects.FlowsV4, "flows_v6": s.Objects.FlowsV6}}
	if err := spec.LoadAndAssign(&d.objs, opts); err != nil {
		return nil, fmt.Errorf("loading the flow dump program: %w", err)
	}
	if d.ring, err = ringbuf.NewReader(d.objs.DumpRing); err != nil {
		d.Close()
		return nil, fmt.Errorf("reading the flow dump ring: %w", err)
	}
	if d.held, err = holdDispatcher(d.objs.FlowDump); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Each calls fn with every entry of both tables, IPv4 first, in the
// kernel's order; fn's arguments are valid during the call only.
func (d *FlowDump) Each(fn func(*abi.BpfFlowKey, *abi.BpfFlowValue) error) error {
	for _, fam := range []uint32{uint32(abi.BpfAddrFamilyFAMILY_IPV4), uint32(abi.BpfAddrFamilyFAMILY_IPV6)} {
		var skip uint64
		for runs := 0; ; runs++ {
			st := abi.BpfFlowDumpState{Family: fam, Skip: skip}
			if err := d.objs.DumpStates.Put(uint32(0), &st); err != nil {
				return fmt.Errorf("starting a flow dump: %w", err)
			}
			if _, err := d.objs.FlowDump.Run(&ebpf.RunOptions{Data: d.frame}); err != nil {
				return fmt.Errorf("running the flow dump: %w", err)
			}
			if err := d.objs.DumpStates.Lookup(uint32(0), &st); err != nil {
				return fmt.Errorf("reading the flow dump's state: %w", err)
			}
			n, err := d.drain(fn)
			if err != nil {
				return err
			}
			if st.Full == 0 {
				break
			}
			if n == 0 || st.Seen <= skip {
				return errors.New("flow dump: the ring holds no entry")
			}
			skip = st.Seen
		}
	}
	return nil
}

// drain hands over what the ring holds.
func (d *FlowDump) drain(fn func(*abi.BpfFlowKey, *abi.BpfFlowValue) error) (int, error) {
	d.ring.SetDeadline(time.Now())
	var rec ringbuf.Record
	n := 0
	for {
		if err := d.ring.ReadInto(&rec); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return n, nil
			}
			return n, fmt.Errorf("reading the flow dump ring: %w", err)
		}
		if len(rec.RawSample) < int(unsafe.Sizeof(abi.BpfFlowDumpRecord{})) {
			return n, fmt.Errorf("flow dump record of %d bytes", len(rec.RawSample))
		}
		r := (*abi.BpfFlowDumpRecord)(unsafe.Pointer(&rec.RawSample[0]))
		var k abi.BpfFlowKey
		if r.Family == uint32(abi.BpfAddrFamilyFAMILY_IPV4) {
			k = abi.KeyFromV4((*abi.BpfFlowKeyV4)(unsafe.Pointer(&r.Key[0])))
		} else {
			k = abi.KeyFromV6((*abi.BpfFlowKeyV6)(unsafe.Pointer(&r.Key[0])))
		}
		n++
		if err := fn(&k, &r.Value); err != nil {
			return n, err
		}
	}
}

// Close releases the dump program, its ring and its place in the XDP
// dispatcher.
func (d *FlowDump) Close() {
	if d.held != nil {
		d.held()
	}
	if d.ring != nil {
		d.ring.Close()
	}
	d.objs.Close()
}

package capture

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// FlowTuple is a flow's protocol, addresses and ports.
type FlowTuple struct {
	Proto    uint8
	Src, Dst netip.Addr
	SrcPort  uint16
	DstPort  uint16
}

// same reports whether t and o are one flow, in either direction. Ports
// count only for protocols that have them.
func (t FlowTuple) same(o FlowTuple) bool {
	if t.Proto != o.Proto {
		return false
	}
	if !event.HasPorts(t.Proto) {
		return t.Src == o.Src && t.Dst == o.Dst || t.Src == o.Dst && t.Dst == o.Src
	}
	return t.Src == o.Src && t.Dst == o.Dst && t.SrcPort == o.SrcPort && t.DstPort == o.DstPort ||
		t.Src == o.Dst && t.Dst == o.Src && t.SrcPort == o.DstPort && t.DstPort == o.SrcPort
}

func (f *IndexFlow) tuple() FlowTuple {
	return FlowTuple{Proto: f.Proto, Src: f.Src, Dst: f.Dst, SrcPort: f.SrcPort, DstPort: f.DstPort}
}

// Filter selects packets to carve. Zero values match anything; every set
// field must match.
type Filter struct {
	FlowIDs []uint64   // any of these flows
	Host    netip.Addr // either address
	Port    uint16     // either port (TCP, UDP and SCTP only)
	Proto   uint8
	From    time.Time // packets at or after
	To      time.Time // packets at or before
	// FlowHints gives the 5-tuples of FlowIDs. Files without an index (the
	// one being written, or one whose index is lost) do not say which flow a
	// packet belongs to, so there a packet is in flow ID if its 5-tuple
	// (either direction) is the flow's. Carve learns the tuples of the flows
	// the indexes list; hints (from eve.json) cover flows no closed file
	// holds yet.
	FlowHints map[uint64]FlowTuple
}

func (f *Filter) tupleOK(t FlowTuple) bool {
	if f.Proto != 0 && t.Proto != f.Proto {
		return false
	}
	if f.Host.IsValid() && t.Src != f.Host && t.Dst != f.Host {
		return false
	}
	if f.Port != 0 && (!event.HasPorts(t.Proto) || t.SrcPort != f.Port && t.DstPort != f.Port) {
		return false
	}
	return true
}

func (f *Filter) timeOK(t time.Time) bool {
	return (f.From.IsZero() || !t.Before(f.From)) && (f.To.IsZero() || !t.After(f.To))
}

// rangeOK reports whether packets between first and last may match.
func (f *Filter) rangeOK(first, last time.Time) bool {
	return (f.To.IsZero() || !first.After(f.To)) && (f.From.IsZero() || !last.Before(f.From))
}

// openCaptureFile opens capture files for carving (tests count calls).
var openCaptureFile = os.Open

// Carve copies the packets matching f from every ring file in dir (any
// prefix) to w as a pcap or pcapng ("" means pcap), in time order: files
// are merged like mergecap merges, each read in its own order. Frames,
// original lengths and timestamps are the files' own. A pcap output has
// nanosecond timestamps if any input has them, else microseconds.
// progress, if not nil, is called now and then with work done and total
// (bytes of records to read). Carve returns the packets written.
func Carve(dir string, f Filter, w io.Writer, format string, progress func(done, total int64)) (int, error) {
	files, err := FindRingFiles(dir)
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("%s: %w", dir, ErrNoRingFiles)
	}
	return CarveFiles(files, f, w, format, progress)
}

// CarveFiles is Carve on a list of ring files (several directories).
func CarveFiles(files []RingFile, f Filter, w io.Writer, format string, progress func(done, total int64)) (int, error) {
	switch format {
	case "", "pcap":
		format = "pcap"
	case "pcapng":
	default:
		return 0, fmt.Errorf("format %q: want pcap or pcapng", format)
	}
	f.Host = f.Host.Unmap()
	files = slices.Clone(files)
	sortRingFiles(files)

	want := map[uint64]bool{}
	for _, id := range f.FlowIDs {
		want[id] = true
	}
	tuples := map[FlowTuple]bool{} // of the wanted flows, for files without an index
	for id, t := range f.FlowHints {
		if want[id] {
			t.Src, t.Dst = t.Src.Unmap(), t.Dst.Unmap()
			tuples[t] = true
		}
	}
	indexes := make([]*Index, len(files))
	for i, rf := range files {
		if ix, err := ReadIndex(rf.Path); err == nil {
			indexes[i] = ix
			for _, fl := range ix.Flows {
				if want[fl.FlowID] {
					tuples[fl.tuple()] = true
				}
			}
		}
	}

	var streams streamHeap
	var total int64
	nanos := false
	for i, rf := range files {
		s := &stream{file: rf, order: i, ix: indexes[i], f: &f, want: want, tuples: tuples, lower: rf.Start}
		if ix := s.ix; ix != nil {
			if ix.Packets == 0 || !f.rangeOK(ix.First, ix.Last) {
				continue
			}
			for j := range ix.Flows {
				fl := &ix.Flows[j]
				if len(want) > 0 && !want[fl.FlowID] || !f.tupleOK(fl.tuple()) || !f.rangeOK(fl.First, fl.Last) {
					continue
				}
				s.offsets = append(s.offsets, fl.Offsets...)
				s.total += fl.Bytes
			}
			if len(s.offsets) == 0 {
				continue
			}
			slices.Sort(s.offsets)
			s.lower = ix.First
			nanos = nanos || ix.Nanos
		} else {
			if len(want) > 0 && len(tuples) == 0 {
				continue // no packet of a file without index can be told to be in the flows
			}
			fh, size, err := peekHeader(rf.Path)
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errShortFile) {
				continue // the ring deleted it, or no packet yet
			}
			if err != nil {
				return 0, fmt.Errorf("%s: %w", rf.Path, err)
			}
			nanos = nanos || fh.nanos
			s.total = size
		}
		total += s.total
		streams = append(streams, s)
	}
	heap.Init(&streams)

	out := &carveWriter{format: format, nanos: nanos, bw: bufio.NewWriterSize(w, 1<<20)}
	var done, reported int64
	report := func(force bool) {
		if progress != nil && (force || done-reported >= 256<<10) {
			progress(min(done, total), total)
			reported = done
		}
	}
	report(true)
	defer func() {
		for _, s := range streams {
			s.close()
		}
	}()
	packets := 0
	for streams.Len() > 0 {
		s := streams[0]
		before := s.done
		if !s.opened {
			if err := s.open(); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					heap.Pop(&streams)
					continue
				}
				return packets, err
			}
		} else {
			if err := out.write(s); err != nil {
				return packets, err
			}
			packets++
		}
		ok, err := s.advance()
		done += s.done - before
		if err != nil {
			return packets, err
		}
		if ok {
			heap.Fix(&streams, 0)
		} else {
			heap.Pop(&streams)
			s.close()
			done += s.total - s.done // a file that shrank or grew
			s.done = s.total
		}
		report(false)
	}
	if err := out.finish(); err != nil {
		return packets, err
	}
	report(true)
	return packets, nil
}

func peekHeader(path string) (fileHeader, int64, error) {
	fd, err := openCaptureFile(path)
	if err != nil {
		return fileHeader{}, 0, err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return fileHeader{}, 0, err
	}
	h, err := readFileHeader(fd)
	return h, st.Size(), err
}

// parseTuple reads the protocol, addresses and ports of an IP packet in
// an Ethernet (VLAN tags allowed), raw IP or Linux cooked frame. Ports are
// zero for fragments after the first and for protocols without ports.
func parseTuple(lt layers.LinkType, b []byte) (t FlowTuple, ok bool) {
	be := binary.BigEndian
	var et uint16
	switch lt {
	case layers.LinkTypeEthernet:
		if len(b) < 14 {
			return t, false
		}
		et, b = be.Uint16(b[12:14]), b[14:]
		for et == 0x8100 || et == 0x88a8 || et == 0x9100 {
			if len(b) < 4 {
				return t, false
			}
			et, b = be.Uint16(b[2:4]), b[4:]
		}
	case layers.LinkTypeRaw, layers.LinkType(12), layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		if len(b) == 0 {
			return t, false
		}
		et = 0x0800
		if b[0]>>4 == 6 {
			et = 0x86dd
		}
	case layers.LinkTypeLinuxSLL:
		if len(b) < 16 {
			return t, false
		}
		et, b = be.Uint16(b[14:16]), b[16:]
	default:
		return t, false
	}
	var l4 []byte
	frag := false
	switch et {
	case 0x0800:
		if len(b) < 20 || b[0]>>4 != 4 {
			return t, false
		}
		ihl := int(b[0]&0xf) * 4
		if ihl < 20 || len(b) < ihl {
			return t, false
		}
		t.Proto = b[9]
		t.Src = netip.AddrFrom4([4]byte(b[12:16]))
		t.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		frag = be.Uint16(b[6:8])&0x1fff != 0
		l4 = b[ihl:]
	case 0x86dd:
		if len(b) < 40 || b[0]>>4 != 6 {
			return t, false
		}
		t.Src = netip.AddrFrom16([16]byte(b[8:24])).Unmap()
		t.Dst = netip.AddrFrom16([16]byte(b[24:40])).Unmap()
		nh, rest := b[6], b[40:]
	ext:
		for len(rest) >= 8 {
			switch nh {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				n := (int(rest[1]) + 1) * 8
				if len(rest) < n {
					break ext
				}
				nh, rest = rest[0], rest[n:]
			case 44: // fragment
				frag = frag || be.Uint16(rest[2:4])&0xfff8 != 0
				nh, rest = rest[0], rest[8:]
			case 51: // authentication header
				n := (int(rest[1]) + 2) * 4
				if len(rest) < n {
					break ext
				}
				nh, rest = rest[0], rest[n:]
			default:
				break ext
			}
		}
		t.Proto, l4 = nh, rest
	default:
		return t, false
	}
	if event.HasPorts(t.Proto) && !frag && len(l4) >= 4 {
		t.SrcPort, t.DstPort = be.Uint16(l4[0:2]), be.Uint16(l4[2:4])
	}
	return t, true
}

package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// carvePacket is a stream's next packet.
type carvePacket struct {
	t     time.Time
	data  []byte
	orig  int
	lt    layers.LinkType
	iface string
}

// stream reads one file's matching packets: at the index's offsets, or
// by scanning the file.
type stream struct {
	file   RingFile
	order  int
	lower  time.Time // no packet of the file is earlier (before it is opened)
	ix     *Index
	f      *Filter
	want   map[uint64]bool
	tuples map[FlowTuple]bool

	offsets []int64
	pos     int
	total   int64 // work units: record bytes (index) or file bytes (scan)
	done    int64

	opened bool
	fd     *os.File
	hdr    fileHeader
	win    windowReader
	count  countingReader
	next   func() ([]byte, gopacket.CaptureInfo, error)
	ng     *pcapgo.NgReader
	lt     layers.LinkType
	head   carvePacket
	has    bool
}

func (s *stream) key() time.Time {
	if s.has {
		return s.head.t
	}
	return s.lower
}

func (s *stream) open() error {
	fd, err := openCaptureFile(s.file.Path)
	if err != nil {
		return err
	}
	s.fd, s.opened = fd, true
	if s.hdr, err = readFileHeader(fd); err != nil {
		return fmt.Errorf("%s: %w", s.file.Path, err)
	}
	if s.ix != nil {
		s.win.r = fd
		s.lt = s.hdr.linkType
		if s.hdr.ng {
			if s.hdr.order != binary.LittleEndian {
				return fmt.Errorf("%s: %w (big-endian pcapng)", s.file.Path, ErrStaleIndex)
			}
			s.lt = s.ix.LinkType
		}
		return nil
	}
	s.count.r = fd
	br := bufio.NewReaderSize(&s.count, 1<<16)
	if s.hdr.ng {
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return fmt.Errorf("%s: %w", s.file.Path, err)
		}
		s.ng, s.next = ng, ng.ReadPacketData
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", s.file.Path, err)
		}
		s.lt, s.next = pr.LinkType(), pr.ReadPacketData
	}
	return nil
}

func (s *stream) close() {
	if s.fd != nil {
		s.fd.Close()
		s.fd = nil
	}
	s.has = false
}

// advance reads the stream's next matching packet into s.head.
func (s *stream) advance() (bool, error) {
	var err error
	if s.ix != nil {
		s.has, err = s.readIndexed()
	} else {
		s.has, err = s.scan()
		s.done = min(s.count.n, s.total)
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", s.file.Path, err)
	}
	return s.has, nil
}

func (s *stream) readIndexed() (bool, error) {
	le := binary.LittleEndian
	for s.pos < len(s.offsets) {
		off := s.offsets[s.pos]
		s.pos++
		p := carvePacket{lt: s.lt}
		var caplen int
		var dataOff int64
		if s.hdr.ng {
			b, err := s.win.at(off, 28)
			if err != nil {
				return false, fmt.Errorf("record at %d: %w", off, err)
			}
			blen := int64(le.Uint32(b[4:8]))
			id := int(le.Uint32(b[8:12]))
			caplen, p.orig = int(le.Uint32(b[20:24])), int(le.Uint32(b[24:28]))
			if le.Uint32(b[:4]) != ngBlockEPB || int64(caplen) > blen-32 || id >= len(s.ix.Interfaces) {
				return false, fmt.Errorf("record at %d: %w", off, ErrStaleIndex)
			}
			p.t = time.Unix(0, int64(uint64(le.Uint32(b[12:16]))<<32|uint64(le.Uint32(b[16:20])))).UTC()
			p.iface = s.ix.Interfaces[id]
			dataOff = off + 28
			s.done += blen
		} else {
			b, err := s.win.at(off, 16)
			if err != nil {
				return false, fmt.Errorf("record at %d: %w", off, err)
			}
			o := s.hdr.order
			frac := int64(o.Uint32(b[4:8]))
			if !s.hdr.nanos {
				frac *= 1000
			}
			p.t = time.Unix(int64(o.Uint32(b[:4])), frac).UTC()
			caplen, p.orig = int(o.Uint32(b[8:12])), int(o.Uint32(b[12:16]))
			if caplen > maxRecord || caplen > p.orig {
				return false, fmt.Errorf("record at %d: %w", off, ErrStaleIndex)
			}
			dataOff = off + 16
			s.done += 16 + int64(caplen)
		}
		if !s.f.timeOK(p.t) {
			continue
		}
		data, err := s.win.at(dataOff, caplen)
		if err != nil {
			return false, fmt.Errorf("record at %d: %w", off, err)
		}
		p.data = data
		s.head = p
		return true, nil
	}
	return false, nil
}

// scan reads on to the next matching packet of a file without an index.
// A half record at the end (the file being written, or a crash) ends it.
func (s *stream) scan() (bool, error) {
	for {
		data, ci, err := s.next()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		p := carvePacket{t: ci.Timestamp, data: data, orig: ci.Length, lt: s.lt}
		if s.ng != nil {
			if len(ci.AncillaryData) > 0 {
				p.lt, _ = ci.AncillaryData[0].(layers.LinkType)
			}
			if intf, err := s.ng.Interface(ci.InterfaceIndex); err == nil {
				p.iface = intf.Name
			}
		}
		if !s.f.timeOK(p.t) || !s.matches(&p) {
			continue
		}
		s.head = p
		return true, nil
	}
}

func (s *stream) matches(p *carvePacket) bool {
	t, ok := parseTuple(p.lt, p.data)
	if !ok {
		return len(s.want) == 0 && s.f.Proto == 0 && !s.f.Host.IsValid() && s.f.Port == 0
	}
	if !s.f.tupleOK(t) {
		return false
	}
	if len(s.want) == 0 {
		return true
	}
	for ft := range s.tuples {
		if ft.same(t) {
			return true
		}
	}
	return false
}

// countingReader counts the bytes read from a file.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// streamHeap orders streams by their next packet's time (or, before they
// are opened, the earliest time they can have), then by file order.
type streamHeap []*stream

func (h streamHeap) Len() int { return len(h) }
func (h streamHeap) Less(i, j int) bool {
	a, b := h[i].key(), h[j].key()
	if !a.Equal(b) {
		return a.Before(b)
	}
	return h[i].order < h[j].order
}
func (h streamHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *streamHeap) Push(x any)   { *h = append(*h, x.(*stream)) }
func (h *streamHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	*h = old[:len(old)-1]
	return s
}

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
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// RingFile is a capture file of a ring, known by its name:
// PREFIX_NNNNN_YYYYMMDDhhmmss.pcap or .pcapng (tshark's ring naming).
type RingFile struct {
	Path   string
	Prefix string
	Num    int
	Start  time.Time // the first packet's time to the second (UTC), from the name
	Format string    // "pcap" or "pcapng", from the extension
}

var ringNameRE = regexp.MustCompile(`^(.+)_(\d{5,})_(\d{14})\.(pcap|pcapng)$`)

// ParseRingName tells whether name (a base name) is a ring file's.
func ParseRingName(name string) (RingFile, bool) {
	m := ringNameRE.FindStringSubmatch(name)
	if m == nil {
		return RingFile{}, false
	}
	num, err := strconv.Atoi(m[2])
	if err != nil {
		return RingFile{}, false
	}
	start, err := time.Parse("20060102150405", m[3])
	if err != nil {
		return RingFile{}, false
	}
	return RingFile{Path: name, Prefix: m[1], Num: num, Start: start, Format: m[4]}, true
}

// ErrNoRingFiles is returned when a directory holds no ring files.
var ErrNoRingFiles = errors.New("no pcap ring files (PREFIX_NNNNN_YYYYMMDDhhmmss.pcap or .pcapng)")

// FindRingFiles lists the ring files in dir, of any prefix, in time order
// (name time, then prefix and number).
func FindRingFiles(dir string) ([]RingFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []RingFile
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if rf, ok := ParseRingName(e.Name()); ok {
			rf.Path = filepath.Join(dir, e.Name())
			out = append(out, rf)
		}
	}
	sortRingFiles(out)
	return out, nil
}

func sortRingFiles(files []RingFile) {
	sort.SliceStable(files, func(i, j int) bool {
		a, b := files[i], files[j]
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		if a.Prefix != b.Prefix {
			return a.Prefix < b.Prefix
		}
		return a.Num < b.Num
	})
}

// FlowTuple is a flow's protocol, addresses and ports.
type FlowTuple struct {
	Proto    uint8
	Src, Dst netip.Addr
	SrcPort  uint16
	DstPort  uint16
}

// hasPorts reports whether protocol p has ports (TCP, UDP, SCTP).
func hasPorts(p uint8) bool { return p == 6 || p == 17 || p == 132 }

// same reports whether t and o are one flow, in either direction. Ports
// count only for protocols that have them.
func (t FlowTuple) same(o FlowTuple) bool {
	if t.Proto != o.Proto {
		return false
	}
	if !hasPorts(t.Proto) {
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
	if f.Port != 0 && (!hasPorts(t.Proto) || t.SrcPort != f.Port && t.DstPort != f.Port) {
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

// carveWriter writes the carved capture, starting it at the first packet.
type carveWriter struct {
	format  string
	nanos   bool
	bw      *bufio.Writer
	pw      *pcapgo.Writer
	lt      layers.LinkType
	nw      *pcapgo.NgWriter
	ifaces  map[ngIfaceKey]int
	started bool
}

type ngIfaceKey struct {
	name string
	lt   layers.LinkType
}

func (w *carveWriter) start(lt layers.LinkType, iface string, snaplen uint32) error {
	w.started = true
	if snaplen == 0 {
		snaplen = DefaultSnaplen
	}
	if w.format == "pcap" {
		if w.nanos {
			w.pw = pcapgo.NewWriterNanos(w.bw)
		} else {
			w.pw = pcapgo.NewWriter(w.bw)
		}
		w.lt = lt
		return w.pw.WriteFileHeader(snaplen, lt)
	}
	nw, err := pcapgo.NewNgWriterInterface(w.bw, pcapgo.NgInterface{Name: iface, LinkType: lt, SnapLength: 0},
		pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "xdpsensor carve"}})
	if err != nil {
		return err
	}
	w.nw = nw
	w.ifaces = map[ngIfaceKey]int{{iface, lt}: 0}
	return nil
}

func (w *carveWriter) write(s *stream) error {
	p := &s.head
	if !w.started {
		if err := w.start(p.lt, p.iface, s.hdr.snaplen); err != nil {
			return err
		}
	}
	ci := gopacket.CaptureInfo{Timestamp: p.t, CaptureLength: len(p.data), Length: p.orig}
	if w.pw != nil {
		if p.lt != w.lt {
			return fmt.Errorf("%s: a packet of link type %s cannot go into a pcap of link type %s: carve to pcapng", s.file.Path, p.lt, w.lt)
		}
		return w.pw.WritePacket(ci, p.data)
	}
	k := ngIfaceKey{p.iface, p.lt}
	id, ok := w.ifaces[k]
	if !ok {
		var err error
		if id, err = w.nw.AddInterface(pcapgo.NgInterface{Name: p.iface, LinkType: p.lt}); err != nil {
			return err
		}
		w.ifaces[k] = id
	}
	ci.InterfaceIndex = id
	return w.nw.WritePacket(ci, p.data)
}

func (w *carveWriter) finish() error {
	if !w.started {
		if err := w.start(layers.LinkTypeEthernet, "", 0); err != nil {
			return err
		}
	}
	return w.bw.Flush()
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
	if hasPorts(t.Proto) && !frag && len(l4) >= 4 {
		t.SrcPort, t.DstPort = be.Uint16(l4[0:2]), be.Uint16(l4[2:4])
	}
	return t, true
}

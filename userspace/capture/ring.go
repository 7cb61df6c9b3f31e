package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Record is one captured frame handed to the ring.
type Record struct {
	Time      time.Time
	Data      []byte // frame bytes (possibly cut at the snaplen); only read during Write
	OrigLen   int    // length on the wire
	Interface string // receiving interface name, may be empty
	FlowID    uint64 // the sensor's flow id (EVE flow_id); 0 for packets in no flow
	Proto     uint8
	Src, Dst  netip.Addr // the packet's own addresses
	SrcPort   uint16
	DstPort   uint16
}

// RingOptions configure a ring of capture files, like tshark -b.
type RingOptions struct {
	Dir      string
	Prefix   string          // file name prefix, default "xdpsensor"
	Files    int             // tshark -b files:N: keep at most N files (0 = unlimited)
	FileSize int64           // tshark -b filesize: bytes per file before switching (0 = no limit)
	Rotate   time.Duration   // also switch after this long of packet time (0 = never)
	Format   string          // "pcap" (default, microsecond timestamps) or "pcapng" (nanoseconds)
	Snaplen  uint32          // frames are cut to this many bytes (0 = DefaultSnaplen)
	LinkType layers.LinkType // link type of the frames; 0 means Ethernet
}

// DefaultSnaplen is libpcap's MAXIMUM_SNAPLEN.
const DefaultSnaplen = 262144

// DefaultPrefix names ring files when RingOptions.Prefix is empty.
const DefaultPrefix = "xdpsensor"

// ErrPaused is wrapped by the error Write returns while the ring is paused
// after a write error (disk full, directory gone): the packet was dropped.
var ErrPaused = errors.New("pcap ring paused")

// RingStats are the ring's counters since OpenRing.
type RingStats struct {
	FilesWritten uint64 // files started
	FilesDeleted uint64 // files the ring deleted to stay within Files
	Packets      uint64 // packets written (and not rolled back after a write error)
	Bytes        uint64 // file bytes those packets took (record headers included)
	Dropped      uint64 // packets the ring lost: while paused, or rolled back after a short write
	KernelDrops  uint64 // the last SetDrops value
	Paused       bool
	LastError    error     // the last write, delete or index error, nil if none
	LastErrorAt  time.Time // wall time of LastError
	CurrentFile  string    // the open file, "" between files
}

// resumeInterval is how often a paused ring tries to write again.
const resumeInterval = time.Second

// bufSize is the write buffer of the open file. Records never straddle a
// flush, so every write(2) carries whole records.
const bufSize = 1 << 20

// Ring writes packets into a ring of pcap or pcapng files, like tshark -b
// files:N -b filesize:S -b duration:D. It is safe for concurrent use.
//
// Files are named PREFIX_NNNNN_YYYYMMDDhhmmss.pcap (or .pcapng): NNNNN
// counts files from 1, the time is the file's first packet's (UTC, packet
// time, so replays of old traffic get old names). A packet goes to a new
// file when it would make the open one larger than FileSize (a packet
// larger than FileSize gets a file alone) or when Rotate has passed since
// the open file's first packet. Starting file N+1 deletes the oldest
// files (and their indexes) beyond Files, so the capture files never take
// more than Files × FileSize bytes; each closed file's index (FILE.idx,
// see Index) takes another 0.3–1 %.
//
// pcap files have microsecond timestamps (tcpdump's default, readable by
// every tool); pcapng files nanoseconds, an interface per interface name
// and, at close, interface statistics with the packets lost meanwhile.
//
// Packets go through a 1 MiB buffer that is written out in whole records
// only (when full, on Flush, on rotation and Close), so a reader of the
// open file, or of a file left by a crash, sees complete records; a file
// appears under its name with its header already written. A write error
// (disk full) cuts the file back to its last complete record, closes it
// and pauses the ring: packets are dropped and counted until a retry, at
// most once a second, works.
type Ring struct {
	mu      sync.Mutex
	opts    RingOptions
	ng      bool
	ext     string
	files   []*ringFile // oldest first; the open file is the last
	cur     *openFile
	nextNum int
	stats   RingStats
	lastTry time.Time   // wall time of the last attempt to write while paused
	lost    uint64      // KernelDrops + Dropped at the last file close
	noIndex []*openFile // closed files whose index could not be written (disk full): retried
	closed  bool
	now     func() time.Time // wall clock (tests replace it)
}

// ringFile is a file of the ring, open or closed.
type ringFile struct {
	path        string
	num         int
	first, last time.Time // packet times; last is zero if unknown
	// onDisk is how long the file is once closed: the records it holds
	// end at or before it (Stored).
	onDisk int64
}

// OpenRing prepares a ring in opts.Dir (created if missing). Files of an
// earlier run with the same prefix stay part of the ring: numbering goes
// on after the highest number and the oldest are deleted first. If the
// newest of them ends with half a record (a crash), it is cut back to its
// last complete record.
func OpenRing(opts RingOptions) (*Ring, error) {
	if opts.Dir == "" {
		return nil, errors.New("pcap ring: no directory")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(opts.Prefix, `/\`) || opts.Prefix == "." || opts.Prefix == ".." {
		return nil, fmt.Errorf("pcap ring: prefix %q must be a plain file name", opts.Prefix)
	}
	if opts.Files < 0 {
		return nil, fmt.Errorf("pcap ring: files %d: want 1 or more (0: unlimited)", opts.Files)
	}
	if opts.FileSize < 0 {
		return nil, fmt.Errorf("pcap ring: file size %d: want 0 (unlimited) or more", opts.FileSize)
	}
	if opts.Rotate < 0 {
		return nil, fmt.Errorf("pcap ring: rotation interval %v is negative", opts.Rotate)
	}
	if opts.Snaplen == 0 {
		opts.Snaplen = DefaultSnaplen
	}
	if opts.LinkType == 0 {
		opts.LinkType = layers.LinkTypeEthernet
	}
	r := &Ring{opts: opts, now: time.Now, nextNum: 1}
	switch opts.Format {
	case "", "pcap":
		r.opts.Format, r.ext = "pcap", ".pcap"
	case "pcapng":
		r.ng, r.ext = true, ".pcapng"
	default:
		return nil, fmt.Errorf("pcap ring: format %q: want pcap or pcapng", opts.Format)
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("pcap ring: %w", err)
	}
	// Files a crash left half created.
	if tmps, err := filepath.Glob(filepath.Join(opts.Dir, "."+opts.Prefix+"_*.tmp")); err == nil {
		for _, f := range tmps {
			os.Remove(f)
		}
	}
	existing, err := FindRingFiles(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("pcap ring: %w", err)
	}
	for _, f := range existing {
		if f.Prefix != opts.Prefix {
			continue
		}
		rf := &ringFile{path: f.Path, num: f.Num, first: f.Start}
		if ix, err := ReadIndex(f.Path); err == nil {
			rf.first, rf.last = ix.First, ix.Last
		}
		r.files = append(r.files, rf)
		if f.Num >= r.nextNum {
			r.nextNum = f.Num + 1
		}
	}
	sort.Slice(r.files, func(i, j int) bool { return r.files[i].num < r.files[j].num })
	if n := len(r.files); n > 0 {
		newest := r.files[n-1]
		if _, err := os.Stat(IndexPath(newest.path)); errors.Is(err, fs.ErrNotExist) {
			if end, complete, err := lastCompleteRecord(newest.path); err == nil && !complete {
				if err := os.Truncate(newest.path, end); err != nil {
					return nil, fmt.Errorf("pcap ring: cutting the half record off %s: %w", newest.path, err)
				}
			}
		}
	}
	return r, nil
}

// Dir returns the ring's directory.
func (r *Ring) Dir() string { return r.opts.Dir }

// Write appends rec to the open file, starting a new file first when rec
// would push the open one past FileSize or Rotate. It returns the path
// of the file the packet went to. While the ring is paused after a write
// error, packets are dropped (counted in Stats().Dropped) and Write
// returns an error wrapping ErrPaused; at most once a second of wall time
// Write tries a new file, and the ring resumes when that works.
func (r *Ring) Write(rec *Record) (string, error) {
	f, err := r.WriteFrame(rec)
	return f.Path, err
}

// Frame is where WriteFrame put a packet: its file, and where its record
// ends in it. The record may still be in the write buffer, and a write
// cut short (disk full) takes it out of the file again: Stored says
// whether it made it.
type Frame struct {
	Path string
	file *ringFile
	end  int64
}

// WriteFrame is Write, returning where the packet went.
func (r *Ring) WriteFrame(rec *Record) (Frame, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Frame{}, errors.New("pcap ring: closed")
	}
	if r.stats.Paused {
		now := r.now()
		if now.Sub(r.lastTry) < resumeInterval {
			r.stats.Dropped++
			if r.stats.LastError == nil {
				return Frame{}, ErrPaused
			}
			return Frame{}, fmt.Errorf("%w: %w", ErrPaused, r.stats.LastError)
		}
		r.lastTry = now
	}
	data := rec.Data
	if uint32(len(data)) > r.opts.Snaplen {
		data = data[:r.opts.Snaplen]
	}
	origLen := rec.OrigLen
	if origLen < len(rec.Data) {
		origLen = len(rec.Data)
	}
	ts := rec.Time
	if ts.IsZero() {
		ts = r.now()
	}
	if !r.ng {
		ts = ts.Truncate(time.Microsecond) // what the file keeps
	}
	ts = ts.UTC()

	if c := r.cur; c != nil && c.packets > 0 {
		rotate := r.opts.Rotate > 0 && ts.Sub(c.first) >= r.opts.Rotate
		if !rotate && r.opts.FileSize > 0 {
			rotate = c.size+c.need(len(data), rec.Interface) > r.opts.FileSize
		}
		if rotate {
			if err := r.closeCurrent(true); err != nil {
				r.stats.Dropped++
				return Frame{}, err
			}
		}
	}
	if r.cur == nil {
		if err := r.openNext(ts, rec.Interface); err != nil {
			r.stats.Dropped++
			return Frame{}, err
		}
	}
	c := r.cur
	n, err := c.writePacket(ts, data, origLen, rec)
	if err != nil {
		r.fail(err)
		r.stats.Dropped++
		return Frame{}, fmt.Errorf("pcap ring: writing %s: %w", c.path, err)
	}
	r.stats.Packets++
	r.stats.Bytes += uint64(n)
	return Frame{Path: c.path, file: c.ringFile, end: c.size}, nil
}

// Stored reports whether f's record is in its file: written out (the
// buffer is written first if it still holds it), not taken back after a
// write cut short, and the file not deleted to stay within Files. An
// alert names a pcap file only when this holds.
func (r *Ring) Stored(f Frame) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f.file == nil || !r.holds(f.file) {
		return false
	}
	if c := r.cur; c != nil && c.ringFile == f.file {
		if f.end <= c.disk.n {
			return true
		}
		err := c.flush()
		if err == nil {
			return f.end <= c.disk.n
		}
		r.fail(err) // cuts the file back to its last whole record
	}
	return r.holds(f.file) && f.end <= f.file.onDisk
}

// Flush writes buffered packets to the open file, so that readers (carve)
// see them. The daemon calls it every ~100 ms.
func (r *Ring) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return nil
	}
	if err := r.cur.flush(); err != nil {
		path := r.cur.path
		r.fail(err)
		return fmt.Errorf("pcap ring: writing %s: %w", path, err)
	}
	return nil
}

// FileFor returns the path of the ring file holding packets of time t:
// the file whose first and last packet times include t, "" if none does.
func (r *Ring) FileFor(t time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.files) - 1; i >= 0; i-- {
		f := r.files[i]
		last := f.last
		if last.IsZero() && i+1 < len(r.files) {
			last = r.files[i+1].first // a file of an earlier run without index
		}
		if !t.Before(f.first) && !t.After(last) {
			return f.path
		}
	}
	return ""
}

// SetDrops records how many packets the kernel could not hand over so
// far (a running total). Each pcapng file records, in its interface
// statistics (isb_ifdrop), the packets lost while it was being written.
func (r *Ring) SetDrops(n uint64) {
	r.mu.Lock()
	r.stats.KernelDrops = n
	r.mu.Unlock()
}

// Stats returns the ring's counters.
func (r *Ring) Stats() RingStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats
	if r.cur != nil {
		st.CurrentFile = r.cur.path
	}
	return st
}

// Files returns the paths of the ring's files, oldest first.
func (r *Ring) Files() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.files))
	for i, f := range r.files {
		out[i] = f.path
	}
	return out
}

// Close finishes the open file (interface statistics, index) and closes
// the ring.
func (r *Ring) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var err error
	if r.cur != nil {
		err = r.closeCurrent(true)
	}
	retry := r.noIndex
	r.noIndex = nil
	for _, old := range retry {
		if _, serr := os.Stat(old.path); serr == nil && r.holds(old.ringFile) {
			r.writeIndex(old)
		}
	}
	return err
}

// fileName is tshark's ring naming: prefix_NNNNN_YYYYMMDDhhmmss.ext.
func (r *Ring) fileName(num int, first time.Time) string {
	return fmt.Sprintf("%s_%05d_%s%s", r.opts.Prefix, num, first.UTC().Format("20060102150405"), r.ext)
}

// openNext deletes the oldest files beyond the budget and starts a new one
// whose first packet has time ts.
func (r *Ring) openNext(ts time.Time, iface string) error {
	if r.opts.Files > 0 {
		for len(r.files) >= r.opts.Files {
			old := r.files[0]
			r.files = r.files[1:]
			err := os.Remove(old.path)
			if err == nil || errors.Is(err, fs.ErrNotExist) {
				r.stats.FilesDeleted++
				err = nil
			}
			if ierr := os.Remove(IndexPath(old.path)); ierr != nil && !errors.Is(ierr, fs.ErrNotExist) && err == nil {
				err = ierr
			}
			if err != nil {
				r.setErr(fmt.Errorf("pcap ring: deleting %s: %w", old.path, err))
			}
		}
	}
	num := r.nextNum
	path := filepath.Join(r.opts.Dir, r.fileName(num, ts))
	// The file appears under its name with its header written: readers
	// never see a ring file shorter than a capture header.
	tmp := filepath.Join(r.opts.Dir, "."+r.fileName(num, ts)+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o640) // never through a planted symlink
	if err != nil {
		r.pause(fmt.Errorf("pcap ring: %w", err))
		return fmt.Errorf("%w: %w", ErrPaused, err)
	}
	r.nextNum++
	c := &openFile{
		ringFile: &ringFile{path: path, num: num, first: ts},
		f:        f,
		ng:       r.ng,
		linkType: r.opts.LinkType,
		snaplen:  r.opts.Snaplen,
		ifaces:   map[string]int{},
		idx:      newIndexBuilder(),
	}
	c.disk.f = f
	c.bw = bufio.NewWriterSize(&c.disk, max(bufSize, int(r.opts.Snaplen)+4096))
	err = c.writeHeader(iface)
	if err == nil {
		err = c.flush() // a paused ring finds out at once whether writing works
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		r.pause(fmt.Errorf("pcap ring: writing %s: %w", path, err))
		return fmt.Errorf("%w: %w", ErrPaused, err)
	}
	r.cur = c
	r.files = append(r.files, c.ringFile)
	r.stats.FilesWritten++
	r.stats.Paused = false
	// Writing works again: the indexes a full disk refused.
	retry := r.noIndex
	r.noIndex = nil
	for _, old := range retry {
		if _, err := os.Stat(old.path); err == nil && r.holds(old.ringFile) {
			r.writeIndex(old)
		}
	}
	return nil
}

// holds reports whether f is still one of the ring's files.
func (r *Ring) holds(f *ringFile) bool {
	for _, x := range r.files {
		if x == f {
			return true
		}
	}
	return false
}

// closeCurrent finishes the open file: interface statistics (pcapng),
// flush, fsync, close, index. With stats false (after a write error) no
// more blocks are written.
func (r *Ring) closeCurrent(stats bool) error {
	c := r.cur
	r.cur = nil
	lost := r.stats.KernelDrops + r.stats.Dropped
	var err error
	if stats && c.ng {
		err = c.writeStats(lost - r.lost)
	}
	if err == nil {
		err = c.flush()
	}
	if err != nil {
		r.cur = c
		r.fail(err)
		return fmt.Errorf("pcap ring: writing %s: %w", c.path, err)
	}
	r.lost = lost
	if err := c.f.Sync(); err != nil {
		r.setErr(fmt.Errorf("pcap ring: %s: %w", c.path, err))
	}
	if err := c.f.Close(); err != nil {
		r.setErr(fmt.Errorf("pcap ring: %s: %w", c.path, err))
	}
	c.onDisk = c.disk.n
	c.bw, c.pw, c.nw = nil, nil, nil
	r.writeIndex(c)
	return nil
}

// writeIndex writes the closed file's index next to it.
func (r *Ring) writeIndex(c *openFile) {
	ix := c.idx.index(c.disk.n, c.ng, c.linkType, c.ifNames)
	if err := WriteIndex(c.path, ix); err != nil {
		r.setErr(err)
		r.noIndex = append(r.noIndex, c)
	}
}

// fail handles a write error on the open file: the file is cut back to its
// last complete record, its packets past that point are counted as
// dropped, it is closed with an index for what it holds (or deleted if it
// holds no packet), and the ring pauses.
func (r *Ring) fail(cause error) {
	c := r.cur
	r.cur = nil
	end, lostPackets, lostBytes := c.rollback()
	r.stats.Packets -= uint64(lostPackets)
	r.stats.Bytes -= uint64(lostBytes)
	r.stats.Dropped += uint64(lostPackets)
	if err := c.f.Truncate(end); err != nil {
		r.setErr(fmt.Errorf("pcap ring: cutting %s back to its last complete record: %w", c.path, err))
	}
	c.f.Close()
	c.bw, c.pw, c.nw = nil, nil, nil
	if c.packets == 0 {
		os.Remove(c.path)
		for i, f := range r.files {
			if f == c.ringFile {
				r.files = append(r.files[:i], r.files[i+1:]...)
				break
			}
		}
	} else {
		c.disk.n, c.onDisk = end, end
		r.writeIndex(c)
	}
	r.pause(cause)
}

func (r *Ring) pause(err error) {
	r.stats.Paused = true
	r.lastTry = r.now()
	r.setErr(err)
}

func (r *Ring) setErr(err error) {
	r.stats.LastError = err
	r.stats.LastErrorAt = r.now()
}

// diskWriter counts the bytes the kernel accepted.
type diskWriter struct {
	f *os.File
	n int64
}

func (d *diskWriter) Write(p []byte) (int, error) {
	n, err := d.f.Write(p)
	d.n += int64(n)
	return n, err
}

// pendingRec is a record in the write buffer, not yet known to be on disk.
type pendingRec struct {
	start, end int64
	flow       *IndexFlow // nil for file headers and interface blocks
}

// ifaceState is a pcapng interface of the open file.
type ifaceState struct {
	first, last time.Time
}

// openFile is the file being written.
type openFile struct {
	*ringFile
	f        *os.File
	disk     diskWriter
	bw       *bufio.Writer
	ng       bool
	linkType layers.LinkType
	snaplen  uint32
	pw       *pcapgo.Writer
	nw       *pcapgo.NgWriter
	ifaces   map[string]int
	ifNames  []string
	ifStates []ifaceState
	size     int64 // bytes written into bw (on disk + buffered)
	packets  int
	pending  []pendingRec
	idx      *indexBuilder
}

// pcapng block sizes as pcapgo writes them (see ngwrite.go).
const (
	ngEPBOverhead = 32 // block header 28 + trailer 4, no options
	ngISBSize     = 64 // 24 + start, end, ifdrop (12 each) + end of options
)

func pad4(n int) int { return (n + 3) &^ 3 }

// idbSize is the size of an interface description block carrying a name
// and if_tsresol.
func idbSize(name string) int64 {
	n := 20 + 8 + 4 // header and trailer, if_tsresol, end of options
	if name != "" {
		n += 4 + pad4(len(name))
	}
	return int64(n)
}

// recordSize is the size a packet of caplen bytes takes in the file.
func (c *openFile) recordSize(caplen int) int64 {
	if c.ng {
		return int64(ngEPBOverhead + pad4(caplen))
	}
	return int64(16 + caplen)
}

// need is how many bytes the file grows by for a packet of caplen bytes
// received on iface, counting the interface statistics written at close.
func (c *openFile) need(caplen int, iface string) int64 {
	n := c.recordSize(caplen)
	if c.ng {
		nIf := len(c.ifNames)
		if _, ok := c.ifaces[iface]; !ok {
			n += idbSize(iface)
			nIf++
		}
		n += int64(nIf) * ngISBSize
	}
	return n
}

// room makes sure a record of n bytes fits the buffer without a flush in
// its middle.
func (c *openFile) room(n int64) error {
	if int64(c.bw.Available()) < n {
		return c.flush()
	}
	return nil
}

func (c *openFile) flush() error {
	if err := c.bw.Flush(); err != nil {
		return err
	}
	c.pending = c.pending[:0]
	return nil
}

// mark records that bytes [c.size, c.size+n) hold one record.
func (c *openFile) mark(n int64, flow *IndexFlow) {
	c.pending = append(c.pending, pendingRec{start: c.size, end: c.size + n, flow: flow})
	c.size += n
}

func (c *openFile) writeHeader(iface string) error {
	if !c.ng {
		c.pw = pcapgo.NewWriter(c.bw)
		if err := c.pw.WriteFileHeader(c.snaplen, c.linkType); err != nil {
			return err
		}
		c.mark(int64(c.bw.Buffered()), nil)
		return nil
	}
	nw, err := pcapgo.NewNgWriterInterface(c.bw, c.ngInterface(iface), pcapgo.NgWriterOptions{
		SectionInfo: pcapgo.NgSectionInfo{Application: "xdpsensor", OS: runtime.GOOS, Hardware: runtime.GOARCH},
	})
	if err != nil {
		return err
	}
	c.nw = nw
	c.ifaces[iface] = 0
	c.ifNames = append(c.ifNames, iface)
	c.ifStates = append(c.ifStates, ifaceState{})
	c.mark(int64(c.bw.Buffered()), nil)
	return nil
}

func (c *openFile) ngInterface(name string) pcapgo.NgInterface {
	return pcapgo.NgInterface{Name: name, LinkType: c.linkType, SnapLength: c.snaplen, TimestampResolution: 9}
}

// writePacket writes one record (and, in pcapng, the interface block of a
// new interface) as whole records into the buffer.
func (c *openFile) writePacket(ts time.Time, data []byte, origLen int, rec *Record) (int64, error) {
	ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: origLen}
	n := c.recordSize(len(data))
	if c.ng {
		id, ok := c.ifaces[rec.Interface]
		if !ok {
			sz := idbSize(rec.Interface)
			if err := c.room(sz + n); err != nil {
				return 0, err
			}
			var err error
			if id, err = c.nw.AddInterface(c.ngInterface(rec.Interface)); err != nil {
				return 0, err
			}
			c.ifaces[rec.Interface] = id
			c.ifNames = append(c.ifNames, rec.Interface)
			c.ifStates = append(c.ifStates, ifaceState{})
			c.mark(sz, nil)
		}
		if err := c.room(n); err != nil {
			return 0, err
		}
		ci.InterfaceIndex = id
		if err := c.nw.WritePacket(ci, data); err != nil {
			return 0, err
		}
		st := &c.ifStates[id]
		if st.first.IsZero() || ts.Before(st.first) {
			st.first = ts
		}
		if ts.After(st.last) {
			st.last = ts
		}
	} else {
		if err := c.room(n); err != nil {
			return 0, err
		}
		if err := c.pw.WritePacket(ci, data); err != nil {
			return 0, err
		}
	}
	start := c.size
	flow := c.idx.add(rec, ts, start, n)
	c.mark(n, flow)
	c.packets++
	if ts.After(c.last) {
		c.last = ts
	}
	return n, nil
}

// writeStats writes an interface statistics block per interface: the
// interface's first and last packet times and, on the first interface,
// the packets lost while this file was open (the kernel's capture ring is
// shared by all interfaces; the others say 0, so the sum is right).
func (c *openFile) writeStats(lost uint64) error {
	if err := c.room(int64(len(c.ifNames)) * ngISBSize); err != nil {
		return err
	}
	for id, st := range c.ifStates {
		drops := uint64(0)
		if id == 0 {
			drops = lost
		}
		if st.first.IsZero() {
			st.first, st.last = c.first, c.first
		}
		err := c.nw.WriteInterfaceStats(id, pcapgo.NgInterfaceStatistics{
			LastUpdate:      st.last,
			StartTime:       st.first,
			EndTime:         st.last,
			PacketsDropped:  drops,
			PacketsReceived: pcapgo.NgNoValue64,
		})
		if err != nil {
			return err
		}
		c.mark(ngISBSize, nil)
	}
	return nil
}

// rollback finds the last complete record on disk after a failed write
// and forgets the packets past it. It returns the offset to cut the file
// at and the packets and bytes lost.
func (c *openFile) rollback() (end int64, packets, bytes int) {
	onDisk := c.disk.n
	end = c.size
	for i := len(c.pending) - 1; i >= 0; i-- {
		p := c.pending[i]
		if p.end <= onDisk {
			break
		}
		end = p.start
		if p.flow != nil {
			c.idx.removeLast(p.flow, p.end-p.start)
			c.packets--
			packets++
			bytes += int(p.end - p.start)
		}
	}
	if end > onDisk {
		end = onDisk
	}
	c.pending = c.pending[:0]
	c.size = end
	return end, packets, bytes
}

// ParseSize reads a byte count: a number with an optional binary unit,
// "512k", "100M", "1G", "2T" (K = 1024; "KB", "KiB", "MB", "MiB", … and
// lower case mean the same), or plain bytes "1048576". Fractions are
// allowed with a unit ("1.5G").
func ParseSize(s string) (int64, error) {
	orig := s
	s = strings.TrimSpace(s)
	num := strings.TrimRight(s, "kKmMgGtTiIbB")
	unit := strings.ToUpper(s[len(num):])
	num = strings.TrimSpace(num)
	shift := 0
	switch strings.TrimSuffix(strings.TrimSuffix(unit, "B"), "I") {
	case "":
		if unit != "" && unit != "B" {
			return 0, fmt.Errorf("size %q: unknown unit %q (want k, M, G or T)", orig, unit)
		}
	case "K":
		shift = 10
	case "M":
		shift = 20
	case "G":
		shift = 30
	case "T":
		shift = 40
	default:
		return 0, fmt.Errorf("size %q: unknown unit %q (want k, M, G or T)", orig, unit)
	}
	if num == "" {
		return 0, fmt.Errorf("size %q: no number", orig)
	}
	if n, err := strconv.ParseUint(num, 10, 63); err == nil {
		if n > math.MaxInt64>>shift {
			return 0, fmt.Errorf("size %q is too large", orig)
		}
		return int64(n) << shift, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsNaN(f) || shift == 0 {
		return 0, fmt.Errorf("size %q: want a byte count like 1048576, 512k, 100M or 1G", orig)
	}
	v := f * float64(int64(1)<<shift)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", orig)
	}
	return int64(v), nil
}

package pipeline

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"io"
	"os"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/userspace/capture"
)

// flowBound bounds the flow entries a replay of some captures can create
// in each family's table. TCP frames the scan can key (Ethernet, up to
// three VLAN tags, IPv4 or IPv6 without extension headers) count once per
// distinct tuple, as the kernel keys them; every other frame counts as a
// flow of its own, in both families when the scan cannot tell which:
// anything the kernel might key differently (tunnels, ICMP errors, other
// protocols) is overcounted, never under.
//
// Tuples are told apart by a 64-bit hash: two distinct flows share one
// with a chance of about n²/2⁶⁵ (10⁻⁸ for a million), and the tables get
// twice the bound anyway. A set of hashes fits a core's cache where one of
// whole tuples does not: this VM's memory latency made the scan of 1M
// frames three times slower with tuples.
type flowBound struct {
	v4, v6 uint64
	frames uint64
	seen   hashSet
	seed   maphash.Seed
	key    []byte // scratch: the tuple being hashed
}

func newFlowBound() *flowBound {
	return &flowBound{seed: maphash.MakeSeed(), key: make([]byte, 0, 48)}
}

func (b *flowBound) frame(data []byte) {
	b.frames++
	var vlans [6]byte
	off := 12
	for n := 0; ; n++ {
		if len(data) < off+2 {
			b.unknown()
			return
		}
		et := binary.BigEndian.Uint16(data[off:])
		if et == 0x8100 || et == 0x88a8 || et == 0x9100 {
			if n == 3 || len(data) < off+6 {
				b.unknown()
				return
			}
			copy(vlans[2*n:], data[off+2:off+4])
			vlans[2*n] &= 0x0f
			off += 4
			continue
		}
		off += 2
		switch et {
		case 0x0800:
			b.ipv4(data[off:], vlans[:])
		case 0x86dd:
			b.ipv6(data[off:], vlans[:])
		default:
			b.unknown()
		}
		return
	}
}

// unknown counts a frame the scan cannot key toward both tables.
func (b *flowBound) unknown() { b.v4++; b.v6++ }

func (b *flowBound) ipv4(ip []byte, vlans []byte) {
	if len(ip) < 20 || ip[0]>>4 != 4 {
		b.unknown()
		return
	}
	ihl := int(ip[0]&0x0f) * 4
	frag := binary.BigEndian.Uint16(ip[6:]) & 0x3fff // MF or an offset
	if ip[9] != 6 || ihl < 20 || frag != 0 || len(ip) < ihl+4 {
		b.v4++
		return
	}
	if b.tcp(vlans, ip[12:16], ip[16:20], ip[ihl:ihl+2], ip[ihl+2:ihl+4]) {
		b.v4++
	}
}

func (b *flowBound) ipv6(ip []byte, vlans []byte) {
	if len(ip) < 44 || ip[0]>>4 != 6 || ip[6] != 6 {
		b.v6++
		return
	}
	if b.tcp(vlans, ip[8:24], ip[24:40], ip[40:42], ip[42:44]) {
		b.v6++
	}
}

// tcp adds a TCP flow, both ends in canonical order, and says whether it
// is new.
func (b *flowBound) tcp(vlans, src, dst, sport, dport []byte) bool {
	k := append(b.key[:0], vlans...)
	a := append(append(k, src...), sport...)
	swap := string(dst) < string(src) || string(dst) == string(src) && string(dport) < string(sport)
	if swap {
		a = append(append(k, dst...), dport...)
		a = append(append(a, src...), sport...)
	} else {
		a = append(append(a, dst...), dport...)
	}
	b.key = a
	return b.seen.add(maphash.Bytes(b.seed, a))
}

// hashSet is a set of 64-bit hashes, open addressing with linear probing.
type hashSet struct {
	slots []uint64
	n     int
}

// add adds h and says whether it was new.
func (s *hashSet) add(h uint64) bool {
	if h == 0 {
		h = 1 // 0 marks a free slot
	}
	if 2*(s.n+1) > len(s.slots) {
		old := s.slots
		s.slots, s.n = make([]uint64, max(2*len(old), 1<<12)), 0
		for _, o := range old {
			if o != 0 {
				s.add(o)
			}
		}
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return false
		case 0:
			s.slots[i] = h
			s.n++
			return true
		}
	}
}

// replayTables sizes the flow tables for captures from the most flows
// they can make, at most what the file sizes allow (tableSizes).
func replayTables(files []string) (v4, v6 uint32, onDemand bool) {
	maxV4, maxV6 := replayTablesBySize(files)
	b := newFlowBound()
	for _, f := range files {
		if err := scanFlows(f, b); err != nil {
			return maxV4, maxV6, true
		}
	}
	return tableSizes(b.v4, b.v6, b.frames, maxV4, maxV6)
}

// tableSizes sizes the tables for at most n4 and n6 flows and frames
// frames, so that they never fill nor pass the tracker's high-water mark
// (90%). A table larger than its flows costs its allocation, each sweep
// a walk over its empty buckets, and the tracker's pace (a share of the
// capacity per tick of packet time) pass after pass; its lookups miss the
// cache more.
//
// Preallocated entries (loader.Config.AllocFlowsOnDemand false) cost
// their memory and time up front, so such a table gets a quarter more
// than its flows (at most 80% full); they are worth it from
// preallocFramesPerEntry frames an entry, up to preallocMaxEntries. A
// table taking its entries on demand costs its hash buckets, a power of
// two either way: it gets twice its flows, rounded up to one.
func tableSizes(n4, n6, frames uint64, max4, max6 uint32) (v4, v6 uint32, onDemand bool) {
	snug := func(n uint64, limit uint32) uint32 {
		return uint32(max(min((n+n/4+1023)&^1023, uint64(limit)), loader.MinFlows))
	}
	if v4, v6 = snug(n4, max4), snug(n6, max6); uint64(v4)+uint64(v6) <= preallocMaxEntries &&
		frames >= preallocFramesPerEntry*(uint64(v4)+uint64(v6)) {
		return v4, v6, false
	}
	pow2 := func(n uint64, limit uint32) uint32 {
		s := uint32(loader.MinFlows)
		for s < limit && uint64(s) < 2*n {
			s *= 2
		}
		return s
	}
	return pow2(n4, max4), pow2(n6, max6), true
}

// Preallocating a flow entry took about 0.36 µs on the bench VM and saved
// about 70 ns on each replayed frame (its entries lie side by side): it
// pays from five frames an entry. Past 2^21 entries (about 350 MB of
// kernel memory for both tables) a replay takes its entries as its flows
// come, whatever the time.
const (
	preallocFramesPerEntry = 5
	preallocMaxEntries     = 1 << 21
)

func scanFlows(path string, b *flowBound) error {
	if ok, err := scanPcapEthernet(path, b); ok || err != nil {
		return err
	}
	return scanWithReader(path, b)
}

// scanWithReader scans any capture replay reads, as replay reads it.
func scanWithReader(path string, b *flowBound) error {
	rd, err := capture.Open(path)
	if err != nil {
		return err
	}
	defer rd.Close()
	for {
		p, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, capture.ErrRecordSkipped) {
			continue // replay skips it too: no flow
		}
		if err != nil {
			return err
		}
		b.frame(p.Data)
	}
}

// scanPcapEthernet scans a classic pcap file of Ethernet frames straight
// from its bytes, several times faster than capture.Reader. It returns
// false (having counted nothing) for any other file, and for one whose
// records do not add up: capture.Reader then reads it as replay will.
// (Reading beats mapping the file: page faults cost more on a VM.) The
// file is read on another goroutine, a block ahead of the scan: the
// copies out of the page cache took a third of the scan's time.
func scanPcapEthernet(path string, b *flowBound) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var hdr [24]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return false, nil
	}
	var order binary.ByteOrder
	switch binary.LittleEndian.Uint32(hdr[:]) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		order = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		order = binary.BigEndian
	default:
		return false, nil
	}
	if order.Uint16(hdr[4:]) != 2 || order.Uint32(hdr[20:])&0xffff != 1 {
		return false, nil
	}
	// What the file adds is taken back if the fast path gives up on it.
	v4, v6, frames, seen := b.v4, b.v6, b.frames, b.seen.n
	giveUp := func() (bool, error) {
		b.v4, b.v6, b.frames = v4, v6, frames
		if b.seen.n != seen {
			// The slow path scans the file again: its flows must not look
			// seen. Starting the set over only overcounts earlier files.
			b.seen = hashSet{}
		}
		return false, nil
	}
	blocks := readBlocks(f)
	defer blocks.stop()
	// A record cut by a block's end is carried to the next block's
	// headroom, where it joins its rest.
	var carry []byte
	for blk := range blocks.full {
		start := scanHeadroom - len(carry)
		copy(blk.buf[start:], carry)
		data := blk.buf[start : scanHeadroom+blk.n]
		off := 0
		for len(data)-off >= 16 {
			caplen := int(order.Uint32(data[off+8:]))
			if caplen > scanMaxRecord {
				return giveUp()
			}
			if caplen > len(data)-off-16 {
				break
			}
			b.frame(data[off+16 : off+16+caplen])
			off += 16 + caplen
		}
		carry = append(carry[:0], data[off:]...)
		blocks.free <- blk.buf
		if blk.last {
			if len(carry) > 0 {
				return giveUp() // the file ends inside a record
			}
			return true, nil
		}
	}
	return giveUp() // not reached: the reader sends a last block
}

const (
	scanMaxRecord = 262144             // the largest snap length the scan takes
	scanHeadroom  = 16 + scanMaxRecord // room before a block for a record carried from the one before
	scanBlock     = 4 << 20            // bytes a read asks for
)

// blockReader reads a file a block at a time into one of two buffers,
// while the scan works on the other.
type blockReader struct {
	full chan scanBlockRead
	free chan []byte
	done chan struct{}
}

type scanBlockRead struct {
	buf  []byte // scanHeadroom, then n bytes of the file
	n    int
	last bool // the file's end (or a read error: the scan then gives up on a cut record, or stops)
}

func readBlocks(f *os.File) *blockReader {
	r := &blockReader{full: make(chan scanBlockRead, 1), free: make(chan []byte, 2), done: make(chan struct{})}
	for range 2 {
		r.free <- make([]byte, scanHeadroom+scanBlock)
	}
	go func() {
		defer close(r.full)
		for {
			var buf []byte
			select {
			case buf = <-r.free:
			case <-r.done:
				return
			}
			n, err := io.ReadFull(f, buf[scanHeadroom:])
			select {
			case r.full <- scanBlockRead{buf: buf, n: n, last: err != nil}:
			case <-r.done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return r
}

// stop ends the reading and waits for it: the file may be closed after.
func (r *blockReader) stop() {
	close(r.done)
	for range r.full {
	}
}

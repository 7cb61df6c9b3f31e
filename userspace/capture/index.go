package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"os"
	"sort"
	"syscall"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Index is the sidecar of a closed ring file (FILE.idx): what carving needs
// to skip the file, or to read only the packets it wants.
//
// On disk it is a compact binary record, little endian, integers as
// varints (encoding/binary Uvarint/Varint; times are Unix nanoseconds):
//
//	"XDPIDX1\n"
//	uvarint  size of the capture file when the index was written
//	byte     format: 0 pcap, 1 pcapng
//	byte     1 if timestamps are nanoseconds
//	uvarint  link type
//	uvarint  packets
//	varint   first packet time, varint last packet time
//	uvarint  number of pcapng interfaces, then each: uvarint length, name
//	uvarint  number of flows, then each:
//	         uvarint flow id, byte proto,
//	         src and dst address: byte length (0, 4 or 16) and the bytes,
//	         uvarint src port, uvarint dst port,
//	         varint first time, uvarint last-first,
//	         uvarint bytes of the flow's records in the file,
//	         uvarint packets, then each record's offset as a uvarint
//	         delta from the previous one (the first from 0)
//	uint32   CRC-32 (IEEE) of everything before it
//
// A flow is the sensor's flow (FlowID != 0) or, for packets in no flow,
// the packets of one address and port pair in either direction. Offsets
// point at the record header (pcap) or the enhanced packet block
// (pcapng). An index is about 2 bytes per packet plus ~50 per flow.
type Index struct {
	FileSize    int64 // the capture file's size; a file of another size makes the index stale
	Format      string
	Nanos       bool
	LinkType    layers.LinkType
	Packets     int
	First, Last time.Time
	Interfaces  []string // pcapng interface names by interface id
	Flows       []IndexFlow
}

// IndexFlow is one flow's packets in a ring file. Src and Dst are the
// addresses of the flow's first packet in the file.
type IndexFlow struct {
	FlowID      uint64
	Proto       uint8
	Src, Dst    netip.Addr
	SrcPort     uint16
	DstPort     uint16
	First, Last time.Time
	Bytes       int64   // file bytes of the flow's records
	Offsets     []int64 // record offsets, ascending
}

const indexMagic = "XDPIDX1\n"

// maxIndexSize bounds what ReadIndex reads.
const maxIndexSize = 1 << 30

// IndexPath is where the index of capture file path lives.
func IndexPath(path string) string { return path + ".idx" }

// ErrStaleIndex says an index does not describe its capture file as it
// is now.
var ErrStaleIndex = errors.New("index does not match the capture file")

// ReadIndex reads the index of capture file path and checks it against
// the file's size.
func ReadIndex(path string) (*Index, error) {
	data, err := os.ReadFile(IndexPath(path))
	if err != nil {
		return nil, err
	}
	ix, err := DecodeIndex(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", IndexPath(path), err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() != ix.FileSize {
		return nil, fmt.Errorf("%s: %w (%d bytes, index says %d)", IndexPath(path), ErrStaleIndex, st.Size(), ix.FileSize)
	}
	return ix, nil
}

// WriteIndex writes the index of capture file path atomically (a
// temporary file renamed over FILE.idx).
func WriteIndex(path string, ix *Index) error {
	tmp := IndexPath(path) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o640) // never through a planted symlink
	if err != nil {
		return fmt.Errorf("pcap index: %w", err)
	}
	_, err = f.Write(ix.Encode())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, IndexPath(path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pcap index of %s: %w", path, err)
	}
	return nil
}

// Encode returns the index in its file format.
func (ix *Index) Encode() []byte {
	b := []byte(indexMagic)
	b = binary.AppendUvarint(b, uint64(ix.FileSize))
	var format, nanos byte
	if ix.Format == "pcapng" {
		format = 1
	}
	if ix.Nanos {
		nanos = 1
	}
	b = append(b, format, nanos)
	b = binary.AppendUvarint(b, uint64(ix.LinkType))
	b = binary.AppendUvarint(b, uint64(ix.Packets))
	b = binary.AppendVarint(b, unixNano(ix.First))
	b = binary.AppendVarint(b, unixNano(ix.Last))
	b = binary.AppendUvarint(b, uint64(len(ix.Interfaces)))
	for _, name := range ix.Interfaces {
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
	}
	b = binary.AppendUvarint(b, uint64(len(ix.Flows)))
	for i := range ix.Flows {
		f := &ix.Flows[i]
		b = binary.AppendUvarint(b, f.FlowID)
		b = append(b, f.Proto)
		b = appendAddr(b, f.Src)
		b = appendAddr(b, f.Dst)
		b = binary.AppendUvarint(b, uint64(f.SrcPort))
		b = binary.AppendUvarint(b, uint64(f.DstPort))
		b = binary.AppendVarint(b, unixNano(f.First))
		b = binary.AppendUvarint(b, uint64(unixNano(f.Last)-unixNano(f.First)))
		b = binary.AppendUvarint(b, uint64(f.Bytes))
		b = binary.AppendUvarint(b, uint64(len(f.Offsets)))
		var prev int64
		for _, off := range f.Offsets {
			b = binary.AppendUvarint(b, uint64(off-prev))
			prev = off
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func appendAddr(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(b, 0)
	}
	raw := a.AsSlice()
	b = append(b, byte(len(raw)))
	return append(b, raw...)
}

// indexDecoder reads the index format; the first error sticks.
type indexDecoder struct {
	b   []byte
	err error
}

func (d *indexDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("corrupt index: bad %s", what)
	}
}

func (d *indexDecoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *indexDecoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *indexDecoder) bytes(n uint64, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// count reads a count of items each taking at least min bytes.
func (d *indexDecoder) count(min int, what string) int {
	n := d.uvarint(what)
	if n > uint64(len(d.b)/min) {
		d.fail(what)
		return 0
	}
	return int(n)
}

func (d *indexDecoder) addr(what string) netip.Addr {
	n := d.bytes(1, what)
	if n == nil {
		return netip.Addr{}
	}
	if n[0] != 0 && n[0] != 4 && n[0] != 16 {
		d.fail(what)
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(d.bytes(uint64(n[0]), what))
	return a
}

// DecodeIndex parses an index, checking its magic and checksum.
func DecodeIndex(data []byte) (*Index, error) {
	if len(data) > maxIndexSize {
		return nil, errors.New("index too large")
	}
	if len(data) < len(indexMagic)+4 || !bytes.HasPrefix(data, []byte(indexMagic)) {
		return nil, errors.New("not an xdpsensor pcap index")
	}
	body := data[:len(data)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return nil, errors.New("corrupt index: checksum mismatch")
	}
	d := &indexDecoder{b: body[len(indexMagic):]}
	ix := &Index{FileSize: int64(d.uvarint("file size"))}
	fb := d.bytes(2, "format")
	if fb != nil {
		ix.Format, ix.Nanos = "pcap", fb[1] == 1
		if fb[0] == 1 {
			ix.Format = "pcapng"
		}
	}
	ix.LinkType = layers.LinkType(d.uvarint("link type"))
	ix.Packets = int(d.uvarint("packet count"))
	ix.First = fromUnixNano(d.varint("first time"))
	ix.Last = fromUnixNano(d.varint("last time"))
	nIf := d.count(1, "interface count")
	for i := 0; i < nIf; i++ {
		ix.Interfaces = append(ix.Interfaces, string(d.bytes(d.uvarint("interface name"), "interface name")))
	}
	nFlows := d.count(10, "flow count")
	ix.Flows = make([]IndexFlow, 0, nFlows)
	total := 0
	for i := 0; i < nFlows && d.err == nil; i++ {
		f := IndexFlow{FlowID: d.uvarint("flow id")}
		if p := d.bytes(1, "proto"); p != nil {
			f.Proto = p[0]
		}
		f.Src = d.addr("address")
		f.Dst = d.addr("address")
		f.SrcPort = uint16(d.uvarint("port"))
		f.DstPort = uint16(d.uvarint("port"))
		first := d.varint("flow time")
		f.First = fromUnixNano(first)
		f.Last = fromUnixNano(first + int64(d.uvarint("flow time")))
		f.Bytes = int64(d.uvarint("flow bytes"))
		n := d.count(1, "offset count")
		f.Offsets = make([]int64, n)
		var off int64
		for j := range f.Offsets {
			off += int64(d.uvarint("offset"))
			if off >= ix.FileSize {
				d.fail("offset")
			}
			f.Offsets[j] = off
		}
		total += n
		ix.Flows = append(ix.Flows, f)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("length")
	}
	if d.err == nil && total != ix.Packets {
		d.err = fmt.Errorf("corrupt index: %d packets in flows, %d in the header", total, ix.Packets)
	}
	if d.err != nil {
		return nil, d.err
	}
	return ix, nil
}

// flowKey groups a file's packets into index flows: by flow id, or for
// packets in no flow by protocol, addresses and ports in either direction.
type flowKey struct {
	id         uint64
	proto      uint8
	a, b       netip.Addr
	aPort      uint16
	bPort      uint16
	notInAFlow bool
}

func keyOf(rec *Record) flowKey {
	if rec.FlowID != 0 {
		return flowKey{id: rec.FlowID}
	}
	k := flowKey{proto: rec.Proto, a: rec.Src.Unmap(), b: rec.Dst.Unmap(), aPort: rec.SrcPort, bPort: rec.DstPort, notInAFlow: true}
	if c := k.a.Compare(k.b); c > 0 || c == 0 && k.aPort > k.bPort {
		k.a, k.b, k.aPort, k.bPort = k.b, k.a, k.bPort, k.aPort
	}
	return k
}

// indexBuilder collects the open file's index.
type indexBuilder struct {
	flows       map[flowKey]*IndexFlow
	order       []*IndexFlow
	packets     int
	first, last time.Time
}

func newIndexBuilder() *indexBuilder {
	return &indexBuilder{flows: map[flowKey]*IndexFlow{}}
}

func (b *indexBuilder) add(rec *Record, ts time.Time, off, size int64) *IndexFlow {
	k := keyOf(rec)
	f := b.flows[k]
	if f == nil {
		f = &IndexFlow{FlowID: rec.FlowID, Proto: rec.Proto, Src: rec.Src.Unmap(), Dst: rec.Dst.Unmap(),
			SrcPort: rec.SrcPort, DstPort: rec.DstPort, First: ts, Last: ts}
		b.flows[k] = f
		b.order = append(b.order, f)
	}
	if ts.Before(f.First) {
		f.First = ts
	}
	if ts.After(f.Last) {
		f.Last = ts
	}
	f.Offsets = append(f.Offsets, off)
	f.Bytes += size
	b.packets++
	if b.first.IsZero() || ts.Before(b.first) {
		b.first = ts
	}
	if ts.After(b.last) {
		b.last = ts
	}
	return f
}

// removeLast forgets flow f's last packet (rolled back after a failed
// write). Times keep their range: a wider range only costs a lookup.
func (b *indexBuilder) removeLast(f *IndexFlow, size int64) {
	f.Offsets = f.Offsets[:len(f.Offsets)-1]
	f.Bytes -= size
	b.packets--
}

func (b *indexBuilder) index(fileSize int64, ng bool, lt layers.LinkType, ifaces []string) *Index {
	ix := &Index{FileSize: fileSize, Format: "pcap", LinkType: lt, Packets: b.packets, First: b.first, Last: b.last}
	if ng {
		ix.Format, ix.Nanos = "pcapng", true
		ix.Interfaces = append([]string(nil), ifaces...)
	}
	for _, f := range b.order {
		if len(f.Offsets) > 0 {
			ix.Flows = append(ix.Flows, *f)
		}
	}
	sort.SliceStable(ix.Flows, func(i, j int) bool { return ix.Flows[i].First.Before(ix.Flows[j].First) })
	return ix
}

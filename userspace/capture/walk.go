package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket/layers"
)

// Magic numbers of capture files, as a little-endian read of their first
// four bytes sees them.
const (
	magicPcapMicro   = 0xa1b2c3d4
	magicPcapNano    = 0xa1b23c4d
	magicPcapMicroBE = 0xd4c3b2a1
	magicPcapNanoBE  = 0x4d3cb2a1
	magicPcapng      = 0x0a0d0d0a
	ngByteOrderMagic = 0x1a2b3c4d
	ngBlockEPB       = 6
	pcapHeaderLen    = 24
)

// errShortFile says a file is too short to hold a capture header: empty,
// or still being created.
var errShortFile = errors.New("not a capture file (too short)")

// fileHeader is what the start of a pcap or pcapng file says.
type fileHeader struct {
	ng       bool
	order    binary.ByteOrder
	nanos    bool
	linkType layers.LinkType // pcap only
	snaplen  uint32          // pcap only
}

// readFileHeader reads the file header of a pcap or the byte order of a
// pcapng's first section.
func readFileHeader(r io.ReaderAt) (fileHeader, error) {
	var b [pcapHeaderLen]byte
	n, err := r.ReadAt(b[:], 0)
	if n < 12 {
		if err == nil || errors.Is(err, io.EOF) {
			err = errShortFile
		}
		return fileHeader{}, err
	}
	var h fileHeader
	switch binary.LittleEndian.Uint32(b[:4]) {
	case magicPcapng:
		h.ng, h.nanos = true, true
		switch {
		case binary.LittleEndian.Uint32(b[8:12]) == ngByteOrderMagic:
			h.order = binary.LittleEndian
		case binary.BigEndian.Uint32(b[8:12]) == ngByteOrderMagic:
			h.order = binary.BigEndian
		default:
			return h, errors.New("pcapng section header with a bad byte-order magic")
		}
		return h, nil
	case magicPcapMicro:
		h.order = binary.LittleEndian
	case magicPcapNano:
		h.order, h.nanos = binary.LittleEndian, true
	case magicPcapMicroBE:
		h.order = binary.BigEndian
	case magicPcapNanoBE:
		h.order, h.nanos = binary.BigEndian, true
	default:
		return h, fmt.Errorf("not a pcap or pcapng file (magic %#08x)", binary.LittleEndian.Uint32(b[:4]))
	}
	if n < pcapHeaderLen {
		return h, errShortFile
	}
	h.snaplen = h.order.Uint32(b[16:20])
	h.linkType = layers.LinkType(h.order.Uint32(b[20:24]) & 0xffff)
	return h, nil
}

// maxRecord is the largest record a crash may leave half written: a
// frame of DefaultSnaplen bytes and its headers.
const maxRecord = DefaultSnaplen + 64

// lastCompleteRecord walks the records of a capture file and returns the
// offset just past the last complete one, and whether the file ends there.
// A file that ends in a partial record longer than any record could be is
// reported complete: that is damage, not a crash, and is not cut.
func lastCompleteRecord(path string) (end int64, complete bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, false, err
	}
	size := st.Size()
	h, err := readFileHeader(f)
	if err != nil {
		return 0, false, err
	}
	br := bufio.NewReaderSize(f, 1<<16)
	var hdr [16]byte
	off := int64(0)
	if !h.ng {
		off = pcapHeaderLen
		if _, err := br.Discard(pcapHeaderLen); err != nil {
			return 0, false, err
		}
	}
	hl := int64(16)
	if h.ng {
		hl = 12 // type, length and the trailing length of the smallest block
	}
	for off < size {
		if size-off < hl {
			break
		}
		if _, err := io.ReadFull(br, hdr[:hl]); err != nil {
			return 0, false, err
		}
		var n int64
		if h.ng {
			if binary.LittleEndian.Uint32(hdr[:4]) == magicPcapng {
				if m := binary.BigEndian.Uint32(hdr[8:12]); m == ngByteOrderMagic {
					h.order = binary.BigEndian
				} else {
					h.order = binary.LittleEndian
				}
			}
			n = int64(h.order.Uint32(hdr[4:8]))
			if n < 12 || n%4 != 0 {
				return off, true, nil // damaged, not cut short
			}
		} else {
			n = 16 + int64(h.order.Uint32(hdr[8:12]))
		}
		if off+n > size {
			break
		}
		if _, err := br.Discard(int(n - hl)); err != nil {
			return 0, false, err
		}
		off += n
	}
	if off == size {
		return off, true, nil
	}
	return off, size-off > maxRecord, nil
}

// windowReader reads records at offsets through a window of the file, so
// that nearby records cost one read.
type windowReader struct {
	r   io.ReaderAt
	buf []byte
	off int64 // file offset of buf[0]
	n   int   // valid bytes in buf
}

const windowSize = 256 << 10

// at returns n bytes at file offset off, valid until the next call.
func (w *windowReader) at(off int64, n int) ([]byte, error) {
	if w.buf != nil && off >= w.off && off+int64(n) <= w.off+int64(w.n) {
		return w.buf[off-w.off : off-w.off+int64(n)], nil
	}
	size := max(n, windowSize)
	if cap(w.buf) < size {
		w.buf = make([]byte, size)
	}
	w.buf = w.buf[:size]
	m, err := w.r.ReadAt(w.buf, off)
	w.off, w.n = off, m
	if m < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return w.buf[:n], nil
}

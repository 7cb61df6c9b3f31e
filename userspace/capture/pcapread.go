package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// maxRecordLen is libpcap's MAXIMUM_SNAPLEN: a record header claiming more
// captured bytes (and more than the file's snaplen) is corrupt.
const maxRecordLen = 262144

// pcapReader reads classic pcap files (any 2.x version, micro- or
// nanosecond, either byte order), checking each record header.
type pcapReader struct {
	r        io.Reader
	br       *bufio.Reader // r when it is one: records are read in place
	order    binary.ByteOrder
	nanos    bool
	snaplen  uint32
	linkType layers.LinkType
	hdr      [16]byte
	buf      []byte
	note     func(string)
}

func newPcapReader(r io.Reader) (*pcapReader, error) {
	var h [24]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, errors.New("shorter than a pcap file header")
	}
	p := &pcapReader{r: r}
	p.br, _ = r.(*bufio.Reader)
	switch magic := binary.LittleEndian.Uint32(h[:4]); magic {
	case 0xa1b2c3d4:
		p.order = binary.LittleEndian
	case 0xa1b23c4d:
		p.order, p.nanos = binary.LittleEndian, true
	case 0xd4c3b2a1:
		p.order = binary.BigEndian
	case 0x4d3cb2a1:
		p.order, p.nanos = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("unknown magic number %#08x", magic)
	}
	// Versions 2.0 to 2.4 share this layout (libpcap reads them all).
	if major := p.order.Uint16(h[4:6]); major != 2 {
		return nil, fmt.Errorf("pcap version %d.%d is not supported (want 2.x)", major, p.order.Uint16(h[6:8]))
	}
	p.snaplen = p.order.Uint32(h[16:20])
	// The upper bits of the link type field carry FCS length and flags.
	p.linkType = layers.LinkType(p.order.Uint32(h[20:24]) & 0xffff)
	return p, nil
}

// read returns the next record; io.ErrUnexpectedEOF when the file ends in
// the middle of one, an error naming the field of a corrupt header.
func (p *pcapReader) read() ([]byte, gopacket.CaptureInfo, error) {
	var hdr []byte
	if p.br != nil {
		// In place: copying each record out of the buffer took a fifth
		// of a replay's reading.
		h, err := p.br.Peek(len(p.hdr))
		if len(h) == 0 && errors.Is(err, io.EOF) {
			return nil, gopacket.CaptureInfo{}, io.EOF
		}
		if err != nil {
			p.br.Discard(len(h)) // as a read would have: the file ends inside a header
			return nil, gopacket.CaptureInfo{}, io.ErrUnexpectedEOF
		}
		hdr = h
	} else {
		n, err := io.ReadFull(p.r, p.hdr[:])
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, gopacket.CaptureInfo{}, io.EOF
		}
		if err != nil {
			return nil, gopacket.CaptureInfo{}, io.ErrUnexpectedEOF
		}
		hdr = p.hdr[:]
	}
	sec := p.order.Uint32(hdr[0:4])
	frac := p.order.Uint32(hdr[4:8])
	caplen := p.order.Uint32(hdr[8:12])
	origlen := p.order.Uint32(hdr[12:16])
	if caplen > maxRecordLen && caplen > p.snaplen {
		if p.br != nil {
			p.br.Discard(len(p.hdr)) // as a read would have
		}
		return nil, gopacket.CaptureInfo{}, fmt.Errorf("corrupt record header: captured length %d is more than the snaplen %d", caplen, p.snaplen)
	}
	unit, limit := time.Microsecond, uint32(1_000_000)
	if p.nanos {
		unit, limit = time.Nanosecond, 1_000_000_000
	}
	if frac >= limit {
		field := "ts_usec"
		if p.nanos {
			field = "ts_nsec"
		}
		p.note(fmt.Sprintf("timestamp field %s %d is out of range (at most %d): read as %d s more", field, frac, limit-1, frac/limit))
	}
	var data []byte
	if whole := len(p.hdr) + int(caplen); p.br != nil && whole <= p.br.Size() {
		rec, err := p.br.Peek(whole)
		if err != nil {
			p.br.Discard(len(rec)) // the file ends inside this record
			return nil, gopacket.CaptureInfo{}, io.ErrUnexpectedEOF
		}
		data = rec[len(p.hdr):]
		p.br.Discard(whole) // data stays where it is until the next read
	} else {
		if p.br != nil {
			p.br.Discard(len(p.hdr)) // the header was only looked at
		}
		if cap(p.buf) < int(caplen) {
			p.buf = make([]byte, caplen)
		}
		data = p.buf[:caplen]
		if _, err := io.ReadFull(p.r, data); err != nil {
			return nil, gopacket.CaptureInfo{}, io.ErrUnexpectedEOF
		}
	}
	ci := gopacket.CaptureInfo{
		Timestamp:     time.Unix(int64(sec), 0).Add(time.Duration(frac) * unit).UTC(),
		CaptureLength: int(caplen),
		// Versions before 2.3 may have the two lengths swapped; the frame
		// was at least as long as what was captured of it.
		Length: int(max(origlen, caplen)),
	}
	return data, ci, nil
}

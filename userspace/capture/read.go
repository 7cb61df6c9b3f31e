// Package capture reads and writes packet captures (pcap and pcapng)
// through gopacket's pcapgo.
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

// Packet is one captured frame, presented as Ethernet.
type Packet struct {
	Data []byte // valid until the next call to Next
	Time time.Time
	// OrigLen is the length on the wire, of the frame as Data presents
	// it: with the Ethernet header put on a raw IP, Linux cooked or
	// loopback capture's frame.
	OrigLen int
	Index   int // 1-based position in the file
}

// Reader reads pcap or pcapng files of any link type the sensor can parse.
//
// pcapng goes through gopacket's pcapgo (mixed link types allowed: each
// interface keeps its own). Classic pcap is read here: pcapgo refuses
// version 2.0-2.3 files that libpcap and tshark read, carries an
// out-of-range microsecond field silently into the next second, and
// says nothing of which record was cut or corrupt.
type Reader struct {
	path  string
	f     *os.File
	next  func() ([]byte, gopacket.CaptureInfo, error)
	link  func(ci gopacket.CaptureInfo) layers.LinkType
	buf   []byte
	index int
	// truncated is set when the file ended in the middle of a packet.
	truncated bool
	// cut says why reading stopped before the end of the file, "" if it
	// did not.
	cut string
	// notes are what was odd about records that were still read.
	notes      []string
	notesTotal int
}

// maxNotes bounds the notes a Reader keeps (Notes counts the rest).
const maxNotes = 5

// ErrRecordSkipped is wrapped by Next's error for a record that cannot
// be presented as Ethernet (a link type xdpsensor does not read, such as
// a pcapng's RadioTap interface, or a link-layer header cut short). The
// file itself is sound: the Reader has moved past the record, and the
// next call reads the one after it.
var ErrRecordSkipped = errors.New("record skipped")

// Open opens a capture, telling pcap from pcapng by its magic number.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	magic, err := br.Peek(4)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: not a capture file (too short)", path)
	}
	r := &Reader{path: path, f: f}
	if binary.LittleEndian.Uint32(magic) == 0x0a0d0d0a {
		opts := pcapgo.DefaultNgReaderOptions
		opts.WantMixedLinkType = true // every interface's packets, each with its link type
		ng, err := pcapgo.NewNgReader(br, opts)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: reading pcapng: %w", path, err)
		}
		r.next = ng.ReadPacketData
		r.link = func(ci gopacket.CaptureInfo) layers.LinkType {
			if iface, err := ng.Interface(ci.InterfaceIndex); err == nil {
				return iface.LinkType
			}
			return ng.LinkType()
		}
	} else {
		pr, err := newPcapReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: not a pcap or pcapng file: %w", path, err)
		}
		pr.note = r.note
		r.next = pr.read
		lt := pr.linkType
		r.link = func(gopacket.CaptureInfo) layers.LinkType { return lt }
	}
	return r, nil
}

func (r *Reader) note(s string) {
	r.notesTotal++
	if len(r.notes) < maxNotes {
		r.notes = append(r.notes, fmt.Sprintf("%s: record %d: %s", r.path, r.index+1, s))
	}
}

// Next returns the next packet, io.EOF at the end. Packets of link types
// without Ethernet get a synthetic Ethernet header; a record that cannot
// get one returns an error wrapping ErrRecordSkipped, naming the file and
// record, and reading goes on with the next call. A file that ends in
// the middle of a packet (one being written, or left by a crash), or
// whose next record header is corrupt, ends after its last good packet;
// Truncated and Cut then say so.
func (r *Reader) Next() (Packet, error) {
	data, ci, err := r.next()
	if errors.Is(err, io.ErrUnexpectedEOF) {
		r.truncated = true
		r.cut = fmt.Sprintf("%s: cut in record %d (the file ends after %d whole records)", r.path, r.index+1, r.index)
		return Packet{}, io.EOF
	}
	if errors.Is(err, io.EOF) {
		return Packet{}, io.EOF
	}
	if err != nil {
		r.cut = fmt.Sprintf("%s: record %d: %v: the rest of the file was not read", r.path, r.index+1, err)
		return Packet{}, io.EOF
	}
	r.index++
	p := Packet{Time: ci.Timestamp, OrigLen: max(ci.Length, len(data)), Index: r.index}
	lt := r.link(ci)
	var synthetic bool
	p.Data, synthetic, err = r.toEthernet(lt, data)
	if err != nil {
		return Packet{}, fmt.Errorf("%s: record %d: %w: %w", r.path, r.index, err, ErrRecordSkipped)
	}
	if synthetic {
		p.OrigLen += len(p.Data) - len(data)
	}
	return p, nil
}

// Cut says why the file was not read to its end ("file: record N: ..."),
// "" when it was.
func (r *Reader) Cut() string { return r.cut }

// Notes are the first few oddities of records that were read anyway
// (timestamps out of range), "file: record N: ...", and how many there
// were in all.
func (r *Reader) Notes() ([]string, int) { return r.notes, r.notesTotal }

var ethHeader = [12]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1}

// toEthernet rewrites a frame of another link type as Ethernet.
func (r *Reader) toEthernet(lt layers.LinkType, data []byte) ([]byte, bool, error) {
	var ethertype uint16
	var l3 []byte
	switch lt {
	case layers.LinkTypeEthernet:
		return data, false, nil
	case layers.LinkTypeRaw, layers.LinkType(12), layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		if len(data) == 0 {
			return data, false, nil
		}
		l3 = data
		ethertype = 0x0800
		if data[0]>>4 == 6 {
			ethertype = 0x86dd
		}
	case layers.LinkTypeLinuxSLL:
		if len(data) < 16 {
			return nil, false, errors.New("truncated Linux cooked header")
		}
		ethertype = binary.BigEndian.Uint16(data[14:16])
		l3 = data[16:]
	case layers.LinkType(276): // LINUX_SLL2
		if len(data) < 20 {
			return nil, false, errors.New("truncated Linux cooked v2 header")
		}
		ethertype = binary.BigEndian.Uint16(data[0:2])
		l3 = data[20:]
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(data) < 4 {
			return nil, false, errors.New("truncated loopback header")
		}
		fam := binary.NativeEndian.Uint32(data[:4])
		if lt == layers.LinkTypeLoop {
			fam = binary.BigEndian.Uint32(data[:4])
		}
		ethertype = 0x0800
		if fam == 10 || fam == 24 || fam == 28 || fam == 30 {
			ethertype = 0x86dd
		}
		l3 = data[4:]
	default:
		return nil, false, fmt.Errorf("link type %s (%d) is not supported: xdpsensor reads Ethernet, raw IP, Linux cooked and loopback captures", lt, int(lt))
	}
	r.buf = append(r.buf[:0], ethHeader[:]...)
	r.buf = binary.BigEndian.AppendUint16(r.buf, ethertype)
	r.buf = append(r.buf, l3...)
	return r.buf, true, nil
}

// Truncated reports whether Next met the end of the file in the middle of
// a packet, after the last complete one.
func (r *Reader) Truncated() bool { return r.truncated }

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }

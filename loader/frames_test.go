package loader

import (
	"encoding/binary"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"net/netip"
)

// A small frame builder for datapath tests: explicit bytes, so that tests
// can break any field on purpose.

type vlanTag struct {
	tpid uint16
	id   uint16
}

type l4 interface {
	bytes(src, dst netip.Addr, proto uint8) []byte
}

type tcpSeg struct {
	sport, dport uint16
	flags        uint8
	seq, ack     uint32
	win          uint16
	options      []byte
	payload      []byte
	doff         int // 0: computed
}

func (t tcpSeg) bytes(src, dst netip.Addr, _ uint8) []byte {
	hl := 20 + len(t.options)
	b := make([]byte, hl, hl+len(t.payload))
	binary.BigEndian.PutUint16(b[0:], t.sport)
	binary.BigEndian.PutUint16(b[2:], t.dport)
	binary.BigEndian.PutUint32(b[4:], t.seq)
	binary.BigEndian.PutUint32(b[8:], t.ack)
	doff := t.doff
	if doff == 0 {
		doff = hl / 4
	}
	b[12] = uint8(doff) << 4
	b[13] = t.flags
	binary.BigEndian.PutUint16(b[14:], t.win)
	copy(b[20:], t.options)
	return append(b, t.payload...)
}

type udpDgram struct {
	sport, dport uint16
	payload      []byte
}

func (u udpDgram) bytes(_, _ netip.Addr, _ uint8) []byte {
	b := make([]byte, 8, 8+len(u.payload))
	binary.BigEndian.PutUint16(b[0:], u.sport)
	binary.BigEndian.PutUint16(b[2:], u.dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(u.payload)))
	return append(b, u.payload...)
}

type icmpMsg struct {
	typ, code uint8
	rest      [4]byte
	payload   []byte
}

func (i icmpMsg) bytes(_, _ netip.Addr, _ uint8) []byte {
	b := []byte{i.typ, i.code, 0, 0, i.rest[0], i.rest[1], i.rest[2], i.rest[3]}
	return append(b, i.payload...)
}

type rawL4 []byte

func (r rawL4) bytes(_, _ netip.Addr, _ uint8) []byte { return append([]byte(nil), r...) }

// ip4 describes an IPv4 header; zero fields take sane defaults.
type ip4 struct {
	src, dst   string
	proto      uint8
	ttl, tos   uint8
	id         uint16
	df, mf     bool
	fragOffset uint16 // 8-byte units
	options    []byte
	ihl        int // 0: computed
	totLen     int // 0: computed
	version    int // 0: 4
}

type ip6 struct {
	src, dst string
	next     uint8  // first next-header value (0: the L4 protocol)
	ext      []byte // pre-built extension headers, chained by the caller
	proto    uint8
	hopLimit uint8
	plen     int // 0: computed
}

type frameSpec struct {
	vlans     []vlanTag
	ethertype uint16 // 0: from the L3 kind
	v4        *ip4
	v6        *ip6
	l4        l4
	raw       []byte // L3 bytes for odd ethertypes
	trailer   int    // Ethernet padding after the IP datagram
}

var (
	macA = []byte{0x02, 0, 0, 0, 0, 0xa}
	macB = []byte{0x02, 0, 0, 0, 0, 0xb}
)

func (f frameSpec) build() []byte {
	b := append([]byte(nil), macB...)
	b = append(b, macA...)
	et := f.ethertype
	if et == 0 {
		switch {
		case f.v4 != nil:
			et = 0x0800
		case f.v6 != nil:
			et = 0x86dd
		}
	}
	for _, v := range f.vlans {
		b = binary.BigEndian.AppendUint16(b, v.tpid)
		b = binary.BigEndian.AppendUint16(b, v.id)
	}
	b = binary.BigEndian.AppendUint16(b, et)
	switch {
	case f.v4 != nil:
		b = append(b, f.v4.bytes(f.l4)...)
	case f.v6 != nil:
		b = append(b, f.v6.bytes(f.l4)...)
	default:
		b = append(b, f.raw...)
	}
	return append(b, make([]byte, f.trailer)...)
}

func (h *ip4) bytes(seg l4) []byte {
	src, dst := netip.MustParseAddr(h.src), netip.MustParseAddr(h.dst)
	var payload []byte
	if seg != nil {
		payload = seg.bytes(src, dst, h.proto)
	}
	hl := 20 + len(h.options)
	b := make([]byte, hl, hl+len(payload))
	ver := h.version
	if ver == 0 {
		ver = 4
	}
	ihl := h.ihl
	if ihl == 0 {
		ihl = hl / 4
	}
	b[0] = uint8(ver)<<4 | uint8(ihl)
	b[1] = h.tos
	tot := h.totLen
	if tot == 0 {
		tot = hl + len(payload)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(tot))
	binary.BigEndian.PutUint16(b[4:], h.id)
	frag := h.fragOffset
	if h.df {
		frag |= 0x4000
	}
	if h.mf {
		frag |= 0x2000
	}
	binary.BigEndian.PutUint16(b[6:], frag)
	b[8] = h.ttl
	if b[8] == 0 {
		b[8] = 64
	}
	b[9] = h.proto
	copy(b[12:16], src.AsSlice())
	copy(b[16:20], dst.AsSlice())
	copy(b[20:], h.options)
	binary.BigEndian.PutUint16(b[10:], checksum(b[:hl]))
	return append(b, payload...)
}

func (h *ip6) bytes(seg l4) []byte {
	src, dst := netip.MustParseAddr(h.src), netip.MustParseAddr(h.dst)
	var payload []byte
	if seg != nil {
		payload = seg.bytes(src, dst, h.proto)
	}
	b := make([]byte, 40, 40+len(h.ext)+len(payload))
	b[0] = 0x60
	plen := h.plen
	if plen == 0 {
		plen = len(h.ext) + len(payload)
	}
	binary.BigEndian.PutUint16(b[4:], uint16(plen))
	b[6] = h.next
	if len(h.ext) == 0 && h.next == 0 {
		b[6] = h.proto
	}
	b[7] = h.hopLimit
	if b[7] == 0 {
		b[7] = 64
	}
	copy(b[8:24], src.AsSlice())
	copy(b[24:40], dst.AsSlice())
	b = append(b, h.ext...)
	return append(b, payload...)
}

// ext6 builds one IPv6 extension header of n 8-byte units.
func ext6(next uint8, units int) []byte {
	b := make([]byte, units*8)
	b[0] = next
	b[1] = uint8(units - 1)
	return b
}

// frag6 builds an IPv6 fragment header.
func frag6(next uint8, offset uint16, more bool) []byte {
	b := make([]byte, 8)
	b[0] = next
	v := offset << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(b[2:], v)
	binary.BigEndian.PutUint32(b[4:], 0x1234)
	return b
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// tcpConv builds the segments of one TCP connection with the sequence and
// acknowledgment numbers a real stack sends, window open. Side 0 is the
// client.
type tcpConv struct {
	addr [2]string
	port [2]uint16
	seq  [2]uint32
}

func newTCPConv(client, server string, cport, sport uint16) *tcpConv {
	return &tcpConv{addr: [2]string{client, server}, port: [2]uint16{cport, sport}, seq: [2]uint32{1000, 5000}}
}

// seg is the next segment from side from; it advances that side's
// sequence number by the payload and the SYN and FIN octets.
func (c *tcpConv) seg(from int, flags uint8, payload int) []byte {
	to := 1 - from
	s := tcpSeg{sport: c.port[from], dport: c.port[to], flags: flags, seq: c.seq[from], win: 65535, payload: make([]byte, payload)}
	if flags&event.TCPAck != 0 {
		s.ack = c.seq[to]
	}
	c.seq[from] += uint32(payload)
	if flags&event.TCPSyn != 0 {
		c.seq[from]++
	}
	if flags&event.TCPFin != 0 {
		c.seq[from]++
	}
	return frameSpec{v4: &ip4{src: c.addr[from], dst: c.addr[to], proto: 6}, l4: s}.build()
}

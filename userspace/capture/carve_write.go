package capture

import (
	"bufio"
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

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

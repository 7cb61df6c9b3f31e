package console

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/xdpsensor/xdpsensor/userspace/capture"
	"github.com/xdpsensor/xdpsensor/userspace/eve"
)

// Bounds of the packets decoded into a page; the pcap download has them all.
const (
	maxShownPackets = 200
	maxShownBytes   = 4 << 20
)

// timeSlack widens a flow record's start and end when carving, so that a
// packet timestamped a little apart from the flow's clock is not missed;
// the flow id decides which packets are the flow's.
const timeSlack = 5 * time.Second

type flowTuple = capture.FlowTuple

// protoNumbers maps EVE's protocol names back to numbers.
var protoNumbers = func() map[string]uint8 {
	m := make(map[string]uint8, 256)
	for p := 255; p >= 0; p-- {
		m[eve.ProtoName(uint8(p))] = uint8(p)
	}
	return m
}()

// alertTuple is the 5-tuple of an alert's packet: carve finds the flow's
// packets by it in the ring file being written, which has no index yet.
func alertTuple(a *Alert) *flowTuple {
	p, ok := protoNumbers[a.Proto]
	if !ok || !a.Src.IsValid() || !a.Dst.IsValid() {
		return nil
	}
	return &flowTuple{Proto: p, Src: a.Src, Dst: a.Dst, SrcPort: a.SrcPort, DstPort: a.DstPort}
}

func flowRecordTuple(f *Flow) *flowTuple {
	fl := &f.Flow
	return &flowTuple{Proto: fl.Proto, Src: fl.Client.IP, Dst: fl.Server.IP, SrcPort: fl.Client.Port, DstPort: fl.Server.Port}
}

// carve writes the packets of a flow as a pcap, with the capture package's
// carve (what `xdpsensor carve --flow-id` runs).
func (s *Server) carve(w io.Writer, flowID uint64, t *flowTuple, fl *Flow) (int, error) {
	files, err := capture.FindOutputRing(s.cfg.Dir)
	if err != nil {
		return 0, err
	}
	f := capture.Filter{FlowIDs: []uint64{flowID}}
	if t != nil {
		f.FlowHints = map[uint64]capture.FlowTuple{flowID: *t}
	}
	if fl != nil {
		f.From, f.To = fl.Flow.Start.Add(-timeSlack), fl.Flow.End.Add(timeSlack)
	}
	return capture.CarveFiles(files, f, w, "pcap", nil)
}

// errEnough stops a carve once a page has as much as it shows.
var errEnough = errors.New("enough packets for a page")

type boundedBuffer struct {
	bytes.Buffer
	max int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		n, _ := b.Buffer.Write(p[:max(b.max-b.Len(), 0)])
		return n, errEnough
	}
	return b.Buffer.Write(p)
}

// content decodes the packets of a flow (or the lone packet of an alert
// in no flow) for a page.
func (s *Server) content(r *http.Request, flowID uint64, t *flowTuple, fl *Flow, a *Alert, pcapURL string) contentView {
	v := contentView{PcapURL: pcapURL}
	if flowID == 0 {
		if a == nil {
			v.Problem = "no packet"
			return v
		}
		frame := a.Frame()
		if len(frame) == 0 {
			v.Problem = "no packet: the alert is in no flow and its record carries no packet"
			return v
		}
		v.Packets = []Packet{decodePacket(1, a.Time, frame, len(frame))}
		return v
	}
	buf := &boundedBuffer{max: maxShownBytes}
	_, err := s.carve(buf, flowID, t, fl)
	if errors.Is(err, errEnough) {
		v.Truncated = true
	} else if err != nil {
		v.Problem = err.Error()
		return v
	}
	if err := r.Context().Err(); err != nil {
		return v
	}
	pr, err := pcapgo.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		v.Problem = "no packets captured for this flow"
		return v
	}
	for n := 1; ; n++ {
		data, ci, err := pr.ReadPacketData()
		if err != nil {
			break // io.EOF, or the cut end of a bounded carve
		}
		if n > maxShownPackets {
			v.Truncated = true
			break
		}
		if pr.LinkType() != layers.LinkTypeEthernet {
			v.Packets = append(v.Packets, Packet{Number: n, Time: ci.Timestamp, Summary: fmt.Sprintf("link type %s", pr.LinkType()), Hex: hexDump(data)})
			continue
		}
		v.Packets = append(v.Packets, decodePacket(n, ci.Timestamp, data, ci.Length))
	}
	if len(v.Packets) == 0 {
		v.Problem = "no packets of this flow are in the pcap ring (capture was off for it, or its files were rotated away)"
	}
	return v
}

// servePcap sends the packets of a flow as a pcap download: exactly what
// `xdpsensor carve --flow-id` (--alert-id) writes.
func (s *Server) servePcap(w http.ResponseWriter, r *http.Request, name string, flowID uint64, t *flowTuple, fl *Flow, a *Alert) {
	h := w.Header()
	h.Set("Content-Type", "application/vnd.tcpdump.pcap")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	if flowID == 0 {
		// An alert in no flow: its own packet is all there is.
		var frame []byte
		if a != nil {
			frame = a.Frame()
		}
		if len(frame) == 0 {
			http.Error(w, "no packet: the alert is in no flow and its record carries no packet", http.StatusNotFound)
			return
		}
		pw := pcapgo.NewWriter(w)
		_ = pw.WriteFileHeader(capture.DefaultSnaplen, layers.LinkTypeEthernet)
		_ = pw.WritePacket(gopacket.CaptureInfo{Timestamp: a.Time, CaptureLength: len(frame), Length: len(frame)}, frame)
		return
	}
	cw := &committedWriter{w: w}
	n, err := s.carve(cw, flowID, t, fl)
	if err != nil {
		if !cw.wrote {
			h.Del("Content-Disposition")
			h.Set("Content-Type", "text/plain; charset=utf-8")
			http.Error(w, "carving: "+err.Error(), http.StatusInternalServerError)
			return
		}
		s.log.Warn("serving console: carve ended early", "flow_id", flowID, "packets", n, "err", err)
	}
}

// committedWriter notes whether the response body has started.
type committedWriter struct {
	w     io.Writer
	wrote bool
}

func (c *committedWriter) Write(p []byte) (int, error) {
	c.wrote = true
	return c.w.Write(p)
}

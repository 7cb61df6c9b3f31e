package pipeline

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/xdpsensor/xdpsensor/loader"
	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/ringbuf"
	"github.com/xdpsensor/xdpsensor/userspace/capture"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/outfile"
)

// CaptureConfig is full-content capture: what the kernel hands over and the
// pcap ring it goes to (OutDir/pcap).
type CaptureConfig struct {
	Mode      loader.CaptureMode // listed (default), all or none
	Snaplen   uint32             // 0: whole frames
	FlowBytes uint64             // per-flow budget, 0: unlimited
	Files     int                // ring of N files...
	FileSize  int64              // ... of M bytes
	Rotate    time.Duration      // and/or a new file this often
	Format    string             // pcap or pcapng
	RingSize  uint32             // capture ring buffer in bytes
}

// Defaults: tshark's seed workflow was ten 100 MB files.
const (
	DefaultPcapFiles       = 10
	DefaultPcapSize        = 100 << 20
	DefaultCaptureRingSize = 64 << 20
)

func (c *CaptureConfig) enabled() bool { return c.Mode != loader.CaptureNone }

func (c *CaptureConfig) withDefaults() CaptureConfig {
	out := *c
	if out.Mode == "" {
		out.Mode = loader.CaptureListed
	}
	if out.Files == 0 {
		out.Files = DefaultPcapFiles
	}
	if out.FileSize == 0 {
		out.FileSize = DefaultPcapSize
	}
	if out.RingSize == 0 {
		out.RingSize = DefaultCaptureRingSize
	}
	if out.Mode == loader.CaptureNone {
		out.RingSize = 0 // a page: nothing will come
	}
	return out
}

// captureSink drains the capture ring into the pcap ring.
type captureSink struct {
	reader *ringbuf.Reader
	ring   *capture.Ring
	clock  func(uint64) time.Time
	iface  func(uint32) string
	maps   *abi.BpfMaps
	rec    capture.Record
	lost   uint64 // records that could not be read (the ring counts its own)
	// flowBytes is the kernel's per-flow capture budget (0: none), by
	// which an alert knows whether its packet was captured.
	flowBytes uint64
	// written names the pcap file of each listed frame (the ones alerts
	// are about) whose alert has not been read yet: an alert's frame
	// reaches the capture ring just after the alert reaches the event
	// ring, and is looked up by the kernel time and flow key the two
	// records share. Most listed frames raise no alert (one per flow
	// direction): those are forgotten after frameKeep.
	written map[frameID]writtenFrame
	newest  uint64    // kernel time of the newest frame written
	pruned  time.Time // wall time written was last pruned
}

// frameKeep is how long, in packet time, a frame waits for its alert: the
// alert is in the event ring before the frame is in the capture ring,
// but the drain may be behind on the event ring by as much as it holds
// (16 MiB of alerts is under two seconds of an alert storm).
const frameKeep = 5 * time.Second

// frameID names a frame by what its alert and its capture record share:
// the kernel's packet time, the flow key and the direction, hashed
// (FNV-1a): one round's frames collide with odds of about n²/2⁶⁵.
type frameID uint64

func newFrameID(tsNs uint64, key *abi.BpfFlowKey, direction uint8) frameID {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	mix := func(b byte) { h = (h ^ uint64(b)) * prime }
	for i := 0; i < 8; i++ {
		mix(byte(tsNs >> (8 * i)))
	}
	for _, b := range key.AddrLo {
		mix(b)
	}
	for _, b := range key.AddrHi {
		mix(b)
	}
	for _, v := range []uint32{uint32(key.PortLo), uint32(key.PortHi), key.Zone, uint32(key.Proto), uint32(key.Family), uint32(direction & 1)} {
		for i := 0; i < 4; i++ {
			mix(byte(v >> (8 * i)))
		}
	}
	return frameID(h)
}

// writtenFrame is where a frame went: its place in a file (no Path when
// the ring could not write it; capture.Ring.Stored says whether it is
// still there), the wall time it was stamped with and its kernel time.
type writtenFrame struct {
	frame capture.Frame
	time  time.Time
	tsNs  uint64
}

func openCapture(cfg CaptureConfig, outDir string, s *loader.Sensor) (*captureSink, error) {
	dir := filepath.Join(outDir, "pcap")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	d, err := outfile.OpenDir(dir) // no other user may plant files there
	if err != nil {
		return nil, err
	}
	d.Close()
	rd, err := ringbuf.NewReader(s.Objects.Capture)
	if err != nil {
		return nil, err
	}
	snap := cfg.Snaplen
	if snap == 0 {
		snap = loader.MaxSnaplen
	}
	ring, err := capture.OpenRing(capture.RingOptions{Dir: dir, Files: cfg.Files, FileSize: cfg.FileSize,
		Rotate: cfg.Rotate, Format: cfg.Format, Snaplen: snap})
	if err != nil {
		rd.Close()
		return nil, fmt.Errorf("opening the pcap ring: %w", err)
	}
	return &captureSink{reader: rd, ring: ring, maps: s.Maps(), flowBytes: cfg.FlowBytes,
		written: map[frameID]writtenFrame{}}, nil
}

// drain writes every frame the capture ring holds.
func (c *captureSink) drain() error {
	err := c.reader.Drain(c.write)
	if errors.Is(err, ringbuf.ErrFlushed) {
		return nil
	}
	return err
}

func (c *captureSink) write(raw []byte) error {
	hdr, frame, err := abi.ParseCaptureRecord(raw)
	if err != nil {
		c.lost++ // counted in pcap_frames_lost; the next record may be fine
		return nil
	}
	k := &hdr.Key
	ends := [2]struct {
		a netip.Addr
		p uint16
	}{{abi.Addr(k.AddrLo, k.Family), k.PortLo}, {abi.Addr(k.AddrHi, k.Family), k.PortHi}}
	src, dst := ends[hdr.Direction&1], ends[1-hdr.Direction&1]
	c.rec = capture.Record{
		Time:      c.clock(hdr.TsNs),
		Data:      frame,
		OrigLen:   int(hdr.FrameLen),
		Interface: c.iface(hdr.Ifindex),
		Proto:     k.Proto,
		Src:       src.a, Dst: dst.a, SrcPort: src.p, DstPort: dst.p,
	}
	if hdr.FlowStartNs != 0 {
		c.rec.FlowID = abi.FlowID(k, hdr.FlowStartNs)
	}
	// The ring counts every frame it could not write (disk full, paused)
	// in Stats().Dropped, published as pcap_frames_lost; alerts go on.
	where, err := c.ring.WriteFrame(&c.rec)
	if hdr.Listed != 0 {
		if err != nil {
			where = capture.Frame{}
		}
		c.written[newFrameID(hdr.TsNs, k, hdr.Direction)] = writtenFrame{frame: where, time: c.rec.Time, tsNs: hdr.TsNs}
		c.newest = max(c.newest, hdr.TsNs)
	}
	return nil
}

// endRound forgets the frames no alert will ask for: in a replay every
// alert of the round has been read (the ring is drained whole), live
// those older than frameKeep (looked for once a second).
func (c *captureSink) endRound(replay bool) {
	if replay {
		clear(c.written)
		return
	}
	if time.Since(c.pruned) < time.Second {
		return
	}
	c.pruned = time.Now()
	for id, f := range c.written {
		if f.tsNs+uint64(frameKeep) < c.newest {
			delete(c.written, id)
		}
	}
}

// takeFrame finds where the frame id went, and forgets it: one alert a
// packet.
func (c *captureSink) takeFrame(id frameID) (writtenFrame, bool) {
	f, ok := c.written[id]
	if ok {
		delete(c.written, id)
	}
	return f, ok
}

// captured says whether the kernel hands an alert's packet to the
// capture ring: every listed packet is (alerts are only raised on
// listed ones, and capture is on), until its flow passes the per-flow
// budget, which counts the flow's frame bytes, this packet's included.
func (c *captureSink) captured(a *event.Alert) bool {
	if c.flowBytes == 0 || a.FlowID == 0 {
		return true
	}
	return a.Flow.BytesToServer+a.Flow.BytesToClient <= c.flowBytes
}

// flush pushes the ring's buffer out and records the kernel's drops.
func (c *captureSink) flush() error {
	if st, err := c.maps.ReadStats(); err == nil {
		c.ring.SetDrops(st.CaptureLost)
	}
	return c.ring.Flush()
}

func (c *captureSink) close() error {
	c.reader.Close()
	return c.ring.Close()
}

// startCapture opens the pcap ring (configure set the kernel's side).
func (p *Pipeline) startCapture(cfg CaptureConfig, outDir string, s *loader.Sensor) error {
	c, err := prepareCapture(cfg, outDir, s)
	if err != nil {
		return err
	}
	p.capture = c
	return nil
}

// prepareCapture opens the pcap ring, nil when capture is off: Live does
// it before attaching. configure set the kernel's side.
func prepareCapture(cfg CaptureConfig, outDir string, s *loader.Sensor) (*captureSink, error) {
	if !cfg.enabled() {
		return nil, nil
	}
	return openCapture(cfg, outDir, s)
}

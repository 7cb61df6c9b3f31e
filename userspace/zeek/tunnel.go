package zeek

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/outfile"
)

// Tunnels: conn.log's tunnel_parents holds the uid of the tunnel a
// connection came through, and tunnel.log lists the tunnels, as Zeek's
// base/frameworks/tunnels/main.zeek logs them: a DISCOVER line when a
// tunnel's first connection is seen, an EXPIRE line once no new
// connection used it for TunnelExpiration (Tunnel::expiration_interval).
// The kernel names one tunnel per connection, the innermost: a connection
// inside nested tunnels has one parent here, where Zeek lists every
// enclosing one. A tunnel's id is its outer addresses, lower first, with
// port 0: the flow record does not keep VXLAN's or Teredo's UDP ports.

// TunnelFields and TunnelTypes are tunnel.log's columns.
var (
	TunnelFields = []string{"ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "tunnel_type", "action"}
	TunnelTypes  = []string{"time", "string", "addr", "port", "addr", "port", "enum", "enum"}
)

// TunnelExpiration is Zeek's Tunnel::expiration_interval.
const TunnelExpiration = time.Hour

// TunnelUID is a tunnel's uid: derived from its kind, outer addresses and
// id, so every connection through it names the same parent on every run.
func TunnelUID(t *event.Tunnel) string {
	h := sha256.New()
	h.Write([]byte(t.Kind))
	h.Write(t.Src.IP.AsSlice())
	h.Write(t.Dst.IP.AsSlice())
	var id [4]byte
	binary.BigEndian.PutUint32(id[:], t.ID)
	h.Write(id[:])
	sum := h.Sum(nil)
	return UID(binary.BigEndian.Uint64(sum[:8]))
}

// TunnelType is Zeek's Tunnel::Type of a kind: ERSPAN rides on GRE, IP in
// IP is Tunnel::IP.
func TunnelType(k event.TunnelKind) string {
	switch k {
	case event.TunnelGRE, event.TunnelERSPANI, event.TunnelERSPANII, event.TunnelERSPANIII:
		return "Tunnel::GRE"
	case event.TunnelVXLAN:
		return "Tunnel::VXLAN"
	case event.TunnelGeneve:
		return "Tunnel::GENEVE"
	case event.TunnelTeredo:
		return "Tunnel::TEREDO"
	}
	return "Tunnel::IP"
}

// TunnelWriter writes tunnel.log from flow records. The file is created
// with the first tunnel, as Zeek creates a log on its first line. It
// implements event.Sink and is meant for one goroutine.
type TunnelWriter struct {
	logFile
	active map[string]*activeTunnel
}

type activeTunnel struct {
	t    event.Tunnel
	last time.Time // the start of its latest connection
}

var _ event.Sink = (*TunnelWriter)(nil)

// OpenTunnels returns a TunnelWriter for the file at path (DIR/tunnel.log).
func OpenTunnels(path string, opts Options) *TunnelWriter {
	return &TunnelWriter{
		logFile: logFile{path: "tunnel", fields: TunnelFields, types: TunnelTypes, opts: opts,
			// Created mid-run: a file that cannot be created is a
			// counted loss of this output, retried, not an error that
			// would stop every output.
			create: func() (*outfile.Writer, error) { return outfile.OpenRetrying(path), nil }},
		active: map[string]*activeTunnel{},
	}
}

// WriteAlert does nothing: tunnel.log holds tunnels only.
func (w *TunnelWriter) WriteAlert(*event.Alert) error {
	if w.closed {
		return outfile.ErrClosed
	}
	return nil
}

// WriteFlow logs the flow's tunnel when it is new, after expiring the
// tunnels no connection started in for TunnelExpiration before this one.
func (w *TunnelWriter) WriteFlow(f *event.Flow) error {
	if w.closed {
		return outfile.ErrClosed
	}
	if f.Tunnel == nil {
		return nil
	}
	var b []byte
	var expired []string
	for uid, a := range w.active {
		if f.Start.Sub(a.last) > TunnelExpiration {
			expired = append(expired, uid)
		}
	}
	slices.SortFunc(expired, func(x, y string) int { return w.active[x].last.Compare(w.active[y].last) })
	for _, uid := range expired {
		a := w.active[uid]
		b = appendTunnelLine(b, a.last.Add(TunnelExpiration), uid, &a.t, "Tunnel::EXPIRE", w.opts.JSON)
		delete(w.active, uid)
	}
	uid := TunnelUID(f.Tunnel)
	if a, ok := w.active[uid]; ok {
		if f.Start.After(a.last) {
			a.last = f.Start
		}
	} else {
		w.active[uid] = &activeTunnel{t: *f.Tunnel, last: f.Start}
		b = appendTunnelLine(b, f.Start, uid, f.Tunnel, "Tunnel::DISCOVER", w.opts.JSON)
	}
	if len(b) == 0 {
		return nil
	}
	return w.write(b)
}

// appendTunnelLine appends one tunnel.log line, with its newline.
func appendTunnelLine(b []byte, ts time.Time, uid string, t *event.Tunnel, action string, json bool) []byte {
	r := NewRecord(b, json)
	r.Time("ts", ts)
	r.String("uid", uid)
	r.Addr("id.orig_h", t.Src.IP)
	r.Port("id.orig_p", t.Src.Port)
	r.Addr("id.resp_h", t.Dst.IP)
	r.Port("id.resp_p", t.Dst.Port)
	r.String("tunnel_type", TunnelType(t.Kind))
	r.String("action", action)
	return append(r.Bytes(), '\n')
}

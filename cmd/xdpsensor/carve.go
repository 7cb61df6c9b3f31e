package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/xdpsensor/xdpsensor/userspace/capture"
	"github.com/xdpsensor/xdpsensor/userspace/eve"
)

// defaultLogDir is where the sensor writes eve.json and its pcap ring.
const defaultLogDir = "/var/log/xdpsensor"

func newCarveCommand(g *globalFlags) *cobra.Command {
	var (
		dir, alertID, host, proto, from, to, out, format string
		flowIDs                                          []string
		port                                             uint16
	)
	cmd := &cobra.Command{
		Use:   "carve [--dir DIR] [--flow-id ID]... [--alert-id ID] [--host ADDR] [--port P] [--proto tcp|udp|icmp] [--from T] [--to T] -w FILE|-",
		Short: "Cut the packets of flows, an alert, a host, a port or a time span out of the pcap ring into one capture",
		Long: `carve copies matching packets from every pcap ring file (PREFIX_NNNNN_YYYYMMDDhhmmss.pcap
or .pcapng) in DIR and DIR/pcap into one capture, in time order, with the original
timestamps and bytes. Files whose index rules them out are not read.

  xdpsensor carve --host 161.53.178.240 -w - | tcpdump -nr -
  xdpsensor carve --alert-id 42 -w alert42.pcap

Times are RFC 3339 (2007-02-21T10:17:54Z), EVE timestamps as eve.json has
them (2007-02-21T10:17:54.366236+0000), "2007-02-21 10:17:54" (UTC, like the
ring's file names) or Unix seconds; a --to takes in all its last digit
covers (the whole second, the whole microsecond of an EVE timestamp), so
--from T --to T with an alert's timestamp carves its packet. --alert-id
looks the alert up in DIR/eve.json ("xdpsensor_alert_id") and carves its
flow (an alert outside any flow: its packet).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var f capture.Filter
			var err error
			if out == "" {
				return errors.New("-w FILE (or -w - for standard output) is required")
			}
			if format == "" {
				format = "pcap"
				if strings.HasSuffix(out, ".pcapng") {
					format = "pcapng"
				}
			}
			if format != "pcap" && format != "pcapng" {
				return fmt.Errorf("--format %q: want pcap or pcapng", format)
			}
			for _, s := range flowIDs {
				for _, part := range strings.Split(s, ",") {
					id, err := strconv.ParseUint(strings.TrimSpace(part), 10, 64)
					if err != nil || id == 0 {
						return fmt.Errorf("--flow-id %q: want a flow_id from eve.json (a positive integer)", part)
					}
					f.FlowIDs = append(f.FlowIDs, id)
				}
			}
			if host != "" {
				if f.Host, err = netip.ParseAddr(host); err != nil {
					return fmt.Errorf("--host %q: not an IP address", host)
				}
			}
			f.Port = port
			if proto != "" {
				if f.Proto, err = parseProto(proto); err != nil {
					return err
				}
			}
			if from != "" {
				if f.From, _, err = parseWhen(from); err != nil {
					return fmt.Errorf("--from %w", err)
				}
			}
			if to != "" {
				var unit time.Duration
				if f.To, unit, err = parseWhen(to); err != nil {
					return fmt.Errorf("--to %w", err)
				}
				// A --to takes in all its last digit covers: the whole
				// second, or the whole microsecond of an EVE timestamp
				// (a pcapng record keeps the nanoseconds EVE cuts off).
				f.To = f.To.Add(unit - 1)
			}
			if !f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To) {
				return fmt.Errorf("--from %s is after --to %s", from, to)
			}
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return fmt.Errorf("--dir %s: not a directory", dir)
			}
			files, err := findRing(dir)
			if err != nil {
				return err
			}
			evePath := filepath.Join(dir, "eve.json")
			if alertID != "" {
				fl, err := findAlert(evePath, alertID)
				if err != nil {
					return err
				}
				if fl.id == 0 {
					// A packet in no flow (a later fragment): the
					// packet itself, by its source, protocol and time.
					if !f.From.IsZero() || !f.To.IsZero() || f.Host.IsValid() {
						return fmt.Errorf("--alert-id %s: the alert is a packet in no flow; carve it alone, without --host or --from/--to", alertID)
					}
					f.Host, f.Proto = fl.tuple.Src, fl.tuple.Proto
					f.From, f.To = fl.time, fl.time.Add(time.Microsecond-1)
				} else {
					f.FlowIDs = append(f.FlowIDs, fl.id)
					f.FlowHints = map[uint64]capture.FlowTuple{fl.id: fl.tuple}
				}
			}
			if len(f.FlowIDs) > 0 {
				// The file being written has no index: the flows' 5-tuples
				// from eve.json find their packets there.
				hints, err := flowHints(evePath, f.FlowIDs)
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
				for id, t := range hints {
					if f.FlowHints == nil {
						f.FlowHints = map[uint64]capture.FlowTuple{}
					}
					if _, ok := f.FlowHints[id]; !ok {
						f.FlowHints[id] = t
					}
				}
			}

			var w io.Writer
			var outFile *os.File
			msg := cmd.OutOrStdout()
			if out == "-" {
				w, msg = cmd.OutOrStdout(), cmd.ErrOrStderr()
			} else {
				inputs := []string{evePath}
				for _, rf := range files {
					inputs = append(inputs, rf.Path, capture.IndexPath(rf.Path))
				}
				if err := refuseInput(out, inputs); err != nil {
					return err
				}
				if outFile, err = os.Create(out); err != nil {
					return err
				}
				w = outFile
			}
			bar := newProgress(cmd.ErrOrStderr(), isTerminal(cmd.ErrOrStderr()), time.Now)
			n, err := capture.CarveFiles(files, f, w, format, bar.update)
			bar.finish()
			if outFile != nil {
				if cerr := outFile.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					os.Remove(out)
				}
			}
			if err != nil {
				return err
			}
			name := out
			if out == "-" {
				name = "standard output"
			}
			fmt.Fprintf(msg, "carved %d packets from %d ring files into %s (%s)\n", n, len(files), name, format)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", defaultLogDir, "the sensor's output directory: ring files in DIR or DIR/pcap, alerts in DIR/eve.json")
	fl.StringArrayVar(&flowIDs, "flow-id", nil, "EVE flow_id to carve (repeatable, or comma-separated)")
	fl.StringVar(&alertID, "alert-id", "", "carve the flow of the alert with this xdpsensor_alert_id in DIR/eve.json")
	fl.StringVar(&host, "host", "", "packets from or to this address")
	fl.Uint16Var(&port, "port", 0, "packets from or to this TCP/UDP/SCTP port")
	fl.StringVar(&proto, "proto", "", "IP protocol: tcp, udp, icmp, icmp6, sctp or a number")
	fl.StringVar(&from, "from", "", "packets at or after this time")
	fl.StringVar(&to, "to", "", "packets at or before this time")
	fl.StringVarP(&out, "write", "w", "", "output capture file, - for standard output")
	fl.StringVar(&format, "format", "", "output format: pcap or pcapng (default: pcapng for -w *.pcapng, else pcap)")
	return cmd
}

// findRing lists the ring files in dir and dir/pcap.
// refuseInput fails when out is one of the inputs (by device and inode,
// so a symlink, a hard link or another spelling of the path is caught):
// creating it would truncate the evidence being carved.
func refuseInput(out string, inputs []string) error {
	ost, err := os.Stat(out)
	if err != nil {
		return nil // a new file (or one Create will report)
	}
	for _, in := range inputs {
		if ist, err := os.Stat(in); err == nil && os.SameFile(ost, ist) {
			return fmt.Errorf("-w %s is %s, one of carve's inputs: writing it would destroy the evidence; choose another file", out, in)
		}
	}
	return nil
}

func findRing(dir string) ([]capture.RingFile, error) { return capture.FindOutputRing(dir) }

// parseWhen reads a time: RFC 3339, EVE's timestamps
// (2007-02-21T10:17:54.366236+0000), "2006-01-02 15:04:05[.frac]" or
// "2006-01-02T15:04:05[.frac]" in UTC, or Unix seconds[.frac]. unit is
// what its last digit counts: a second without a fraction, 1µs for six
// fractional digits.
func parseWhen(s string) (t time.Time, unit time.Duration, err error) {
	s = strings.TrimSpace(s)
	unit = time.Second
	if _, frac, ok := strings.Cut(s, "."); ok {
		digits := len(frac) - len(strings.TrimLeft(frac, "0123456789"))
		for i := 0; i < digits && unit > time.Nanosecond; i++ {
			unit /= 10
		}
	}
	if sec, frac, ok := strings.Cut(s, "."); isDigits(sec) && (!ok || isDigits(frac) && len(frac) <= 9) {
		n, err := strconv.ParseInt(sec, 10, 64)
		if err == nil {
			ns := int64(0)
			if ok {
				ns, _ = strconv.ParseInt((frac + "000000000")[:9], 10, 64)
			}
			return time.Unix(n, ns).UTC(), unit, nil
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, unit, nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999-0700", s); err == nil {
		return t, unit, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, unit, nil
		}
	}
	return time.Time{}, 0, fmt.Errorf("%q: want RFC 3339 (2007-02-21T10:17:54Z), an EVE timestamp (2007-02-21T10:17:54.366236+0000), \"2007-02-21 10:17:54\" (UTC) or Unix seconds", s)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseProto reads --proto: a name as EVE writes it (any case), a common
// alias, or a number.
func parseProto(s string) (uint8, error) {
	switch strings.ToLower(s) {
	case "icmp6", "icmpv6":
		return 58, nil
	}
	if n, err := strconv.ParseUint(s, 10, 8); err == nil {
		return uint8(n), nil
	}
	for p := 0; p < 256; p++ {
		if strings.EqualFold(eve.ProtoName(uint8(p)), s) && s != "Any" {
			return uint8(p), nil
		}
	}
	return 0, fmt.Errorf("--proto %q: want tcp, udp, icmp, icmp6, sctp, another IP protocol name or a number", s)
}

// eveRecord is what carve reads of an EVE line.
type eveRecord struct {
	Timestamp string          `json:"timestamp"`
	AlertID   json.RawMessage `json:"xdpsensor_alert_id"`
	FlowID    uint64          `json:"flow_id"`
	SrcIP     string          `json:"src_ip"`
	DestIP    string          `json:"dest_ip"`
	SrcPort   uint16          `json:"src_port"`
	DestPort  uint16          `json:"dest_port"`
	Proto     string          `json:"proto"`
}

func (r *eveRecord) tuple() (capture.FlowTuple, bool) {
	src, err1 := netip.ParseAddr(r.SrcIP)
	dst, err2 := netip.ParseAddr(r.DestIP)
	p, err3 := parseProto(r.Proto)
	if err1 != nil || err2 != nil || err3 != nil {
		return capture.FlowTuple{}, false
	}
	return capture.FlowTuple{Proto: p, Src: src, Dst: dst, SrcPort: r.SrcPort, DstPort: r.DestPort}, true
}

type eveFlow struct {
	id    uint64 // 0: a packet in no flow
	tuple capture.FlowTuple
	time  time.Time // the packet's, to the microsecond
}

// findAlert finds the alert with xdpsensor_alert_id id in eve.json.
func findAlert(path, id string) (eveFlow, error) {
	var found *eveRecord
	eveAlerts := eve.Reader{Needles: [][]byte{[]byte(`"xdpsensor_alert_id"`)}}
	err := eveAlerts.ScanFile(path, func(line []byte) bool {
		var rec eveRecord
		if json.Unmarshal(line, &rec) != nil {
			return true
		}
		if strings.Trim(string(rec.AlertID), `"`) == id {
			found = &rec
			return false
		}
		return true
	})
	if errors.Is(err, fs.ErrNotExist) {
		return eveFlow{}, fmt.Errorf("--alert-id %s: no %s", id, path)
	}
	if err != nil {
		return eveFlow{}, err
	}
	if found == nil {
		return eveFlow{}, fmt.Errorf("--alert-id %s: no alert with \"xdpsensor_alert_id\": %s in %s", id, id, path)
	}
	t, _ := found.tuple()
	at, _, err := parseWhen(found.Timestamp)
	if found.FlowID == 0 && (err != nil || !t.Src.IsValid()) {
		return eveFlow{}, fmt.Errorf("--alert-id %s: the alert has no flow_id (a packet in no flow) and no time and source to find its packet by; carve it with --host, --port and --from/--to", id)
	}
	return eveFlow{id: found.FlowID, tuple: t, time: at}, nil
}

// flowHints finds the 5-tuples of flow ids in eve.json.
func flowHints(path string, ids []uint64) (map[uint64]capture.FlowTuple, error) {
	var needles [][]byte
	for _, id := range ids {
		needles = append(needles, []byte(`"flow_id":`+strconv.FormatUint(id, 10)))
	}
	want := map[uint64]bool{}
	for _, id := range ids {
		want[id] = true
	}
	hints := map[uint64]capture.FlowTuple{}
	err := eve.Reader{Needles: needles}.ScanFile(path, func(line []byte) bool {
		var rec eveRecord
		if json.Unmarshal(line, &rec) != nil || !want[rec.FlowID] {
			return true
		}
		if t, ok := rec.tuple(); ok {
			hints[rec.FlowID] = t
			delete(want, rec.FlowID)
		}
		return len(want) > 0
	})
	return hints, err
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progress shows a progress bar on a terminal once carving has taken a
// second. The bar runs from the start (so that its rate is right) but
// draws nothing before then.
type progress struct {
	w        io.Writer
	term     bool
	now      func() time.Time
	start    time.Time
	throttle time.Duration // between redraws
	bar      *progressbar.ProgressBar
}

func newProgress(w io.Writer, term bool, now func() time.Time) *progress {
	return &progress{w: w, term: term, now: now, start: now(), throttle: 100 * time.Millisecond}
}

// Write passes the bar's drawing on after the first second.
func (p *progress) Write(b []byte) (int, error) {
	if p.now().Sub(p.start) < time.Second {
		return len(b), nil
	}
	return p.w.Write(b)
}

func (p *progress) update(done, total int64) {
	if !p.term || total <= 0 {
		return
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(p),
			progressbar.OptionSetDescription("carving"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(p.throttle),
			progressbar.OptionClearOnFinish(),
		)
		p.bar.StartWithoutRender()
	}
	if p.bar.GetMax64() != total {
		p.bar.ChangeMax64(total)
	}
	p.bar.Set64(done)
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}

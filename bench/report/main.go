// Command report turns `go test -bench` output from make bench into one
// markdown table (BENCHMARKS.md): medians over -count runs, and the ratios
// the project's targets are stated in, all from the same run.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// metrics[name][unit] = every value seen
type results map[string]map[string][]float64

var line = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

// parse reads the result lines; broken names the benchmarks whose result
// line something else printed into (a run the medians do not count).
func parse(r io.Reader) (res results, broken []string) {
	res = results{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			if f := strings.Fields(sc.Text()); len(f) > 1 && strings.HasPrefix(f[0], "Benchmark") {
				broken = append(broken, f[0])
			}
			continue
		}
		fields := strings.Fields(m[3])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			if res[m[1]] == nil {
				res[m[1]] = map[string][]float64{}
			}
			res[m[1]][fields[i+1]] = append(res[m[1]][fields[i+1]], v)
		}
	}
	return res, broken
}

func (r results) get(name, unit string) (float64, bool) {
	vs := r[name][unit]
	if len(vs) == 0 {
		return 0, false
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	return s[len(s)/2], true
}

func (r results) fmt(name, unit, format string) string {
	if v, ok := r.get(name, unit); ok {
		return fmt.Sprintf(format, v)
	}
	return "–"
}

func ratio(a, b float64, okA, okB bool) string {
	if !okA || !okB || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func machine() string {
	out, _ := exec.Command("uname", "-srm").Output()
	cpu := "unknown CPU"
	if f, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`model name\s*:\s*(.*)`).FindSubmatch(f); m != nil {
			cpu = string(m[1])
		}
	}
	return fmt.Sprintf("%s, %d CPUs (%s), %s", strings.TrimSpace(string(out)), runtime.NumCPU(), cpu, runtime.Version())
}

func main() {
	var in io.Reader = os.Stdin
	if len(os.Args) > 1 {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		in = f
	}
	r, broken := parse(in)
	w := os.Stdout
	fmt.Fprintf(w, "# xdpsensor benchmarks\n\n%s — %s. Medians over the runs of one `make bench`; ratios are within that run.\n\n", time.Now().UTC().Format("2006-01-02"), machine())
	if len(broken) > 0 {
		fmt.Fprintf(w, "**%d result lines could not be read** (other output printed into them), so their runs are not in the medians: %s.\n\n", len(broken), strings.Join(broken, ", "))
		fmt.Fprintf(os.Stderr, "report: %d result lines could not be read: %s\n", len(broken), strings.Join(broken, ", "))
	}

	fmt.Fprintln(w, "## In-kernel cost per packet (BPF_PROG_TEST_RUN, the kernel's own clock, 64K flows pre-filled)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| case | ns/packet | Mpps/core | × bare | × parse | × its floor | target |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | --- |")
	bare, okBare := r.get("BenchmarkFloor/bare", "ns/pkt")
	parseNs, okParse := r.get("BenchmarkFloor/parse", "ns/pkt")
	upd, okUpd := r.get("BenchmarkFloor/parse+hash-update", "ns/pkt")
	ins, okIns := r.get("BenchmarkFloor/parse+hash-insert", "ns/pkt")
	updClock, okUpdClock := r.get("BenchmarkFloor/parse+hash-update+clock", "ns/pkt")
	row := func(label, name string, floor float64, okFloor bool, target string) {
		v, ok := r.get(name, "ns/pkt")
		if !ok {
			return
		}
		fmt.Fprintf(w, "| %s | %.1f | %.2f | %s | %s | %s | %s |\n", label, v, 1000/v,
			ratio(v, bare, ok, okBare), ratio(v, parseNs, ok, okParse), ratio(v, floor, ok, okFloor), target)
	}
	row("floor: bare `return XDP_PASS`", "BenchmarkFloor/bare", 0, false, "")
	row("floor: bare + bpf_ktime_get_ns", "BenchmarkFloor/bare+ktime", 0, false, "")
	row("floor: parse", "BenchmarkFloor/parse", 0, false, "")
	row("floor: parse + flow lookup/update (preallocated HASH, as the sensor)", "BenchmarkFloor/parse+hash-update", 0, false, "")
	row("floor: parse + flow lookup/update + the clock (last-seen time, as a sensor keeps it)", "BenchmarkFloor/parse+hash-update+clock", 0, false, "")
	row("floor: parse + flow insert (preallocated HASH, as the sensor)", "BenchmarkFloor/parse+hash-insert", 0, false, "")
	row("xdpsensor: known flow, not listed", "BenchmarkSensor/known-flow", upd, okUpd, "≤ 1.2× parse+hash update")
	row("xdpsensor: known flow, against the floor with the clock", "BenchmarkSensor/known-flow", updClock, okUpdClock, "")
	row("xdpsensor: new flow, not listed", "BenchmarkSensor/new-flow", ins, okIns, "≤ 1.2× parse+hash insert")
	row("xdpsensor: listed destination (alert event)", "BenchmarkSensor/listed-dst", ins, okIns, "≤ 2× parse+hash insert")
	row("xdpsensor: listed source (alert event)", "BenchmarkSensor/listed-src", ins, okIns, "≤ 2× parse+hash insert")
	row("xdpsensor: CIDR hit (alert event)", "BenchmarkSensor/cidr-hit", ins, okIns, "≤ 2× parse+hash insert")
	row("xdpsensor: IPv6, known flow", "BenchmarkSensor/ipv6-known-flow", upd, okUpd, "")
	row("xdpsensor: VLAN-tagged, known flow", "BenchmarkSensor/vlan-known-flow", upd, okUpd, "")
	row("xdpsensor: listed hit, event ring full", "BenchmarkSensor/listed-ring-full", ins, okIns, "")
	for _, k := range []string{"mpls", "pppoe", "gre", "erspan", "vxlan", "geneve", "ipip", "teredo"} {
		row("xdpsensor: "+k+", known inner flow", "BenchmarkSensorTunnel/"+k+"-known-flow", upd, okUpd, "")
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Live: generator → veth → receiver (BPF_PROG_TEST_RUN live frames, XDP_REDIRECT; 64K flows; 1 frame in 1000 to a listed address)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Method: the generator thread and the receiving veth's NAPI share one core, so the receiver is never outrun in the kernel; ns/packet is the whole pipeline, the receiver's share is that minus the generator alone. Userspace consumers run on the other core. Each receiver is judged on the packets it *recorded* a second: what its own session records (or capture file) count, over the time the generator took; what it did not record is its loss. xdpsensor records every frame in its flow table (0 lost events); argus, softflowd and pmacctd read the same frames through libpcap (AF_PACKET), tcpdump writes them to a file, the AF_PACKET reader (bench/afsensor) is the least a userspace design can do: TPACKET_V3, decode, a map look-up, no flows.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| receiver | frame | ns/packet | receiver ns | pipeline Mpps | recorded Mpps | lost | xdpsensor's recorded rate × this |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |")
	recorded := func(name string) (float64, bool) {
		if v, ok := r.get(name, "rec-Mpps"); ok {
			return v, true
		}
		mpps, ok := r.get(name, "Mpps")
		if !ok {
			return 0, false
		}
		if pct, ok := r.get(name, "%lost"); ok {
			return mpps * (1 - pct/100), true
		}
		return mpps, true
	}
	for _, size := range []string{"64B", "1500B"} {
		gen, okGen := r.get("BenchmarkLive/generator-alone/"+size, "ns/pkt")
		xsRec, okXs := recorded("BenchmarkLive/xdpsensor/" + size)
		for _, recv := range []string{"generator-alone", "bare-xdp-drop", "floor-parse+hash-update", "floor-parse+hash-update+clock", "xdpsensor", "nftables-set", "tcpdump", "af_packet-go", "argus", "softflowd", "pmacctd"} {
			name := "BenchmarkLive/" + recv + "/" + size
			v, ok := r.get(name, "ns/pkt")
			if !ok {
				continue
			}
			share := "–"
			if okGen && recv != "generator-alone" {
				share = fmt.Sprintf("%.0f", v-gen)
			}
			loss := "–"
			if lost, ok := r.get(name, "lost-events"); ok {
				missed, _ := r.get(name, "missed-alerts")
				loss = fmt.Sprintf("%.0f lost events, %.0f missed alerts", lost, missed)
			} else if pct, ok := r.get(name, "%lost"); ok {
				loss = fmt.Sprintf("%.1f%% of frames", pct)
				if d, ok := r.get(name, "tool-drops"); ok {
					loss += fmt.Sprintf(" (it says %.0f dropped)", d)
				}
			}
			rec, vs := "–", "–"
			if recv != "generator-alone" && recv != "bare-xdp-drop" && !strings.HasPrefix(recv, "floor-") && recv != "nftables-set" {
				if rv, ok := recorded(name); ok {
					rec = fmt.Sprintf("%.3f", rv)
					if recv != "xdpsensor" {
						vs = ratio(xsRec, rv, okXs, ok)
					}
				}
			} else if recv != "generator-alone" {
				vs = "–"
				if xs, okx := r.get("BenchmarkLive/xdpsensor/"+size, "ns/pkt"); okx {
					vs = ratio(v, xs, ok, okx) + " (pipeline rate)"
				}
			}
			fmt.Fprintf(w, "| %s | %s | %.0f | %s | %.2f | %s | %s | %s |\n", recv, size, v, share, 1000/v, rec, loss, vs)
		}
	}
	fmt.Fprintln(w)
	// The receiver's share against the floors': what the sensor adds to
	// parsing and counting a known flow, with and without the clock.
	for _, size := range []string{"64B", "1500B"} {
		gen, okGen := r.get("BenchmarkLive/generator-alone/"+size, "ns/pkt")
		share := func(recv string) (float64, bool) {
			v, ok := r.get("BenchmarkLive/"+recv+"/"+size, "ns/pkt")
			return v - gen, ok && okGen
		}
		xs, okXs := share("xdpsensor")
		fl, okFl := share("floor-parse+hash-update")
		fc, okFc := share("floor-parse+hash-update+clock")
		if okXs {
			fmt.Fprintf(w, "- %s: xdpsensor's receiver share is %s the parse + hash update floor's, %s the floor's with the clock.\n", size, ratio(xs, fl, okXs, okFl), ratio(xs, fc, okXs, okFc))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Targets (64-byte frames): xdpsensor's recorded rate ≥ 20× Argus's, ≥ 5× softflowd's, ≥ 2× tcpdump's and the AF_PACKET reader's, with 0 lost events; ≥ 0.6× bare XDP_DROP's pipeline rate; a receiver share ≤ 1.2× the floor program's.")
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Offline: the same capture through each tool (1,000,000 TCP frames of 64–254 bytes, 1 µs apart, 65,536 flows of 15–16 packets, 4,096 open at a time; one process each, as an analyst runs it, wall time from start to its records written)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| tool | command | wall time | recorded Mpps | lost | records | xdpsensor replay's rate × this |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | --- | ---: | ---: |")
	xr, okXr := r.get("BenchmarkOffline/xdpsensor-replay", "rec-Mpps")
	for _, t := range []struct{ name, cmd string }{
		{"xdpsensor-replay", "`xdpsensor replay` (every output: eve.json, conn.log, alert.fast/full, pcap of listed flows)"},
		{"xdpsensor-replay-per-frame", "the same, one BPF_PROG_TEST_RUN per frame (before)"},
		{"xdpsensor-replay-all-open", "`xdpsensor replay`, the same frames with all 65,536 flows open at once"},
		{"softflowd-all-open", "`softflowd -r`, all 65,536 flows open at once"},
		{"xdpsensor-replay-hour", "`xdpsensor replay`, the same frames 3.6 ms apart: an hour, flows ending by idle timeout as it goes"},
		{"argus-hour", "`argus -r … -w file`, the hour"},
		{"softflowd-hour", "`softflowd -r … -n collector`, the hour"},
		{"argus", "`argus -r … -w file`"},
		{"softflowd", "`softflowd -r … -n collector` (NetFlow v5 to loopback)"},
		{"pmacctd", "`pmacctd` (pcap_savefile, print plugin, 5-tuple CSV)"},
		{"tcpdump", "`tcpdump -r … -w /dev/null` (no sessions: reading the file, for scale)"},
	} {
		name := "BenchmarkOffline/" + t.name
		ms, ok := r.get(name, "ms")
		if !ok {
			continue
		}
		rec, okRec := r.get(name, "rec-Mpps")
		lost, _ := r.get(name, "%lost")
		records, _ := r.get(name, "records")
		vs := "–"
		switch t.name {
		case "xdpsensor-replay", "xdpsensor-replay-all-open", "xdpsensor-replay-hour":
		case "softflowd-all-open":
			xo, okXo := r.get("BenchmarkOffline/xdpsensor-replay-all-open", "rec-Mpps")
			vs = ratio(xo, rec, okXo, okRec) + " (all open)"
		case "argus-hour", "softflowd-hour":
			xh, okXh := r.get("BenchmarkOffline/xdpsensor-replay-hour", "rec-Mpps")
			vs = ratio(xh, rec, okXh, okRec) + " (the hour)"
		default:
			vs = ratio(xr, rec, okXr, okRec)
		}
		fmt.Fprintf(w, "| %s | %s | %.0f ms | %.3f | %.1f%% | %.0f | %s |\n", t.name, t.cmd, ms, rec, lost, records, vs)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Targets: xdpsensor replay ≥ 1 M packets/s with every output, ≥ softflowd's rate, ≥ 4× Argus's. The hour's rows are the same frames spread over an hour, each tool against xdpsensor's hour.")
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Control and userspace paths")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| what | result |")
	fmt.Fprintln(w, "| --- | --- |")
	kv := func(label, name, unit, format string) {
		if _, ok := r.get(name, unit); ok {
			fmt.Fprintf(w, "| %s | %s |\n", label, r.fmt(name, unit, format))
		}
	}
	kv("this host: first write to fresh memory (a page fault and a zeroed 4 KB page)", "BenchmarkFirstTouch/4k-pages", "µs/4KB-page", "%.1f µs a page")
	kv("this host: the same with transparent huge pages asked for (MADV_HUGEPAGE)", "BenchmarkFirstTouch/huge-pages", "µs/4KB-page", "%.2f µs a 4 KB page")
	kv("event ring drain, read only", "BenchmarkRingDrain/read", "Mevents/s", "%.2f M events/s")
	kv("event ring drain, decoded and encoded as EVE (alerts; EVE encoded on every CPU, as the daemon does)", "BenchmarkRingDrain/decode+eve", "Mevents/s", "%.2f M events/s")
	kv("event ring drain, decoded and encoded as EVE in one goroutine", "BenchmarkRingDrain/decode+eve-1goroutine", "Mevents/s", "%.2f M events/s")
	kv("`xdpsensor blocklist load` of 1M IPv4 + 100k CIDRs as a CLI process (start to exit)", "BenchmarkBlocklistLoadMillionCLI", "ms/load", "%.0f ms")
	kv("… its page faults", "BenchmarkBlocklistLoadMillionCLI", "page-faults", "%.0f")
	kv("`blocklist load` of 1M IPv4 + 100k CIDRs, in-process", "BenchmarkBlocklistLoadMillion", "ms/load", "%.0f ms")
	kv("kernel memory per exact IPv4 entry (hash map memlock / entries)", "BenchmarkBlocklistLoadMillion", "bytes/exact-v4-entry", "%.1f bytes")
	kv("kernel memory per exact entry, pre-filter", "BenchmarkBlocklistLoadMillion", "filter-bytes/exact-entry", "%.1f bytes")
	kv("kernel memory per IPv4 prefix (LPM trie memlock / entries)", "BenchmarkBlocklistLoadMillion", "bytes/prefix-v4-entry", "%.1f bytes")
	kv("kernel memory per IPv4 flow (flows_v4 memlock / max entries)", "BenchmarkMemory", "bytes/flow-v4", "%.0f bytes")
	kv("kernel memory per IPv6 flow (flows_v6 memlock / max entries)", "BenchmarkMemory", "bytes/flow-v6", "%.0f bytes")
	kv("kernel memory per flow, both tables as a sensor sizes them (IPv6 a quarter)", "BenchmarkMemory", "bytes/flow", "%.0f bytes")
	kv("flow tracker: one sweep pass over 2^20 flows, none due", "BenchmarkSweep/1M-flows-none-due", "ms/pass", "%.0f ms")
	kv("flow tracker: one sweep pass over 2^20 flows, all due (decoded, removed; not encoded)", "BenchmarkSweep/1M-flows-all-due", "ms/pass", "%.0f ms")
	kv("flow records written (table → decode → eve.json + conn.log → removed)", "BenchmarkFlowRecords", "Mrecords/s", "%.3f M records/s")
	kv("live storm: new flows a second into a sensor with defaults (generator in new-flow mode)", "BenchmarkStorm", "Mpps", "%.3f M new flows/s")
	kv("live storm: flows neither written nor counted lost", "BenchmarkStorm", "flows-unaccounted", "%.0f")
	kv("`xdpsensor replay` of a 4-frame capture (start-up: program verified, maps made, outputs opened)", "BenchmarkReplayStartup", "ms", "%.0f ms")
	kv("replay (in-process), 200k 64-byte frames of 102,400 flows, every output", "BenchmarkReplay", "Mpps", "%.3f M packets/s")
	kv("capture to disk, 64-byte frames", "BenchmarkCaptureToDisk/64B", "Mpps", "%.2f M packets/s")
	kv("capture to disk, 64-byte frames", "BenchmarkCaptureToDisk/64B", "MB/s", "%.0f MB/s")
	kv("capture to disk, 1500-byte frames", "BenchmarkCaptureToDisk/1500B", "Mpps", "%.2f M packets/s")
	kv("capture to disk, 1500-byte frames", "BenchmarkCaptureToDisk/1500B", "MB/s", "%.0f MB/s")
	kv("pcap ring write, pcap (userspace only)", "BenchmarkRingWrite/pcap", "MB/s", "%.0f MB/s")
	kv("pcap ring write, pcapng (userspace only)", "BenchmarkRingWrite/pcapng", "MB/s", "%.0f MB/s")
	kv("fleet: one sensor's events through JetStream (local nats-server, spool → publish → ack)", "BenchmarkFleetPublish/sensor", "events/s", "%.0f events/s")
	kv("fleet: the sensor's CPU per event published (encoding, spool, client)", "BenchmarkFleetPublish/sensor", "cpu-µs/event", "%.1f µs")
	kv("fleet: bare async JetStream publish of the same messages, for scale", "BenchmarkFleetPublish/raw-jetstream", "events/s", "%.0f events/s")
	kv("fleet: bare async JetStream publish, client CPU per message", "BenchmarkFleetPublish/raw-jetstream", "cpu-µs/event", "%.1f µs")
	kv("ring drain to eve.json, --nats off", "BenchmarkFleetDrain/nats-off", "Mevents/s", "%.3f M events/s")
	kv("ring drain to eve.json, --nats on (sender and nats-server on the same 2 CPUs)", "BenchmarkFleetDrain/nats-on", "Mevents/s", "%.3f M events/s")
	kv("ring drain to eve.json, --nats with the server unreachable (spooling only)", "BenchmarkFleetDrain/nats-unreachable", "Mevents/s", "%.3f M events/s")
	off, okOff := r.get("BenchmarkFleetDrain/nats-off", "Mevents/s")
	on, okOn := r.get("BenchmarkFleetDrain/nats-on", "Mevents/s")
	if okOff && okOn {
		fmt.Fprintf(w, "| ring drain rate, --nats on ÷ off (same run) | %s |\n", ratio(on, off, okOn, okOff))
	}
}

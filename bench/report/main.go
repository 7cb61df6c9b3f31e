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

func parse(r io.Reader) results {
	res := results{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
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
	return res
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
	r := parse(in)
	w := os.Stdout
	fmt.Fprintf(w, "# xdpsensor benchmarks\n\n%s — %s. Medians over the runs of one `make bench`; ratios are within that run.\n\n", time.Now().UTC().Format("2006-01-02"), machine())

	fmt.Fprintln(w, "## In-kernel cost per packet (BPF_PROG_TEST_RUN, the kernel's own clock, 64K flows pre-filled)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| case | ns/packet | Mpps/core | × bare | × parse | × its floor | target |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | --- |")
	bare, okBare := r.get("BenchmarkFloor/bare", "ns/pkt")
	parseNs, okParse := r.get("BenchmarkFloor/parse", "ns/pkt")
	upd, okUpd := r.get("BenchmarkFloor/parse+lru-update", "ns/pkt")
	ins, okIns := r.get("BenchmarkFloor/parse+lru-insert", "ns/pkt")
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
	row("floor: parse + LRU flow lookup/update", "BenchmarkFloor/parse+lru-update", 0, false, "")
	row("floor: parse + LRU insert (new flow)", "BenchmarkFloor/parse+lru-insert", 0, false, "")
	row("xdpsensor: known flow, not listed", "BenchmarkSensor/known-flow", upd, okUpd, "≤ 1.2× parse+LRU update")
	row("xdpsensor: new flow, not listed", "BenchmarkSensor/new-flow", ins, okIns, "≤ 1.2× parse+LRU insert")
	row("xdpsensor: listed destination (alert event)", "BenchmarkSensor/listed-dst", ins, okIns, "≤ 2× parse+LRU insert")
	row("xdpsensor: listed source (alert event)", "BenchmarkSensor/listed-src", ins, okIns, "≤ 2× parse+LRU insert")
	row("xdpsensor: CIDR hit (alert event)", "BenchmarkSensor/cidr-hit", ins, okIns, "≤ 2× parse+LRU insert")
	row("xdpsensor: IPv6, known flow", "BenchmarkSensor/ipv6-known-flow", upd, okUpd, "")
	row("xdpsensor: VLAN-tagged, known flow", "BenchmarkSensor/vlan-known-flow", upd, okUpd, "")
	row("xdpsensor: listed hit, event ring full", "BenchmarkSensor/listed-ring-full", ins, okIns, "")
	for _, k := range []string{"mpls", "pppoe", "gre", "erspan", "vxlan", "geneve", "ipip", "teredo"} {
		row("xdpsensor: "+k+", known inner flow", "BenchmarkSensorTunnel/"+k+"-known-flow", upd, okUpd, "")
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Live pipeline: generator → veth → receiver, on one core (BPF_PROG_TEST_RUN live frames, XDP_REDIRECT; 64K flows; 1 frame in 1000 to a listed address)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Method: the generator thread and the receiving veth's NAPI share one core, so the receiver is never outrun in the kernel; ns/packet is the whole pipeline, the receiver's share is that minus the generator alone. Userspace consumers run on the other core; what they could not keep up with is the loss column.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| receiver | frame | ns/packet | receiver ns | Mpps | xdpsensor's rate × this | loss |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | --- |")
	for _, size := range []string{"64B", "1500B"} {
		gen, okGen := r.get("BenchmarkLive/generator-alone/"+size, "ns/pkt")
		xs, okXs := r.get("BenchmarkLive/xdpsensor/"+size, "ns/pkt")
		for _, recv := range []string{"generator-alone", "bare-xdp-drop", "floor-parse+lru-update", "xdpsensor", "nftables-set", "tcpdump", "af_packet-go"} {
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
			}
			vs := "–"
			if recv != "generator-alone" && recv != "xdpsensor" {
				vs = ratio(v, xs, ok, okXs) // rate ratio = inverse of time ratio
			}
			fmt.Fprintf(w, "| %s | %s | %.0f | %s | %.2f | %s | %s |\n", recv, size, v, share, 1000/v, vs, loss)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Targets (64-byte frames): xdpsensor ≥ 0.6× bare XDP_DROP's rate, ≥ 2× nftables, ≥ 3× tcpdump, ≥ 10× the AF_PACKET Go sensor, zero lost events. \"xdpsensor's rate × this\" is xdpsensor's packets/s over the peer's (for bare XDP_DROP the target is ≥ 0.6×, i.e. this column ≥ 0.6).")
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
	kv("event ring drain, read only", "BenchmarkRingDrain/read", "Mevents/s", "%.2f M events/s")
	kv("event ring drain, decoded and encoded as EVE", "BenchmarkRingDrain/decode+eve", "Mevents/s", "%.2f M events/s")
	kv("`blocklist load` of 1M IPv4 + 100k CIDRs, end to end", "BenchmarkBlocklistLoadMillion", "ms/load", "%.0f ms")
	kv("kernel memory per exact IPv4 entry (hash map memlock / entries)", "BenchmarkBlocklistLoadMillion", "bytes/exact-v4-entry", "%.1f bytes")
	kv("kernel memory per exact entry, pre-filter", "BenchmarkBlocklistLoadMillion", "filter-bytes/exact-entry", "%.1f bytes")
	kv("kernel memory per IPv4 prefix (LPM trie memlock / entries)", "BenchmarkBlocklistLoadMillion", "bytes/prefix-v4-entry", "%.1f bytes")
	kv("kernel memory per flow (flow table memlock / max entries)", "BenchmarkMemory", "bytes/flow", "%.0f bytes")
	kv("replay, 200k 64-byte frames, every output", "BenchmarkReplay", "Mpps", "%.3f M packets/s")
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

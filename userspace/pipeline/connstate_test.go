package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every Zeek conn_state, from packets through the kernel to conn.log:
// one synthetic capture holds one session per state, on its own port.
func TestConnStatesThroughTheKernel(t *testing.T) {
	const c, s = "192.0.2.10", "198.51.100.20"
	type pkt struct {
		fromClient bool
		flags      string
		payload    int
	}
	cases := []struct {
		state, history string
		port           uint16 // the server's port; the client uses 40000+index
		pkts           []pkt
	}{
		{"S0", "S", 6667, []pkt{{true, "S", 0}, {true, "S", 0}}},
		{"REJ", "Sr", 6667, []pkt{{true, "S", 0}, {false, "RA", 0}}},
		{"S1", "ShA", 6667, []pkt{{true, "S", 0}, {false, "SA", 0}, {true, "A", 0}}},
		{"SF", "ShADadFf", 6667, []pkt{{true, "S", 0}, {false, "SA", 0}, {true, "A", 0}, {true, "PA", 20}, {false, "A", 0},
			{false, "PA", 30}, {true, "FA", 0}, {false, "FA", 0}, {true, "A", 0}}},
		{"S2", "ShAF", 6667, []pkt{{true, "S", 0}, {false, "SA", 0}, {true, "A", 0}, {true, "FA", 0}}},
		{"S3", "ShAf", 6667, []pkt{{true, "S", 0}, {false, "SA", 0}, {true, "A", 0}, {false, "FA", 0}}},
		{"RSTO", "ShAR", 6667, []pkt{{true, "S", 0}, {false, "SA", 0}, {true, "A", 0}, {true, "R", 0}}},
		{"RSTR", "ShAr", 6667, []pkt{{true, "S", 0}, {false, "SA", 0}, {true, "A", 0}, {false, "R", 0}}},
		{"RSTOS0", "SR", 6667, []pkt{{true, "S", 0}, {true, "R", 0}}},
		{"SH", "SF", 6667, []pkt{{true, "S", 0}, {true, "F", 0}}},
		// The seed's backscatter: a SYN-ACK from a server port first.
		{"RSTO", "^hR", 6667, []pkt{{false, "SA", 0}, {true, "R", 0}}},
		{"RSTRH", "^hr", 6667, []pkt{{false, "SA", 0}, {false, "R", 0}}},
		{"SHR", "^hf", 6667, []pkt{{false, "SA", 0}, {false, "FA", 0}}},
		{"OTH", "Dd", 6667, []pkt{{true, "PA", 10}, {false, "PA", 10}}},
	}
	var segs []segment
	at := time.Duration(0)
	for i, tc := range cases {
		cport := uint16(40000 + i)
		for _, p := range tc.pkts {
			at += time.Millisecond
			sg := segment{at: at, payload: strings.Repeat("x", p.payload)}
			if p.fromClient {
				sg.src, sg.dst, sg.sport, sg.dport = c, s, cport, tc.port
			} else {
				sg.src, sg.dst, sg.sport, sg.dport = s, c, tc.port, cport
			}
			for _, f := range p.flags {
				switch f {
				case 'S':
					sg.syn = true
				case 'A':
					sg.ack = true
				case 'F':
					sg.fin = true
				case 'R':
					sg.rst = true
				case 'P':
					sg.psh = true
				}
			}
			segs = append(segs, sg)
		}
	}
	dir := t.TempDir()
	pcap := filepath.Join(dir, "states.pcap")
	writeTCPCapture(t, pcap, segs)
	out := filepath.Join(dir, "out")
	if _, err := Replay(context.Background(), Config{OutDir: out, FlowTableSize: 1024, RingSize: 1 << 20}, []string{pcap}); err != nil {
		t.Fatalf("%+v", err)
	}
	data, err := os.ReadFile(filepath.Join(out, "conn.log"))
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	got := map[string][2]string{} // client port -> state, history
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, "\t")
		if f[0] == "#fields" {
			for i, name := range f[1:] {
				col[name] = i
			}
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		// After a flip the client port is the responder's.
		port := f[col["id.orig_p"]]
		if f[col["id.orig_h"]] != c {
			t.Fatalf("orig is %s: %s", f[col["id.orig_h"]], line)
		}
		got[port] = [2]string{f[col["conn_state"]], f[col["history"]]}
	}
	for i, tc := range cases {
		port := itoa(40000 + i)
		if g := got[port]; g[0] != tc.state || g[1] != tc.history {
			t.Errorf("case %d: conn_state %q history %q, want %q %q", i, g[0], g[1], tc.state, tc.history)
		}
	}
}

func itoa(n int) string {
	b := []byte{}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

package zeek

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

func vxlanTunnel(vni uint32) *event.Tunnel {
	return &event.Tunnel{Kind: event.TunnelVXLAN, Proto: event.ProtoUDP, ID: vni, Depth: 1,
		Src: event.Endpoint{IP: netip.MustParseAddr("198.51.100.1")}, Dst: event.Endpoint{IP: netip.MustParseAddr("198.51.100.2")}}
}

// A connection through a tunnel names it in tunnel_parents.
func TestTunnelParents(t *testing.T) {
	f := botCC()
	f.Tunnel = vxlanTunnel(1001)
	cols := strings.Split(string(AppendConn(nil, f, Options{})), "\t")
	uid := TunnelUID(f.Tunnel)
	if got := cols[20]; got != uid || !strings.HasPrefix(uid, "C") {
		t.Errorf("tunnel_parents %q, want the tunnel's uid %q", got, uid)
	}
	if TunnelUID(vxlanTunnel(1002)) == uid {
		t.Error("two VNIs share a uid")
	}
	if got := strings.Split(string(AppendConn(nil, botCC(), Options{})), "\t")[20]; got != "-" {
		t.Errorf("tunnel_parents of a plain connection %q, want -", got)
	}
}

// tunnel.log: each tunnel once when first seen, expired after an hour
// without a new connection, and no file at all without tunnels.
func TestTunnelLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tunnel.log")
	now := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	w := OpenTunnels(path, Options{Now: now, Location: time.UTC})
	if err := w.WriteFlow(botCC()); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("tunnel.log exists without a tunnel: %v", err)
	}
	start := time.Unix(1700000000, 0).UTC()
	for i, c := range []struct {
		vni uint32
		at  time.Duration
	}{{1001, 0}, {1001, time.Minute}, {1002, 2 * time.Minute}, {1002, 3 * time.Hour}} {
		f := botCC()
		f.FlowID = uint64(i + 1)
		f.Start = start.Add(c.at)
		f.Tunnel = vxlanTunnel(c.vni)
		if err := w.WriteFlow(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u1, u2 := TunnelUID(vxlanTunnel(1001)), TunnelUID(vxlanTunnel(1002))
	want := "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\ttunnel\n#open\t2026-01-02-03-04-05\n" +
		"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\ttunnel_type\taction\n" +
		"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tenum\n" +
		"1700000000.000000\t" + u1 + "\t198.51.100.1\t0\t198.51.100.2\t0\tTunnel::VXLAN\tTunnel::DISCOVER\n" +
		"1700000120.000000\t" + u2 + "\t198.51.100.1\t0\t198.51.100.2\t0\tTunnel::VXLAN\tTunnel::DISCOVER\n" +
		"1700003660.000000\t" + u1 + "\t198.51.100.1\t0\t198.51.100.2\t0\tTunnel::VXLAN\tTunnel::EXPIRE\n" +
		"1700003720.000000\t" + u2 + "\t198.51.100.1\t0\t198.51.100.2\t0\tTunnel::VXLAN\tTunnel::EXPIRE\n" +
		"1700010800.000000\t" + u2 + "\t198.51.100.1\t0\t198.51.100.2\t0\tTunnel::VXLAN\tTunnel::DISCOVER\n" +
		"#close\t2026-01-02-03-04-05\n"
	if string(data) != want {
		t.Errorf("tunnel.log\n%s\nwant\n%s", data, want)
	}
	if got := TunnelType(event.TunnelERSPANII); got != "Tunnel::GRE" {
		t.Errorf("ERSPAN is %s, want Tunnel::GRE", got)
	}
	if got := TunnelType(event.TunnelIPIP); got != "Tunnel::IP" {
		t.Errorf("IP in IP is %s, want Tunnel::IP", got)
	}
}

// With JSON, tunnel.log is one object a line, no header or #close, and
// tunnel_parents is an array, as Zeek writes them under use_json.
func TestTunnelLogJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tunnel.log")
	w := OpenTunnels(path, Options{JSON: true})
	f := botCC()
	f.Start = time.Unix(1700000000, 250000000).UTC()
	f.Tunnel = vxlanTunnel(1001)
	if err := w.WriteFlow(f); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	uid := TunnelUID(f.Tunnel)
	want := `{"ts":1700000000.25,"uid":"` + uid + `","id.orig_h":"198.51.100.1","id.orig_p":0,"id.resp_h":"198.51.100.2","id.resp_p":0,"tunnel_type":"Tunnel::VXLAN","action":"Tunnel::DISCOVER"}` + "\n"
	if string(data) != want {
		t.Errorf("tunnel.log\n%s\nwant\n%s", data, want)
	}
	conn := string(AppendConn(nil, f, Options{JSON: true}))
	if !strings.Contains(conn, `"tunnel_parents":["`+uid+`"]`) {
		t.Errorf("conn.log JSON %s lacks tunnel_parents [%q]", conn, uid)
	}
}

// A tunnel.log that cannot be created on its first line costs no error:
// the lines wait (counted while it fails) and the file is created when
// it can be, a second later at the earliest, with one header block.
func TestTunnelLogCreatedLate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tunnel.log")
	os.Mkdir(path, 0o700)
	w := OpenTunnels(path, Options{Location: time.UTC})
	f := botCC()
	f.Tunnel = vxlanTunnel(1001)
	if err := w.WriteFlow(f); err != nil {
		t.Fatalf("first line: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if st := w.OutputStats(); !st.Failing || st.Path != path || st.Pending != 2 || st.WriteErrors != 1 {
		t.Fatalf("stats while the file cannot be created: %+v", st)
	}
	os.Remove(path)
	time.Sleep(1100 * time.Millisecond) // the Writer retries once a second
	f2 := botCC()
	f2.Tunnel = vxlanTunnel(1002)
	if err := w.WriteFlow(f2); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "#fields"); n != 1 {
		t.Errorf("%d header blocks, want 1:\n%s", n, data)
	}
	if n := strings.Count(string(data), "Tunnel::DISCOVER"); n != 2 {
		t.Errorf("%d DISCOVER lines, want 2:\n%s", n, data)
	}
}

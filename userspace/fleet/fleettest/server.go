// Package fleettest runs real nats-server processes (Debian's package,
// installed by scripts/bootstrap.sh) for the fleet tests and benchmarks:
// a single JetStream server or a three-node cluster, on 127.0.0.1 with
// free ports and a temporary store, killed and removed at cleanup.
package fleettest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Binary finds nats-server: on PATH, else Debian's /usr/sbin.
func Binary(tb testing.TB) string {
	tb.Helper()
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server"
	}
	tb.Fatal("nats-server is not installed (scripts/bootstrap.sh installs Debian's package)")
	return ""
}

// Server is one nats-server process this test started.
type Server struct {
	Name    string
	Port    int // client port on 127.0.0.1
	args    []string
	bin     string
	logPath string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// URL is the server's client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.Port) }

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start runs one JetStream server with its store in a temp dir; it is
// killed at cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartAt(tb, FreePort(tb))
}

// StartAt is Start on a given port (a test that first has the server
// missing picks the port before).
func StartAt(tb testing.TB, port int) *Server {
	tb.Helper()
	return startConf(tb, port, "")
}

// StartWithPassword is Start on a server that wants user and password.
func StartWithPassword(tb testing.TB, user, password string) *Server {
	tb.Helper()
	return startConf(tb, FreePort(tb), fmt.Sprintf("authorization {\n  user: %q\n  password: %q\n}\n", user, password))
}

// StartWithTLS is Start on a server that speaks TLS only and wants a
// client certificate: it writes a CA, the server's certificate and a
// client's (PEM, in a temp dir) and returns their paths.
func StartWithTLS(tb testing.TB) (s *Server, ca, clientCert, clientKey string) {
	tb.Helper()
	dir := tb.TempDir()
	p := writeTestPKI(tb, dir)
	s = startConf(tb, FreePort(tb), fmt.Sprintf("tls {\n  cert_file: %q\n  key_file: %q\n  ca_file: %q\n  verify: true\n}\n",
		p.serverCert, p.serverKey, p.ca))
	return s, p.ca, p.clientCert, p.clientKey
}

func startConf(tb testing.TB, port int, extra string) *Server {
	tb.Helper()
	dir := tb.TempDir()
	conf := filepath.Join(dir, "server.conf")
	writeFile(tb, conf, fmt.Sprintf(`server_name: "xs-test-%d"
listen: "127.0.0.1:%d"
jetstream {
  store_dir: %q
}
`, port, port, filepath.Join(dir, "store"))+extra)
	s := &Server{Name: fmt.Sprintf("xs-test-%d", port), Port: port, bin: Binary(tb),
		args: []string{"-c", conf}, logPath: filepath.Join(dir, "server.log")}
	s.start(tb)
	tb.Cleanup(s.kill)
	if extra == "" {
		WaitJetStream(tb, s.URL(), 10*time.Second)
	}
	return s
}

// StartCluster runs a three-node JetStream cluster (routes on 127.0.0.1),
// each node with its own store; all are killed at cleanup. It returns once
// the cluster has elected its meta leader.
func StartCluster(tb testing.TB) []*Server {
	tb.Helper()
	const n = 3
	dir := tb.TempDir()
	clientPorts := make([]int, n)
	routePorts := make([]int, n)
	for i := range n {
		clientPorts[i], routePorts[i] = FreePort(tb), FreePort(tb)
	}
	var routes []string
	for _, p := range routePorts {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	clusterName := fmt.Sprintf("xs-test-%d", clientPorts[0])
	var servers []*Server
	for i := range n {
		name := fmt.Sprintf("%s-n%d", clusterName, i+1)
		conf := filepath.Join(dir, name+".conf")
		writeFile(tb, conf, fmt.Sprintf(`server_name: %q
listen: "127.0.0.1:%d"
jetstream {
  store_dir: %q
}
cluster {
  name: %q
  listen: "127.0.0.1:%d"
  routes: [%s]
}
`, name, clientPorts[i], filepath.Join(dir, name), clusterName, routePorts[i], strings.Join(quoteAll(routes), ", ")))
		s := &Server{Name: name, Port: clientPorts[i], bin: Binary(tb), args: []string{"-c", conf},
			logPath: filepath.Join(dir, name+".log")}
		s.start(tb)
		tb.Cleanup(s.kill)
		servers = append(servers, s)
	}
	WaitJetStream(tb, servers[0].URL(), 30*time.Second)
	return servers
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

func writeFile(tb testing.TB, path, text string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
}

func (s *Server) start(tb testing.TB) {
	tb.Helper()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a ^C to the test binary's group does not
	// reach it, and kill below ends exactly this process. (No Pdeathsig:
	// it fires when the forking OS thread exits, and the netns tests lock
	// and retire threads.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting nats-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(s.logPath)
			tb.Fatalf("nats-server %s did not listen on %d within 10 s:\n%s", s.Name, s.Port, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends the server at once (SIGKILL), as a crash or a pulled cable
// would, and waits for it.
func (s *Server) Kill() { s.kill() }

func (s *Server) kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	cmd.Wait()
}

// Restart starts the server again with the same port and store.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.start(tb)
}

// Log is what the server printed so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// WaitJetStream waits until JetStream answers at url (for a cluster: a
// meta leader is elected).
func WaitJetStream(tb testing.TB, url string, within time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		nc, err := nats.Connect(url, nats.Timeout(time.Second))
		if err == nil {
			var resp *nats.Msg
			resp, err = nc.Request("$JS.API.INFO", nil, time.Second)
			if err == nil && strings.Contains(string(resp.Data), `"error"`) {
				err = fmt.Errorf("%s", resp.Data)
			}
			nc.Close()
			if err == nil {
				return
			}
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("JetStream at %s not ready within %v: %v", url, within, last)
}

// Msg is one message read back from a stream.
type Msg struct {
	Subject string
	MsgID   string
	Data    string
	Seq     uint64
}

// ReadStream returns every message of stream on subjects matching
// filter ("" or ">": all), in stream order. A cluster that just lost a
// node may need a few seconds to answer: it is asked again for 30 s.
func ReadStream(tb testing.TB, url, stream, filter string) []Msg {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		msgs, err := readStream(url, stream, filter)
		if err == nil {
			return msgs
		}
		if time.Now().After(deadline) {
			tb.Fatalf("reading stream %s at %s: %v", stream, url, err)
		}
		tb.Logf("reading stream %s at %s: %v (trying again)", stream, url, err)
		time.Sleep(500 * time.Millisecond)
	}
}

// readStream gets each message by sequence from the stream's leader: a
// consumer may be placed on a node just killed, and hang.
func readStream(url, stream, filter string) ([]Msg, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream info: %w", err)
	}
	st := s.CachedInfo().State
	var out []Msg
	for seq := st.FirstSeq; st.Msgs > 0 && seq <= st.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", seq, err)
		}
		if subjectMatches(filter, m.Subject) {
			out = append(out, Msg{Subject: m.Subject, MsgID: m.Header.Get(jetstream.MsgIDHeader), Data: string(m.Data), Seq: m.Sequence})
		}
	}
	return out, nil
}

// subjectMatches is NATS subject matching of a filter with * and >.
func subjectMatches(filter, subject string) bool {
	if filter == "" {
		return true
	}
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}

// StreamLeader is the name of the server leading stream, asked of the
// first of urls that answers.
func StreamLeader(tb testing.TB, urls []string, stream string) string {
	tb.Helper()
	for _, u := range urls {
		nc, err := nats.Connect(u)
		if err != nil {
			continue
		}
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := js.Stream(ctx, stream)
		cancel()
		nc.Close()
		if err == nil && s.CachedInfo().Cluster != nil {
			return s.CachedInfo().Cluster.Leader
		}
	}
	return ""
}

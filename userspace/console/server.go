// Package console serves the analyst's console: a read-only web view of
// a sensor's output directory that gives the pivot the seeds walk through
// in one window, as Sguil did — an alert, the session data of its flow and
// host, and the flow's full-content packets.
//
// It reads what the sensor wrote and nothing else: eve.json through
// eve.Reader (followed as it grows and across SIGHUP/logrotate), conn.log
// for Zeek's state and history, the pcap ring through capture's carve, and
// the sensor's health from EVE stats events or, failing that, the pinned
// maps. Everything attacker-controlled (addresses, rule messages,
// payloads) is escaped by html/template and the pages run under a strict
// Content-Security-Policy: no inline script, no foreign origin.
package console

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Defaults.
const (
	DefaultAddr   = "127.0.0.1:8080"
	DefaultWindow = 24 * time.Hour
	// The records held in memory: each costs about its EVE line and a few
	// hundred bytes, so the defaults stay within a few hundred megabytes.
	DefaultMaxAlerts = 100_000
	DefaultMaxFlows  = 100_000
	// TokenEnv names the environment variable that can hold the token.
	TokenEnv = "XDPSENSOR_UI_TOKEN"
)

// Config configures a Server.
type Config struct {
	Dir  string // the sensor's output directory (run/replay --out)
	Addr string // host:port to listen on; loopback unless a token or client CA is given
	// Token, when set, must be presented by every request: once as
	// ?token=, which sets a cookie, or as "Authorization: Bearer TOKEN".
	Token string
	// TLSCert and TLSKey serve HTTPS; ClientCA also requires client
	// certificates signed by it.
	TLSCert, TLSKey, ClientCA string
	PinDir                    string        // the running sensor's maps, for health when eve.json has no stats events
	Window                    time.Duration // an alert's host sessions: this long before and after it
	Logger                    *slog.Logger
	Poll                      time.Duration // how often eve.json and conn.log are checked for growth
	// MaxAlerts and MaxFlows bound the records held in memory; past them
	// the oldest are forgotten, flows that neither alerted nor touch a
	// listed address first.
	MaxAlerts, MaxFlows int
}

// IsLoopback tells whether an --addr host is only reachable from this machine.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.IsLoopback()
}

// Check validates the configuration: safe by default, a non-loopback
// address needs a token or client certificates.
func (c *Config) Check() error {
	if c.Dir == "" {
		return errors.New("--dir: the sensor's output directory is required")
	}
	if st, err := os.Stat(c.Dir); err != nil || !st.IsDir() {
		return fmt.Errorf("--dir %s: not a directory", c.Dir)
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("--addr %q: want host:port (127.0.0.1:8080): %w", c.Addr, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if c.ClientCA != "" && c.TLSCert == "" {
		return errors.New("--tls-client-ca needs --tls-cert and --tls-key: client certificates are checked in TLS")
	}
	if !IsLoopback(host) && c.Token == "" && c.ClientCA == "" {
		return fmt.Errorf("--addr %s is reachable from other machines: give --token (or %s) or --tls-client-ca, or listen on 127.0.0.1", c.Addr, TokenEnv)
	}
	return nil
}

//go:embed templates assets
var content embed.FS

// Server is the console. Its index follows the output directory from
// Start until the context given to Start ends.
type Server struct {
	cfg      Config
	log      *slog.Logger
	index    *Index
	pinned   *pinnedHealth
	pages    *pages
	assets   fs.FS
	loopback bool // bound to loopback: Host headers must name loopback (DNS rebinding)
	streams  chan struct{}
	sensor   string // this machine's name, for records without a host field
}

// New returns a Server for cfg (after Check).
func New(cfg Config) (*Server, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.MaxAlerts <= 0 {
		cfg.MaxAlerts = DefaultMaxAlerts
	}
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = DefaultMaxFlows
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	pg, err := parsePages()
	if err != nil {
		return nil, fmt.Errorf("serving console: %w", err)
	}
	assets, err := fs.Sub(content, "assets")
	if err != nil {
		return nil, fmt.Errorf("serving console: %w", err)
	}
	host, _, _ := net.SplitHostPort(cfg.Addr)
	sensor, _ := os.Hostname()
	return &Server{
		cfg:      cfg,
		log:      log,
		index:    newIndex(cfg.MaxAlerts, cfg.MaxFlows),
		pinned:   &pinnedHealth{pinDir: cfg.PinDir, every: 5 * time.Second},
		pages:    pg,
		assets:   assets,
		loopback: IsLoopback(host),
		streams:  make(chan struct{}, 64),
		sensor:   sensor,
	}, nil
}

// Index gives the records read so far.
func (s *Server) Index() *Index { return s.index }

// Start follows the output directory (eve.json, conn.log) and, when a pin
// directory is set, the sensor's maps, until ctx ends.
func (s *Server) Start(ctx context.Context) {
	go s.follow(ctx)
	if s.cfg.PinDir != "" {
		go s.pinned.run(ctx)
	}
}

func (s *Server) follow(ctx context.Context) {
	const maxLine = 4 << 20
	eveFile := newFollower(filepath.Join(s.cfg.Dir, "eve.json"), maxLine)
	connFile := newFollower(filepath.Join(s.cfg.Dir, "conn.log"), maxLine)
	defer eveFile.close()
	defer connFile.close()
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	var lastErr string
	for {
		// conn.log first: a flow's state is there when its EVE record shows.
		err := errors.Join(connFile.poll(s.index.conns.add), eveFile.poll(s.index.addEVE))
		if err != nil && err.Error() != lastErr {
			s.log.Warn("serving console: reading the sensor's output", "err", err)
		}
		lastErr = ""
		if err != nil {
			lastErr = err.Error()
		}
		s.index.setLoaded()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Serve serves HTTP (HTTPS with TLSCert) on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: the live stream and large captures take long.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.cfg.TLSCert != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if s.cfg.ClientCA != "" {
			pem, err := os.ReadFile(s.cfg.ClientCA)
			if err != nil {
				return fmt.Errorf("serving console: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("serving console: %s holds no PEM certificate", s.cfg.ClientCA)
			}
			tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
		srv.TLSConfig = tc
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	var err error
	if s.cfg.TLSCert != "" {
		err = srv.ServeTLS(l, s.cfg.TLSCert, s.cfg.TLSKey)
	} else {
		err = srv.Serve(l)
	}
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	return fmt.Errorf("serving console: %w", err)
}

// ListenAndServe listens on cfg.Addr and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context) error {
	l, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("serving console: %w", err)
	}
	scheme := "http"
	if s.cfg.TLSCert != "" {
		scheme = "https"
	}
	s.log.Info("serving console", "url", scheme+"://"+l.Addr().String()+"/", "dir", s.cfg.Dir,
		"token", s.cfg.Token != "", "client_certificates", s.cfg.ClientCA != "")
	if !s.loopback && s.cfg.TLSCert == "" {
		s.log.Warn("serving console over plain HTTP beyond loopback: the token crosses the network in clear; give --tls-cert/--tls-key")
	}
	s.Start(ctx)
	return s.Serve(ctx, l)
}

// contentSecurityPolicy allows the console's own script and styles only:
// no inline script or style, no other origin, no framing, and HTML put
// into the page only through the console's Trusted Types policy.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types console"

// Handler returns the console's routes behind its guards.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleAlerts)
	mux.HandleFunc("GET /alerts/{id}", s.handleAlert)
	mux.HandleFunc("GET /flows/{id}", s.handleFlow)
	mux.HandleFunc("GET /hosts/{addr}", s.handleHost)
	mux.HandleFunc("GET /api/events", s.handleEvents)
	mux.HandleFunc("GET /api/hosts/{addr}/timeline", s.handleTimeline)
	mux.Handle("GET /static/", http.StripPrefix("/static/", s.staticHandler()))
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/icon.svg", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the console is read-only", http.StatusMethodNotAllowed)
			return
		}
		s.notFound(w, r, "no such page")
	})
	return s.guard(mux)
}

const tokenCookie = "xdpsensor_console"

// guard sets the security headers, refuses writes and foreign Host
// headers, and checks the token.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "the console is read-only", http.StatusMethodNotAllowed)
			return
		}
		// A page on another site can make a browser send requests to
		// 127.0.0.1 under its own host name (DNS rebinding); a console on
		// loopback answers only to loopback names.
		if s.loopback && !IsLoopback(hostOnly(r.Host)) {
			http.Error(w, "the console answers to localhost only", http.StatusMisdirectedRequest)
			return
		}
		if s.cfg.Token != "" && !s.authorized(w, r) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// authorized checks the token; a valid ?token= becomes a cookie and the
// browser is sent to the same URL without it (out of history and logs).
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	same := func(v string) bool { return subtle.ConstantTimeCompare([]byte(v), []byte(s.cfg.Token)) == 1 }
	if q := r.URL.Query(); q.Has("token") {
		if !same(q.Get("token")) {
			http.Error(w, "wrong token", http.StatusUnauthorized)
			return false
		}
		http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: s.cfg.Token, Path: "/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		q.Del("token")
		u := *r.URL
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
		return false
	}
	if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && same(auth) {
		return true
	}
	if c, err := r.Cookie(tokenCookie); err == nil && same(c.Value) {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="xdpsensor console"`)
	http.Error(w, "this console needs its token: open /?token=TOKEN once, or send Authorization: Bearer TOKEN", http.StatusUnauthorized)
	return false
}

// staticHandler serves the embedded assets; their URLs carry a version,
// so they may be cached.
func (s *Server) staticHandler() http.Handler {
	files := http.FileServerFS(s.assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") || r.URL.Path == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}

// Package fleet joins sensors through NATS JetStream: each sensor
// publishes its alerts, flow records and stats events as EVE JSON into one
// stream (through an on-disk spool, so that nothing is lost while the
// server is away), watches one key-value bucket for the fleet's blocklist,
// and the fleet listing reads every sensor's latest stats events.
//
// Subjects are xdpsensor.<sensor>.<event_type>; each message carries a
// Nats-Msg-Id derived from the event's identity, so that the stream
// drops a re-sent event as a duplicate.
package fleet

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Names the fleet shares unless configured otherwise.
const (
	DefaultStream        = "XDPSENSOR"
	DefaultBucket        = "xdpsensor-blocklist"
	SubjectPrefix        = "xdpsensor"
	DefaultMaxAge        = 7 * 24 * time.Hour
	DefaultDedupWindow   = 2 * time.Minute
	DefaultSpoolSize     = 256 << 20
	DefaultMaxInflight   = 1024
	DefaultAckTimeout    = 5 * time.Second
	DefaultDrainTimeout  = 10 * time.Second
	defaultReconnectWait = 250 * time.Millisecond
)

// ConnOptions say how to reach and authenticate to the NATS servers.
type ConnOptions struct {
	// URL is one server URL or several, comma-separated
	// (nats://host:4222,tls://host2:4222); user:password@ may be in it.
	URL string
	// Creds is a credentials file (JWT and NKey seed).
	Creds string
	// NKeySeed is a file holding a user NKey seed.
	NKeySeed string
	// User and Password, when not in the URL.
	User, Password string
	// TLSCA verifies the server; TLSCert and TLSKey are a client
	// certificate for servers that ask for one.
	TLSCA, TLSCert, TLSKey string
	// Name is the client name the server shows (the sensor name).
	Name string
}

// Connect dials the servers. With retry it returns at once even when no
// server answers yet and keeps trying in the background (a sensor starts
// while the server is down); without, an unreachable server is an error
// (the command-line tools). The connection reconnects forever.
func Connect(o ConnOptions, log *slog.Logger, retry bool, handlers ...nats.Option) (*nats.Conn, error) {
	if o.URL == "" {
		return nil, errors.New("connecting to nats: no server URL (--nats)")
	}
	if log == nil {
		log = slog.Default()
	}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(defaultReconnectWait),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		// No reconnect buffer: a publish while disconnected fails at once
		// and the event stays in our spool, where it is re-sent in order.
		nats.ReconnectBufSize(-1),
		nats.Timeout(2 * time.Second),
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
	}
	if retry {
		// A daemon: it says when the link comes and goes.
		opts = append(opts, nats.RetryOnFailedConnect(true),
			nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
				if err != nil {
					log.Warn("fleet: nats disconnected", "err", err)
				}
			}),
			nats.ReconnectHandler(func(nc *nats.Conn) {
				log.Info("fleet: nats reconnected", "server", nc.ConnectedUrlRedacted())
			}),
			nats.ConnectHandler(func(nc *nats.Conn) {
				log.Info("fleet: nats connected", "server", nc.ConnectedUrlRedacted())
			}))
	}
	if o.Creds != "" {
		if _, err := os.Stat(o.Creds); err != nil {
			return nil, fmt.Errorf("connecting to nats: --nats-creds: %w", err)
		}
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if o.NKeySeed != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKeySeed)
		if err != nil {
			return nil, fmt.Errorf("connecting to nats: --nats-nkey: %w", err)
		}
		opts = append(opts, opt)
	}
	if o.User != "" || o.Password != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("connecting to nats: --nats-tls-cert and --nats-tls-key go together")
	}
	if o.TLSCert != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	opts = append(opts, handlers...)
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to nats: %w", err)
	}
	return nc, nil
}

// SubjectToken turns a sensor name into one NATS subject token: what a
// token cannot hold (dots, wildcards, spaces) becomes '_', so that the
// FQDN sensor1.dc2.example.org publishes on
// xdpsensor.sensor1_dc2_example_org.alert.
func SubjectToken(name string) string {
	if name == "" {
		return "_"
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Subject is where a sensor publishes events of one type.
func Subject(sensor, eventType string) string {
	return SubjectPrefix + "." + SubjectToken(sensor) + "." + eventType
}

// DefaultSensorName is the host name (what `--sensor-name` defaults to
// with --nats).
func DefaultSensorName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "xdpsensor"
	}
	return h
}

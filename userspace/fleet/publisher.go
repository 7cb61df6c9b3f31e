package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/xdpsensor/xdpsensor/userspace/eve"
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// StreamOptions describe the JetStream stream the events go to. A stream
// that exists is used as it is (a warning names what differs); one that
// does not is created with these.
type StreamOptions struct {
	Name     string        // default DefaultStream
	MaxAge   time.Duration // 0: DefaultMaxAge; negative: unlimited
	MaxBytes int64         // 0 or negative: unlimited
	Replicas int           // 0: 1
	// DedupWindow is how long the stream remembers message ids: a re-sent
	// event within it is dropped as a duplicate (default 2 minutes).
	DedupWindow time.Duration
}

func (o StreamOptions) config() jetstream.StreamConfig {
	c := jetstream.StreamConfig{
		Name:        o.Name,
		Description: "xdpsensor events (EVE JSON): " + SubjectPrefix + ".<sensor>.<event_type>",
		Subjects:    []string{SubjectPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      o.MaxAge,
		MaxBytes:    o.MaxBytes,
		MaxMsgs:     -1,
		Replicas:    o.Replicas,
		Duplicates:  o.DedupWindow,
	}
	if c.Name == "" {
		c.Name = DefaultStream
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	} else if c.MaxAge < 0 {
		c.MaxAge = 0
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = -1
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Duplicates <= 0 {
		c.Duplicates = DefaultDedupWindow
	}
	if c.MaxAge > 0 && c.Duplicates > c.MaxAge {
		c.Duplicates = c.MaxAge
	}
	return c
}

// Config configures a Publisher.
type Config struct {
	Conn ConnOptions
	// SensorName names the sensor: its subject token and, through EVE,
	// the host field.
	SensorName string
	// EVE are the options eve.json is written with, so that the stream
	// carries the same bytes.
	EVE    eve.Options
	Stream StreamOptions
	// Bucket is the blocklist key-value bucket (default DefaultBucket).
	Bucket string
	// SpoolDir holds the spool (OUT/spool); SpoolSize bounds it.
	SpoolDir  string
	SpoolSize int64
	// MaxInflight bounds the publishes awaiting an ack.
	MaxInflight int
	// AckTimeout: a publish not acked within it is re-sent.
	AckTimeout time.Duration
	// DrainTimeout is how long Close waits for the spool to be sent; what
	// is left goes out on the next start.
	DrainTimeout time.Duration
	Logger       *slog.Logger
}

// Publisher is an output (event.Sink and event.StatsSink) that publishes
// every event to JetStream through the spool. Its Write methods are for
// the ring drain's goroutine; they only append to the spool file.
type Publisher struct {
	cfg    Config
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	spool  *spool
	stream jetstream.StreamConfig

	token                          string
	subjAlert, subjFlow, subjStats string
	line                           []byte // encoding buffer, drain goroutine only
	id                             []byte

	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	published, duplicates, resent atomic.Uint64
	connected                     atomic.Bool
	lastDropLog                   atomic.Int64 // unix ns
	droppedLogged                 atomic.Uint64

	bl blocklistState

	watchCancel context.CancelFunc
	watchDone   chan struct{}
	closeOnce   sync.Once
	closeErr    error
}

// NewPublisher opens the spool and connects (in the background: the
// server may be down) and starts the sender.
func NewPublisher(cfg Config) (*Publisher, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SensorName == "" {
		cfg.SensorName = DefaultSensorName()
	}
	if cfg.SpoolDir == "" {
		return nil, errors.New("publishing to nats: no spool directory")
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = DefaultMaxInflight
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultBucket
	}
	if cfg.Conn.Name == "" {
		cfg.Conn.Name = "xdpsensor " + cfg.SensorName
	}
	sp, err := openSpool(cfg.SpoolDir, cfg.SpoolSize)
	if err != nil {
		return nil, fmt.Errorf("publishing to nats: %w", err)
	}
	p := &Publisher{
		cfg: cfg, log: cfg.Logger, spool: sp, stream: cfg.Stream.config(),
		token: SubjectToken(cfg.SensorName),
		wake:  make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		line: make([]byte, 0, 4096),
	}
	p.subjAlert = Subject(cfg.SensorName, "alert")
	p.subjFlow = Subject(cfg.SensorName, "flow")
	p.subjStats = Subject(cfg.SensorName, "stats")
	p.nc, err = Connect(cfg.Conn, p.log, true)
	if err != nil {
		sp.close()
		return nil, err
	}
	p.js, err = jetstream.New(p.nc,
		jetstream.WithPublishAsyncMaxPending(4*cfg.MaxInflight),
		jetstream.WithPublishAsyncTimeout(cfg.AckTimeout))
	if err != nil {
		p.nc.Close()
		sp.close()
		return nil, fmt.Errorf("publishing to nats: %w", err)
	}
	if n := sp.bytes(); n > 0 {
		p.log.Info("fleet: events spooled by an earlier run will be sent first", "spool", cfg.SpoolDir, "bytes", n)
	}
	p.log.Info("fleet: publishing to nats", "subjects", SubjectPrefix+"."+p.token+".*", "stream", p.stream.Name,
		"spool", cfg.SpoolDir, "spool_limit", sp.limit)
	go p.send()
	return p, nil
}

var (
	_ event.Sink      = (*Publisher)(nil)
	_ event.StatsSink = (*Publisher)(nil)
)

// WriteAlert spools a's EVE alert record; its message id is the alert id.
func (p *Publisher) WriteAlert(a *event.Alert) error {
	p.line = eve.AppendAlert(p.line[:0], a, p.cfg.EVE)
	p.id = append(append(p.id[:0], p.token...), "/alert/"...)
	p.id = strconv.AppendUint(p.id, a.ID, 10)
	return p.add(p.subjAlert)
}

// WriteFlow spools f's EVE flow record; its message id is the flow id
// and end time (a flow id comes back after the flow ended).
func (p *Publisher) WriteFlow(f *event.Flow) error {
	p.line = eve.AppendFlow(p.line[:0], f, p.cfg.EVE)
	p.id = append(append(p.id[:0], p.token...), "/flow/"...)
	p.id = strconv.AppendUint(p.id, f.FlowID, 10)
	p.id = append(p.id, '/')
	p.id = strconv.AppendInt(p.id, f.End.UnixNano(), 10)
	return p.add(p.subjFlow)
}

// WriteStats spools s as an EVE stats record, with the fleet's own
// counters added unless s has them, and sends it at once.
func (p *Publisher) WriteStats(s *event.Stats) error {
	st := *s
	if !hasFleetCounters(s.Counters) {
		st.Counters = append(append([]event.Counter(nil), s.Counters...), p.Counters()...)
	}
	// Stats events always name their sensor: the fleet listing goes by it.
	host := p.cfg.EVE.SensorName
	if host == "" {
		host = p.cfg.SensorName
	}
	opts := p.cfg.EVE
	opts.SensorName = host
	p.line = eve.AppendStats(p.line[:0], &st, opts)
	p.id = append(append(p.id[:0], p.token...), "/stats/"...)
	p.id = strconv.AppendInt(p.id, s.Time.UnixNano(), 10)
	if err := p.add(p.subjStats); err != nil {
		return err
	}
	return p.Flush()
}

func hasFleetCounters(cs []event.Counter) bool {
	for _, c := range cs {
		if strings.HasPrefix(c.Name, "fleet.") {
			return true
		}
	}
	return false
}

func (p *Publisher) add(subject string) error {
	ok, err := p.spool.appendRecord(subject, string(p.id), p.line)
	if err != nil {
		return fmt.Errorf("publishing to nats: %w", err)
	}
	if !ok {
		p.noteDrop()
	}
	return nil
}

// noteDrop logs the first event the full spool refused, then a summary
// at most every 10 s.
func (p *Publisher) noteDrop() {
	now := time.Now().UnixNano()
	last := p.lastDropLog.Load()
	if last != 0 && now-last < int64(10*time.Second) {
		return
	}
	if !p.lastDropLog.CompareAndSwap(last, now) {
		return
	}
	_, dropped := p.spool.counts()
	since := dropped - p.droppedLogged.Swap(dropped)
	if since == 0 {
		return
	}
	attrs := []any{"fleet_spool_dropped", dropped, "since_last_report", since, "spool_limit", p.spool.limit}
	if err := p.spool.lastError(); err != nil {
		attrs = append(attrs, "last_write_error", err)
	}
	p.log.Warn("fleet: events dropped: the spool is full or cannot be written (they are in the local outputs, not in nats)", attrs...)
}

// Flush makes what was written visible to the sender and wakes it (the
// pipeline calls it once per drain round).
func (p *Publisher) Flush() error {
	p.spool.flush()
	if _, dropped := p.spool.counts(); dropped != p.droppedLogged.Load() {
		p.noteDrop() // records a failed flush dropped
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// Close stops the blocklist watcher, sends what the spool holds (for up
// to DrainTimeout; the rest is sent on the next start) and disconnects.
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() {
		if p.watchCancel != nil {
			p.watchCancel()
			<-p.watchDone
		}
		p.spool.flush()
		close(p.stop)
		<-p.done
		if err := p.spool.close(); err != nil {
			p.closeErr = fmt.Errorf("publishing to nats: %w", err)
		}
		p.nc.Close()
	})
	return p.closeErr
}

// Conn is the publisher's connection (the blocklist watcher shares it).
func (p *Publisher) Conn() *nats.Conn { return p.nc }

// flight is a spooled record in the send window.
type flight struct {
	rec spoolRecord
	fut jetstream.PubAckFuture // nil: not sent (or to be sent again)
}

// send is the sender goroutine: spool → JetStream, in order, at most
// MaxInflight awaiting acks. A failed or missing ack sends the whole
// window again once the old acks are settled; the stream's duplicate
// window drops what had arrived.
func (p *Publisher) send() {
	defer close(p.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var (
		window      []flight
		sent        int // window[:sent] are published, awaiting acks
		recovering  bool
		streamReady bool
		retryAt     time.Time
		backoff     = 100 * time.Millisecond
		spoolEmpty  bool // the spool had nothing more: look again when woken
		stop        = p.stop
		deadline    time.Time
		savedAt     spoolPos
		streamErr   string
	)
	saveCursor := func() {
		if p.spool.acked != savedAt {
			if err := p.spool.saveCursor(); err != nil {
				p.log.Error("fleet: saving the spool cursor", "err", err)
			}
			savedAt = p.spool.acked
		}
	}
	defer saveCursor()
	for {
		connected := p.nc.IsConnected()
		p.connected.Store(connected)
		now := time.Now()
		if !connected {
			streamReady = false
		}
		if connected && !streamReady && !now.Before(retryAt) {
			if err := p.ensureStream(); err != nil {
				if err.Error() != streamErr {
					p.log.Warn("fleet: stream not ready, events stay in the spool", "stream", p.stream.Name, "err", err)
					streamErr = err.Error()
				}
				retryAt = now.Add(time.Second)
			} else {
				streamReady, streamErr = true, ""
			}
		}
		if recovering && p.js.PublishAsyncPending() == 0 {
			recovering = false
		}
		if connected && streamReady && !recovering && !now.Before(retryAt) {
			for {
				if sent == len(window) {
					if len(window) >= p.cfg.MaxInflight || spoolEmpty {
						break
					}
					rec, ok, err := p.spool.next()
					if err != nil {
						p.log.Error("fleet: reading the spool", "err", err)
						retryAt = now.Add(time.Second)
						break
					}
					spoolEmpty = !ok
					if !ok {
						break
					}
					window = append(window, flight{rec: rec})
				}
				if err := p.publish(&window[sent]); err != nil {
					retryAt = now.Add(backoff)
					break
				}
				sent++
			}
		}
		if stop == nil {
			if len(window) == 0 && !spoolEmpty {
				// Disconnected, the loop above did not look: is anything
				// left? (A record read here waits in the window.)
				rec, ok, err := p.spool.next()
				if ok {
					window = append(window, flight{rec: rec})
				}
				spoolEmpty = !ok && err == nil
			}
			if len(window) == 0 && spoolEmpty && !p.spool.isDirty() {
				return
			}
			if now.After(deadline) {
				p.log.Warn("fleet: stopping with events not yet acked; they stay in the spool for the next start",
					"spool", p.cfg.SpoolDir, "in_flight", len(window), "spool_bytes", p.spool.bytes())
				return
			}
		}

		var okc <-chan *jetstream.PubAck
		var errc <-chan error
		if sent > 0 {
			okc, errc = window[0].fut.Ok(), window[0].fut.Err()
		}
		select {
		case ack := <-okc:
			if ack.Duplicate {
				p.duplicates.Add(1)
			}
			p.published.Add(1)
			p.spool.ack(window[0].rec.end)
			window[0] = flight{}
			window = window[1:]
			sent--
			backoff = 100 * time.Millisecond
		case err := <-errc:
			p.resent.Add(uint64(sent))
			if errors.Is(err, jetstream.ErrNoStreamResponse) {
				streamReady = false
			}
			p.log.Warn("fleet: publish not acked, sending again from the spool", "err", err, "events", sent)
			for i := range window[:sent] {
				window[i].fut = nil
			}
			sent = 0
			recovering = true
			retryAt = time.Now().Add(backoff)
			backoff = min(2*backoff, 2*time.Second)
		case <-p.wake:
			spoolEmpty = false
		case <-tick.C:
			spoolEmpty = false
			p.spool.flush()
			saveCursor()
		case <-stop:
			stop = nil
			deadline = time.Now().Add(p.cfg.DrainTimeout)
			spoolEmpty = false
		}
	}
}

func (p *Publisher) publish(f *flight) error {
	m := &nats.Msg{Subject: f.rec.subject, Data: f.rec.data, Header: nats.Header{jetstream.MsgIDHeader: []string{f.rec.msgID}}}
	fut, err := p.js.PublishMsgAsync(m)
	if err != nil {
		return err
	}
	f.fut = fut
	return nil
}

// ensureStream creates the stream when it is missing, and says once what
// differs in one that exists.
func (p *Publisher) ensureStream() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err := p.js.Stream(ctx, p.stream.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = p.js.CreateStream(ctx, p.stream)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return nil // another sensor was first
		}
		if err == nil {
			p.log.Info("fleet: stream created", "stream", p.stream.Name, "subjects", p.stream.Subjects,
				"max_age", p.stream.MaxAge, "max_bytes", p.stream.MaxBytes, "replicas", p.stream.Replicas,
				"dedup_window", p.stream.Duplicates)
		}
		return err
	}
	if err != nil {
		return err
	}
	have := s.CachedInfo().Config
	if diff := streamDiff(have, p.stream); diff != "" {
		p.log.Warn("fleet: the stream exists with other settings; using it as it is", "stream", p.stream.Name, "differs", diff)
	}
	return nil
}

func streamDiff(have, want jetstream.StreamConfig) string {
	var d []string
	covers := false
	for _, s := range have.Subjects {
		if s == SubjectPrefix+".>" {
			covers = true
		}
	}
	if !covers {
		d = append(d, fmt.Sprintf("subjects %v (events on %s.> may not be stored)", have.Subjects, SubjectPrefix))
	}
	if have.MaxAge != want.MaxAge {
		d = append(d, fmt.Sprintf("max_age %v", have.MaxAge))
	}
	if have.MaxBytes != want.MaxBytes {
		d = append(d, fmt.Sprintf("max_bytes %d", have.MaxBytes))
	}
	if have.Replicas != want.Replicas {
		d = append(d, fmt.Sprintf("replicas %d", have.Replicas))
	}
	if have.Duplicates != want.Duplicates {
		d = append(d, fmt.Sprintf("dedup window %v", have.Duplicates))
	}
	return strings.Join(d, ", ")
}

// Counters are the publisher's and the blocklist watcher's counters, as
// they appear in stats events (stats.fleet.*) and metrics.
func (p *Publisher) Counters() []event.Counter {
	spooled, dropped := p.spool.counts()
	b2u := func(b bool) uint64 {
		if b {
			return 1
		}
		return 0
	}
	return []event.Counter{
		{Name: "fleet.connected", Value: b2u(p.connected.Load())},
		{Name: "fleet.events_spooled", Value: spooled},
		{Name: "fleet.events_published", Value: p.published.Load()},
		{Name: "fleet.events_duplicate", Value: p.duplicates.Load()},
		{Name: "fleet.events_resent", Value: p.resent.Load()},
		{Name: "fleet.spool_dropped", Value: dropped},
		{Name: "fleet.spool_bytes", Value: uint64(max(p.spool.bytes(), 0))},
		{Name: "fleet.blocklist_revision", Value: p.bl.revision.Load()},
		{Name: "fleet.blocklist_generation", Value: p.bl.generation.Load()},
		{Name: "fleet.blocklist_installs", Value: p.bl.installs.Load()},
		{Name: "fleet.blocklist_errors", Value: p.bl.errors.Load()},
	}
}

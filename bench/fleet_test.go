package bench

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/xdpsensor/xdpsensor/ringbuf"
	"github.com/xdpsensor/xdpsensor/userspace/eve"
	"github.com/xdpsensor/xdpsensor/userspace/event"
	"github.com/xdpsensor/xdpsensor/userspace/fleet"
	"github.com/xdpsensor/xdpsensor/userspace/fleet/fleettest"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newBenchPublisher(b *testing.B, url, dir, sensor string) *fleet.Publisher {
	p, err := fleet.NewPublisher(fleet.Config{
		Conn: fleet.ConnOptions{URL: url}, SensorName: sensor, EVE: eve.Options{SensorName: sensor, CompressIPv6: true},
		Stream: fleet.StreamOptions{Name: "BENCH", MaxBytes: 4 << 30}, SpoolDir: dir, SpoolSize: 1 << 30,
		Logger: quietLogger(), DrainTimeout: time.Second,
	})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// waitPublished waits until p's events are all acked.
func waitPublished(b *testing.B, p *fleet.Publisher, want uint64) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var published, spooled uint64
		for _, c := range p.Counters() {
			switch c.Name {
			case "fleet.events_published":
				published = c.Value
			case "fleet.events_spooled":
				spooled = c.Value
			}
		}
		if spooled != want {
			b.Fatalf("%d events spooled, want %d (the spool was full)", spooled, want)
		}
		if published >= want {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d events acked after 2 minutes", published, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkFleetPublish is one sensor's events through JetStream (a
// nats-server on this machine, file storage): flow records (EVE, ~600
// bytes) written as the drain writes them, spooled and published with
// acks, timed from the first write to the last ack ("sensor"); and, for
// scale, the same bytes and message ids published straight with the
// client's async publish, no spool ("raw-jetstream").
func BenchmarkFleetPublish(b *testing.B) {
	srv := fleettest.Start(b)
	const n = 50_000
	flows := make([]*event.Flow, n)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range flows {
		start := base.Add(time.Duration(i) * time.Microsecond)
		flows[i] = &event.Flow{FlowID: uint64(i + 1), Proto: event.ProtoTCP,
			Client: event.Endpoint{IP: netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), Port: uint16(1024 + i%60000)},
			Server: event.Endpoint{IP: netip.MustParseAddr("203.0.113.80"), Port: 443},
			Start:  start, End: start.Add(time.Second), Reason: event.EndFIN, History: "ShADadFf",
			ToServer: event.DirectionStats{Packets: 5, Bytes: 420, TCPFlags: 0x1b},
			ToClient: event.DirectionStats{Packets: 4, Bytes: 1380, TCPFlags: 0x1b}}
	}
	// Each round ends its flows later: new message ids, no duplicates.
	nextRound := func() {
		for _, f := range flows {
			f.End = f.End.Add(time.Hour)
		}
	}
	b.Run("sensor", func(b *testing.B) {
		p := newBenchPublisher(b, srv.URL(), b.TempDir(), "bench-publish")
		defer p.Close()
		var spent, cpu time.Duration
		total := uint64(0)
		for i := 0; i < b.N; i++ {
			nextRound()
			start, cpu0 := time.Now(), cpuTime()
			for j, f := range flows {
				if err := p.WriteFlow(f); err != nil {
					b.Fatal(err)
				}
				if j%1000 == 999 {
					if err := p.Flush(); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := p.Flush(); err != nil {
				b.Fatal(err)
			}
			total += n
			waitPublished(b, p, total)
			spent += time.Since(start)
			cpu += cpuTime() - cpu0
		}
		b.ReportMetric(float64(total)/spent.Seconds(), "events/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(total), "cpu-µs/event")
	})
	b.Run("raw-jetstream", func(b *testing.B) {
		nc, err := nats.Connect(srv.URL())
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(fleet.DefaultMaxInflight))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH_RAW", Subjects: []string{"bench-raw.>"}}); err != nil {
			b.Fatal(err)
		}
		var spent, cpu time.Duration
		total := 0
		for i := 0; i < b.N; i++ {
			nextRound()
			lines := make([][]byte, n)
			for j, f := range flows {
				lines[j] = eve.AppendFlow(nil, f, eve.Options{SensorName: "bench-raw", CompressIPv6: true})
			}
			start, cpu0 := time.Now(), cpuTime()
			for j, line := range lines {
				id := "bench-raw/flow/" + strconv.FormatUint(flows[j].FlowID, 10) + "/" + strconv.FormatInt(flows[j].End.UnixNano(), 10)
				if _, err := js.PublishAsync("bench-raw.x.flow", line, jetstream.WithMsgID(id)); err != nil {
					b.Fatal(err)
				}
			}
			<-js.PublishAsyncComplete()
			spent += time.Since(start)
			cpu += cpuTime() - cpu0
			total += n
		}
		b.ReportMetric(float64(total)/spent.Seconds(), "events/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(total), "cpu-µs/event")
	})
}

// BenchmarkFleetDrain is the ring drain as the pipeline runs it (decode,
// eve.json on disk, a flush per round) without and with the fleet
// publisher among the outputs, in the same run: what --nats costs the
// drain. With nats-on the sender, the client and nats-server run on the
// same two CPUs as the drain (a fleet's server is elsewhere).
func BenchmarkFleetDrain(b *testing.B) {
	setup(b)
	srv := fleettest.Start(b)
	sb := sensors[""]
	frame := toCC.Build()
	const batch = 100_000
	// nats-unreachable: the publisher spools and nothing is sent, the
	// drain's own share of the cost (a second EVE encoding, the spool file).
	for _, mode := range []string{"nats-off", "nats-on", "nats-unreachable"} {
		name := mode
		withNATS := mode != "nats-off"
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			w, err := eve.Open(filepath.Join(dir, "eve.json"), eve.Options{SensorName: "bench-drain", CompressIPv6: true})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			sinks := []event.Sink{w}
			var pub *fleet.Publisher
			if withNATS {
				u := srv.URL()
				if mode == "nats-unreachable" {
					u = "nats://127.0.0.1:1"
				}
				pub = newBenchPublisher(b, u, filepath.Join(dir, "spool"), "bench-drain")
				defer pub.Close()
				sinks = append(sinks, pub)
			}
			rules := &ringbuf.KernelRules{Map: sb.s.Objects.Rules}
			dec := &ringbuf.Decoder{Rules: rules, Clock: func(ns uint64) time.Time { return time.Unix(0, int64(ns)) }}
			var events int
			var spent time.Duration
			for i := 0; i < b.N; i++ {
				sb.fill(b, frame, batch)
				start := time.Now()
				n := 0
				err := sb.reader.Drain(func(raw []byte) error {
					a, err := dec.Alert(raw)
					if err != nil {
						return err
					}
					for _, s := range sinks {
						if err := s.WriteAlert(a); err != nil {
							return err
						}
					}
					n++
					// The pipeline flushes once per drain round (100 ms).
					if n%50_000 == 0 {
						for _, s := range sinks {
							if err := s.(interface{ Flush() error }).Flush(); err != nil {
								return err
							}
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				for _, s := range sinks {
					if err := s.(interface{ Flush() error }).Flush(); err != nil {
						b.Fatal(err)
					}
				}
				spent += time.Since(start)
				if n != batch {
					b.Fatalf("drained %d events, want %d", n, batch)
				}
				events += n
				if pub != nil && mode == "nats-on" {
					// Untimed: the next round starts with the spool sent.
					waitPublished(b, pub, uint64(events))
				}
			}
			b.ReportMetric(float64(events)/spent.Seconds()/1e6, "Mevents/s")
		})
	}
}

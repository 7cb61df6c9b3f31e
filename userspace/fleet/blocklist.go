package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
	"github.com/xdpsensor/xdpsensor/userspace/blocklistmaps"
)

// The fleet's blocklist lives in a key-value bucket: the raw files, in
// chunks under content-addressed keys (file.<sha256>.<n>), and one key,
// "manifest", naming them in order with the format. Publishing writes the
// chunks first and the manifest last, so a sensor watching the manifest
// only ever sees a complete version; its KV revision is the version's name.
const (
	manifestKey     = "manifest"
	chunkKeyPrefix  = "file."
	bucketHistory   = 10
	maxChunkDefault = 1 << 20
)

// Manifest is one published version of the fleet's blocklist.
type Manifest struct {
	Files     []ManifestFile `json:"files"`
	Format    string         `json:"format"` // as `blocklist load --format`: auto detects per file
	Published time.Time      `json:"published"`
	Publisher string         `json:"publisher,omitempty"`
}

// ManifestFile is one file of a version, in load order.
type ManifestFile struct {
	Name   string `json:"name"` // as given to `blocklist publish`: rule sources read name:line
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
	Chunks int    `json:"chunks"`
}

func chunkKey(sum string, i int) string { return fmt.Sprintf("%s%s.%d", chunkKeyPrefix, sum, i) }

// blocklistState is what the watcher reports in stats and metrics.
type blocklistState struct {
	revision, generation, installs, errors atomic.Uint64
}

// PublishOptions configure PublishBlocklist.
type PublishOptions struct {
	Bucket    string // default DefaultBucket
	Format    string // default auto
	Publisher string // who published (the host name)
	Replicas  int    // of a bucket created here
}

// PublishBlocklist stores files (already validated by the caller with the
// same parser the sensors use) as the fleet's new blocklist version and
// returns its KV revision. Chunks no version refers to any more are
// deleted.
func PublishBlocklist(ctx context.Context, nc *nats.Conn, files []blocklist.Input, o PublishOptions) (uint64, error) {
	if len(files) == 0 {
		return 0, errors.New("publishing to nats: no blocklist files")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, fmt.Errorf("publishing to nats: %w", err)
	}
	kv, err := openBucket(ctx, js, o.Bucket, o.Replicas)
	if err != nil {
		return 0, fmt.Errorf("publishing to nats: %w", err)
	}
	// A chunk, its key and headers must fit the server's max_payload.
	chunk := maxChunkDefault
	if mp := int(nc.MaxPayload()); mp > 0 {
		chunk = mp - 4096
	}
	m := Manifest{Format: o.Format, Published: time.Now().UTC(), Publisher: o.Publisher}
	if m.Format == "" {
		m.Format = blocklist.FormatAuto
	}
	keep := map[string]bool{}
	for _, f := range files {
		sum := sha256.Sum256(f.Data)
		mf := ManifestFile{Name: f.Name, Size: len(f.Data), SHA256: hex.EncodeToString(sum[:])}
		for off := 0; off == 0 || off < len(f.Data); off += chunk {
			key := chunkKey(mf.SHA256, mf.Chunks)
			part := f.Data[off:min(off+chunk, len(f.Data))]
			keep[key] = true
			mf.Chunks++
			// Content-addressed: a chunk already there is this chunk.
			if e, err := kv.Get(ctx, key); err == nil && len(e.Value()) == len(part) {
				continue
			}
			if _, err := kv.Put(ctx, key, part); err != nil {
				return 0, fmt.Errorf("publishing to nats: storing %s: %w", f.Name, err)
			}
		}
		m.Files = append(m.Files, mf)
	}
	doc, err := json.Marshal(m)
	if err != nil {
		return 0, err
	}
	rev, err := kv.Put(ctx, manifestKey, doc)
	if err != nil {
		return 0, fmt.Errorf("publishing to nats: storing the manifest: %w", err)
	}
	// Chunks of earlier versions: a sensor still fetching one of them
	// fails that version and installs this one, which it is told of next.
	if keys, err := kv.ListKeys(ctx); err == nil {
		for key := range keys.Keys() {
			if strings.HasPrefix(key, chunkKeyPrefix) && !keep[key] {
				kv.Purge(ctx, key)
			}
		}
	}
	return rev, nil
}

// openBucket opens the blocklist bucket, creating it when missing.
func openBucket(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (jetstream.KeyValue, error) {
	if bucket == "" {
		bucket = DefaultBucket
	}
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      bucket,
			Description: "xdpsensor fleet blocklist: manifest and file chunks",
			History:     bucketHistory,
			Replicas:    max(replicas, 1),
			Storage:     jetstream.FileStorage,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("blocklist bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// FetchBlocklist reads the version a manifest entry names: the files, in
// order, checked against their sizes and hashes.
func FetchBlocklist(ctx context.Context, kv jetstream.KeyValue, entry jetstream.KeyValueEntry) (*Manifest, []blocklist.Input, error) {
	var m Manifest
	if err := json.Unmarshal(entry.Value(), &m); err != nil {
		return nil, nil, fmt.Errorf("manifest revision %d: %w", entry.Revision(), err)
	}
	var files []blocklist.Input
	for _, f := range m.Files {
		data := make([]byte, 0, f.Size)
		for i := range f.Chunks {
			e, err := kv.Get(ctx, chunkKey(f.SHA256, i))
			if err != nil {
				return nil, nil, fmt.Errorf("%s chunk %d: %w", f.Name, i, err)
			}
			data = append(data, e.Value()...)
		}
		sum := sha256.Sum256(data)
		if len(data) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
			return nil, nil, fmt.Errorf("%s: %d bytes that do not match the manifest (%d bytes, sha256 %s)", f.Name, len(data), f.Size, f.SHA256)
		}
		files = append(files, blocklist.Input{Name: f.Name, Data: data})
	}
	return &m, files, nil
}

// WatchOptions say how a watching sensor turns a version into a list
// and installs it.
type WatchOptions struct {
	// Parse reads the files as the sensor reads its own (classification
	// table, default threshold).
	Parse func(files []blocklist.Input, format string) (*blocklist.List, error)
	// Install replaces the kernel's list (the two-slot reload).
	Install func(*blocklist.List) (blocklistmaps.InstallStats, error)
	// Poll is how often the manifest is also read directly, in case the
	// watch missed a change (default 10 s).
	Poll time.Duration
}

// WatchBlocklist starts watching the bucket: every new version is
// installed through o.Install, logged and counted. Until the server
// answers, the sensor keeps the list it has (its pinned one). Close
// stops the watcher.
func (p *Publisher) WatchBlocklist(o WatchOptions) {
	if o.Poll <= 0 {
		o.Poll = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.watchCancel = cancel
	p.watchDone = make(chan struct{})
	go func() {
		defer close(p.watchDone)
		w := &watcher{p: p, o: o}
		w.run(ctx)
	}()
}

type watcher struct {
	p             *Publisher
	o             WatchOptions
	seen          uint64    // manifest revision handled last (installed or failed)
	seenPublished time.Time // and when it was published
	err           string    // last error logged, to log each once
}

func (w *watcher) logErr(msg string, err error) {
	if err.Error() != w.err {
		w.p.log.Warn(msg, "bucket", w.p.cfg.Bucket, "err", err)
		w.err = err.Error()
	}
}

func (w *watcher) run(ctx context.Context) {
	js, err := jetstream.New(w.p.nc)
	if err != nil {
		w.p.log.Error("fleet blocklist: watch disabled", "err", err)
		return
	}
	for ctx.Err() == nil {
		if !w.p.nc.IsConnected() {
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		kv, err := openBucket(ctx, js, w.p.cfg.Bucket, w.p.stream.Replicas)
		if err != nil {
			w.logErr("fleet blocklist: bucket not ready, keeping the current list", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		watch, err := kv.Watch(ctx, manifestKey)
		if err != nil {
			w.logErr("fleet blocklist: cannot watch, keeping the current list", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		w.p.log.Info("fleet blocklist: watching", "bucket", w.p.cfg.Bucket)
		w.err = ""
		w.follow(ctx, kv, watch)
		watch.Stop()
	}
}

// follow installs what the watch delivers until it ends or ctx is done.
// It also reads the manifest directly every Poll, and at once after a
// reconnect (then it watches anew): a watch can miss a change while the
// server is away.
func (w *watcher) follow(ctx context.Context, kv jetstream.KeyValue, watch jetstream.KeyWatcher) {
	check := time.NewTicker(min(w.o.Poll, time.Second))
	defer check.Stop()
	reconnects := w.p.nc.Stats().Reconnects
	lastPoll := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-watch.Updates():
			if !ok {
				return
			}
			if e != nil && e.Operation() == jetstream.KeyValuePut {
				w.install(ctx, kv, e)
			}
		case <-check.C:
			reconnected := w.p.nc.Stats().Reconnects != reconnects
			if !w.p.nc.IsConnected() || (!reconnected && time.Since(lastPoll) < w.o.Poll) {
				continue
			}
			lastPoll = time.Now()
			e, err := kv.Get(ctx, manifestKey)
			if err == nil {
				w.install(ctx, kv, e)
			}
			if reconnected || (err != nil && !errors.Is(err, jetstream.ErrKeyNotFound)) {
				return // watch anew
			}
		}
	}
}

func (w *watcher) install(ctx context.Context, kv jetstream.KeyValue, e jetstream.KeyValueEntry) {
	rev := e.Revision()
	source := fmt.Sprintf("kv revision %d", rev)
	var m Manifest
	if err := json.Unmarshal(e.Value(), &m); err != nil {
		if rev != w.seen {
			w.p.bl.errors.Add(1)
			w.p.log.Error("fleet blocklist: bad manifest, keeping the current list", "source", source, "err", err)
		}
		w.seen = rev
		return
	}
	// The same version again (a watch started anew), or an older one
	// behind a newer that was read directly: nothing to do. A lower
	// revision published later is a server whose store started afresh.
	if rev == w.seen || (rev < w.seen && !m.Published.After(w.seenPublished)) {
		return
	}
	w.seen, w.seenPublished = rev, m.Published
	start := time.Now()
	_, files, err := FetchBlocklist(ctx, kv, e)
	if err != nil {
		w.p.bl.errors.Add(1)
		w.p.log.Error("fleet blocklist: not installed, keeping the current list", "source", source, "err", err)
		return
	}
	list, err := w.o.Parse(files, m.Format)
	if err != nil {
		w.p.bl.errors.Add(1)
		w.p.log.Error("fleet blocklist: rejected, keeping the current list", "source", source, "err", err)
		return
	}
	st, err := w.o.Install(list)
	if err != nil {
		w.p.bl.errors.Add(1)
		w.p.log.Error("fleet blocklist: installing failed, keeping the current list", "source", source, "err", err)
		return
	}
	w.p.bl.revision.Store(rev)
	w.p.bl.generation.Store(uint64(st.Generation))
	w.p.bl.installs.Add(1)
	names := make([]string, len(m.Files))
	for i, f := range m.Files {
		names[i] = f.Name
	}
	w.p.log.Info("fleet blocklist installed", "source", source, "generation", st.Generation, "rules", st.Rules,
		"exact_v4", st.ExactV4, "exact_v6", st.ExactV6, "prefix_v4", st.PrefixV4, "prefix_v6", st.PrefixV6,
		"files", strings.Join(names, ","), "published", m.Published.Format(time.RFC3339), "publisher", m.Publisher,
		"took", time.Since(start).Round(time.Microsecond))
	if st.ThresholdsDropped > 0 {
		w.p.log.Warn("fleet blocklist: threshold windows not carried over to the new rules (thresholds table full): those rules count afresh",
			"windows", st.ThresholdsDropped)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

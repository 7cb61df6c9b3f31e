package bench

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestMain removes what the benchmarks keep for the whole process (the
// offline captures, the built binary) once they are done.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, p := range []string{peerCapturePath, sensorBinPath} {
		if p != "" {
			os.RemoveAll(filepath.Dir(p))
		}
	}
	os.Exit(code)
}

// benchLogger is for sensors a benchmark runs in-process. Their log lines
// (a blocklist installed, a warning about the veth) went to stderr in the
// middle of the benchmark's result line, and the report, which reads
// whole lines, lost that run. Warnings are kept and logged through b when
// the benchmark ends, after its result.
func benchLogger(b *testing.B) *slog.Logger {
	w := &syncBuffer{}
	b.Cleanup(func() {
		if s := w.String(); s != "" {
			b.Log(s)
		}
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

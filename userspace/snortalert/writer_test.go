package snortalert

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

type closeRecorder struct {
	bytes.Buffer
	closed int
}

func (c *closeRecorder) Close() error { c.closed++; return nil }

func TestWriterBuffersUntilFlush(t *testing.T) {
	a := seedAlert(t)
	var out closeRecorder
	w := NewWriter(&out, Full, Options{})
	for range 3 {
		if err := w.WriteAlert(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFlow(&event.Flow{FlowID: 1}); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Fatalf("%d bytes written before Flush", out.Len())
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	// Records follow each other, each ending in its blank line; the flow
	// wrote nothing.
	if got, want := out.String(), strings.Repeat(seedFull, 3); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.closed != 1 {
		t.Errorf("underlying writer closed %d times", out.closed)
	}
	if err := w.Close(); !errors.Is(err, errClosed) {
		t.Errorf("second Close: %v", err)
	}
	if err := w.WriteAlert(a); !errors.Is(err, errClosed) {
		t.Errorf("WriteAlert after Close: %v", err)
	}
	if err := w.WriteFlow(nil); !errors.Is(err, errClosed) {
		t.Errorf("WriteFlow after Close: %v", err)
	}
	if err := w.Flush(); !errors.Is(err, errClosed) {
		t.Errorf("Flush after Close: %v", err)
	}
}

func TestWriterFast(t *testing.T) {
	a := seedAlert(t)
	var out bytes.Buffer // not a Closer
	w := NewWriter(&out, Fast, Options{})
	for range 2 {
		if err := w.WriteAlert(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), seedFast+seedFast; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrShortWrite }

func TestWriterError(t *testing.T) {
	w := NewWriter(failWriter{}, Full, Options{})
	if err := w.WriteAlert(seedAlert(t)); err != nil {
		t.Fatal(err) // buffered
	}
	if err := w.Close(); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("Close: %v", err)
	}
}

func TestOpenAppends(t *testing.T) {
	a := seedAlert(t)
	path := filepath.Join(t.TempDir(), "alert")
	for range 2 {
		w, err := Open(path, Full, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteAlert(a); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(data), seedFull+seedFull; got != want {
		t.Errorf("file holds %q, want %q", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&^0o640 != 0 {
		t.Errorf("mode %v, want at most 0640", perm)
	}
	if _, err := Open(filepath.Join(path, "sub"), Fast, Options{}); err == nil {
		t.Error("Open under a file succeeded")
	}
}

package zeek

import (
	"io"
	"testing"
)

// BenchmarkWriteConn is one conn.log line of a whole TCP connection.
func BenchmarkWriteConn(b *testing.B) {
	w := NewWriter(io.Discard, Options{})
	f := tcp("ShADadFf")
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteFlow(f); err != nil {
			b.Fatal(err)
		}
	}
}

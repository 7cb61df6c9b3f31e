package eve

import (
	"io"
	"testing"
)

func BenchmarkWriteAlert(b *testing.B) {
	w := NewWriter(io.Discard, Options{SensorName: "sensor-1"})
	a := seedAlert()
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteAlert(a); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteFlow(b *testing.B) {
	w := NewWriter(io.Discard, Options{SensorName: "sensor-1"})
	f := seedFlow()
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteFlow(f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteFlowIPv6(b *testing.B) {
	w := NewWriter(io.Discard, Options{})
	f := ipv6Flow()
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteFlow(f); err != nil {
			b.Fatal(err)
		}
	}
}

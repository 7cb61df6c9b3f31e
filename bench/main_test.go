package bench

import (
	"os"
	"path/filepath"
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

package capture

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// FindOutputRing lists the ring files of a sensor's output directory:
// those in DIR/pcap, where run and replay write them, and in DIR itself.
func FindOutputRing(dir string) ([]RingFile, error) {
	var files []RingFile
	for _, d := range []string{dir, filepath.Join(dir, "pcap")} {
		found, err := FindRingFiles(d)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		files = append(files, found...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w in %s or %s", ErrNoRingFiles, dir, filepath.Join(dir, "pcap"))
	}
	return files, nil
}

package capture

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// RingFile is a capture file of a ring, known by its name:
// PREFIX_NNNNN_YYYYMMDDhhmmss.pcap or .pcapng (tshark's ring naming).
type RingFile struct {
	Path   string
	Prefix string
	Num    int
	Start  time.Time // the first packet's time to the second (UTC), from the name
	Format string    // "pcap" or "pcapng", from the extension
}

var ringNameRE = regexp.MustCompile(`^(.+)_(\d{5,})_(\d{14})\.(pcap|pcapng)$`)

// ParseRingName tells whether name (a base name) is a ring file's.
func ParseRingName(name string) (RingFile, bool) {
	m := ringNameRE.FindStringSubmatch(name)
	if m == nil {
		return RingFile{}, false
	}
	num, err := strconv.Atoi(m[2])
	if err != nil {
		return RingFile{}, false
	}
	start, err := time.Parse("20060102150405", m[3])
	if err != nil {
		return RingFile{}, false
	}
	return RingFile{Path: name, Prefix: m[1], Num: num, Start: start, Format: m[4]}, true
}

// ErrNoRingFiles is returned when a directory holds no ring files.
var ErrNoRingFiles = errors.New("no pcap ring files (PREFIX_NNNNN_YYYYMMDDhhmmss.pcap or .pcapng)")

// FindRingFiles lists the ring files in dir, of any prefix, in time order
// (name time, then prefix and number).
func FindRingFiles(dir string) ([]RingFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []RingFile
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if rf, ok := ParseRingName(e.Name()); ok {
			rf.Path = filepath.Join(dir, e.Name())
			out = append(out, rf)
		}
	}
	sortRingFiles(out)
	return out, nil
}

func sortRingFiles(files []RingFile) {
	sort.SliceStable(files, func(i, j int) bool {
		a, b := files[i], files[j]
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		if a.Prefix != b.Prefix {
			return a.Prefix < b.Prefix
		}
		return a.Num < b.Num
	})
}

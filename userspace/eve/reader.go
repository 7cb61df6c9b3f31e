package eve

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrLineTooLong is returned for a line longer than Reader.MaxLine.
var ErrLineTooLong = errors.New("EVE line too long")

// Reader reads EVE streams (one JSON object a line) for the tools that
// look things up in what a sensor wrote: carve, sessions and a restarted
// daemon's skip list.
type Reader struct {
	// MaxLine bounds a line; a longer one ends the read with
	// ErrLineTooLong. 0 reads lines of any length.
	MaxLine int
	// Needles pre-filter lines: only a line holding one of them is handed
	// on (a cheap test ahead of the JSON decoder). None hands on every line.
	Needles [][]byte
	// Tail makes ScanFile read only the file's last Tail bytes (its first
	// line there is usually cut, and fails to decode); 0 reads it all.
	Tail int64
}

// Scan calls fn with each line of in, without its line ending, until fn
// returns false. The line is valid only during the call.
func (r Reader) Scan(in io.Reader, fn func(line []byte) bool) error {
	br := bufio.NewReaderSize(in, 64<<10)
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				if r.MaxLine > 0 && len(long) > r.MaxLine+2 {
					return ErrLineTooLong
				}
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err == io.EOF && len(line) == 0 {
			return nil
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if r.MaxLine > 0 && len(line) > r.MaxLine {
			return ErrLineTooLong
		}
		if r.wants(line) && !fn(line) {
			return nil
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (r Reader) wants(line []byte) bool {
	if len(r.Needles) == 0 {
		return true
	}
	for _, n := range r.Needles {
		if bytes.Contains(line, n) {
			return true
		}
	}
	return false
}

// ScanFile scans the file at path (DIR/eve.json) as Scan does. A file
// that does not exist is os.Open's error (fs.ErrNotExist).
func (r Reader) ScanFile(path string, fn func(line []byte) bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && r.Tail > 0 && st.Size() > r.Tail {
		if _, err := f.Seek(st.Size()-r.Tail, io.SeekStart); err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
	}
	if err := r.Scan(f, fn); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

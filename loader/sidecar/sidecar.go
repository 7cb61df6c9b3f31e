// Package sidecar names the files a pin directory needs beside its BPF
// objects (bpffs holds nothing else): the daemon's lock and the
// blocklist's entry sources, under /run, keyed on the pin directory's
// device and inode so that every spelling of its path finds them.
package sidecar

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Dir holds the sidecar files.
const Dir = "/run/xdpsensor"

// Path names pinDir's file of the given kind; false when pinDir does not
// exist.
func Path(pinDir, kind string) (string, bool) {
	var st unix.Stat_t
	if pinDir == "" || unix.Stat(pinDir, &st) != nil {
		return "", false
	}
	return filepath.Join(Dir, fmt.Sprintf("%s-dev%d-ino%d", kind, st.Dev, st.Ino)), true
}

// Package pinlock serialises the writers of one pinned sensor's maps:
// the daemon (its start-up settings, fleet updates, expiry) and CLI
// commands (`blocklist load`, `add`, ...). Most of what they write is a
// read-modify-write of the one entry of the config map (generation,
// tunnel ports, capture settings, alert mode, $HOME_NET bits), which the
// kernel cannot update field by field: two writers without the lock lose
// one's change (a start-up putting back the generation a `blocklist load`
// had just moved on, and with it the old list).
package pinlock

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Lock takes the lock of the pin directory, flock(2) on the directory
// itself, waiting for its holder; unlock releases it. An unpinned
// instance (pinDir "") is private to its process and needs none. The
// lock is per open file: a holder taking it again waits for itself.
func Lock(pinDir string) (unlock func(), err error) {
	if pinDir == "" {
		return func() {}, nil
	}
	fd, err := unix.Open(pinDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", pinDir, err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("locking %s: %w", pinDir, err)
	}
	return func() { unix.Flock(fd, unix.LOCK_UN); unix.Close(fd) }, nil
}

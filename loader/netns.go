package loader

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
)

// InNetns runs fn with the calling thread in another network namespace
// (a name under /var/run/netns or a path), so that interface lookups and
// attachments happen there; an empty name runs fn where we are.
func InNetns(name string, fn func() error) error {
	if name == "" {
		return fn()
	}
	path := name
	if !strings.Contains(name, "/") {
		path = filepath.Join("/var/run/netns", name)
	}
	target, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("network namespace %q: %w", name, err)
	}
	defer target.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("reading the current network namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		return fmt.Errorf("entering network namespace %q: %w", name, err)
	}
	defer netns.Set(orig)
	return fn()
}

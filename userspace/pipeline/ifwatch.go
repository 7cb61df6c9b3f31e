package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpsensor/xdpsensor/loader"
)

// watchInterfaces follows the watched interfaces through netlink: one
// that disappears (a USB NIC pulled, a veth deleted, a driver reloaded)
// takes its XDP attachment with it, which is logged; when an interface of
// that name appears again the program is attached to it again (and to
// its TC egress in host mode), and that is logged too. It returns once it
// listens; it stops with ctx.
func watchInterfaces(ctx context.Context, s *loader.Sensor, cfg *LiveConfig, src *LiveSource, log *slog.Logger) error {
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	err := loader.InNetns(cfg.Netns, func() error {
		// The socket is opened here, in the interfaces' namespace.
		return netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
			ErrorCallback: func(err error) { log.Warn("watching interfaces", "err", err) },
		})
	})
	if err != nil {
		return fmt.Errorf("watching interfaces (netlink): %w", err)
	}
	go func() {
		<-ctx.Done()
		close(done)
	}()
	go func() {
		for u := range updates {
			if ctx.Err() != nil {
				continue // drain until the subscription closes the channel
			}
			name := u.Attrs().Name
			if !slices.Contains(cfg.Interfaces, name) {
				continue
			}
			switch u.Header.Type {
			case unix.RTM_DELLINK:
				if src.drop(name) {
					log.Error("watched interface disappeared: nothing is monitored on it until it comes back", "interface", name)
				}
			case unix.RTM_NEWLINK:
				if src.has(name) {
					continue
				}
				if err := reattach(s, cfg, src, name, log); err != nil {
					log.Error("watched interface is back but attaching failed; retried on its next change", "interface", name, "err", err)
				}
			}
		}
	}()
	return nil
}

// has reports whether name has an attachment.
func (l *LiveSource) has(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.Attachments, func(a *loader.Attachment) bool { return a.Interface == name })
}

// drop forgets (and closes) the attachments of an interface that is gone;
// false when it had none.
func (l *LiveSource) drop(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	found := false
	l.Attachments = slices.DeleteFunc(l.Attachments, func(a *loader.Attachment) bool {
		if a.Interface == name {
			// The link went with the device: a pinned one (--keep-attached)
			// must not be adopted for the device that comes next.
			a.Link.Unpin()
			a.Link.Close()
			found = true
			return true
		}
		return false
	})
	l.Egress = slices.DeleteFunc(l.Egress, func(e *loader.EgressAttachment) bool {
		if e.Interface == name {
			e.Close()
			return true
		}
		return false
	})
	return found
}

// reattach attaches the program to an interface that came back.
func reattach(s *loader.Sensor, cfg *LiveConfig, src *LiveSource, name string, log *slog.Logger) error {
	mode := cfg.XDPMode
	if mode == "" {
		mode = loader.XDPAuto
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	return loader.InNetns(cfg.Netns, func() error {
		a, err := s.Attach(name, mode)
		if err != nil {
			return err
		}
		src.Attachments = append(src.Attachments, a)
		if cfg.KeepAttached {
			if err := a.Keep(); err != nil {
				return err
			}
		}
		if cfg.HostMode {
			e, err := s.AttachEgress(name)
			if err != nil {
				return err
			}
			src.Egress = append(src.Egress, e)
			if cfg.KeepAttached {
				if err := e.Keep(); err != nil {
					return err
				}
			}
		}
		log.Info("watched interface is back: program attached again", "interface", name, "ifindex", a.Ifindex, "mode", a.Mode)
		return nil
	})
}

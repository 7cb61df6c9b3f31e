package loader

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// XDPMode chooses how the program hooks an interface.
type XDPMode string

const (
	XDPAuto    XDPMode = "auto"    // native, falling back to generic
	XDPNative  XDPMode = "native"  // in the driver
	XDPGeneric XDPMode = "generic" // in the stack (skb), any interface
)

// ParseXDPMode validates a --xdp-mode value.
func ParseXDPMode(s string) (XDPMode, error) {
	switch m := XDPMode(s); m {
	case XDPAuto, XDPNative, XDPGeneric:
		return m, nil
	}
	return "", fmt.Errorf("--xdp-mode %q: want auto, native or generic", s)
}

// Attachment is the program hooked to one interface.
type Attachment struct {
	Interface string
	Ifindex   int
	Mode      XDPMode // what the kernel gave us: native or generic
	Link      link.Link
}

// Close detaches.
func (a *Attachment) Close() error { return a.Link.Close() }

// Attach hooks the program to an interface with a bpf_link, so that the
// program goes away with the process unless the link is pinned.
func (s *Sensor) Attach(ifname string, mode XDPMode) (*Attachment, error) {
	nl, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("interface %q: no such interface (see `ip link`)", ifname)
	}
	iface := nl.Attrs()
	try := func(m XDPMode) (link.Link, error) {
		flags := link.XDPDriverMode
		if m == XDPGeneric {
			flags = link.XDPGenericMode
		}
		return link.AttachXDP(link.XDPOptions{Program: s.Objects.Xdpsensor, Interface: iface.Index, Flags: flags})
	}
	var l link.Link
	got := mode
	switch mode {
	case XDPAuto:
		got = XDPNative
		l, err = try(XDPNative)
		if err != nil {
			nativeErr := err
			got = XDPGeneric
			l, err = try(XDPGeneric)
			if err != nil {
				err = fmt.Errorf("native: %v; generic: %w", nativeErr, err)
			}
		}
	default:
		l, err = try(mode)
	}
	if err != nil {
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("attaching to %s: another XDP program is attached (%w); see `ip link show %s` and `bpftool net`", ifname, err, ifname)
		}
		return nil, fmt.Errorf("attaching to %s in %s mode: %w", ifname, mode, err)
	}
	return &Attachment{Interface: ifname, Ifindex: iface.Index, Mode: got, Link: l}, nil
}

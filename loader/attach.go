package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/safchain/ethtool"
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
	// Adopted is set when a pinned link of an earlier run was taken over
	// (its program replaced by ours, atomically).
	Adopted bool
	pinPath string // where the link is (or would be) pinned
	pinned  bool
	keep    bool
}

// Keep pins the link so that the program stays attached after we exit
// (or crash): the next run adopts it.
func (a *Attachment) Keep() error {
	if a.pinPath == "" {
		return errors.New("keeping the program attached needs a pin directory")
	}
	if !a.pinned {
		if err := a.Link.Pin(a.pinPath); err != nil {
			return fmt.Errorf("pinning the XDP link of %s: %w", a.Interface, err)
		}
		a.pinned = true
	}
	a.keep = true
	return nil
}

// Close detaches, unless Keep asked the program to stay.
func (a *Attachment) Close() error {
	if !a.keep && a.pinned {
		if err := a.Link.Unpin(); err != nil {
			return err
		}
	}
	return a.Link.Close()
}

func linkPin(dir, kind, ifname string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "link_"+kind+"_"+ifname)
}

// adopt takes over a pinned link of an earlier run: our program replaces
// the one attached, in one atomic step, and the link keeps its mode.
func adopt(path string, prog *ebpf.Program) (link.Link, error) {
	if path == "" {
		return nil, nil
	}
	l, err := link.LoadPinnedLink(path, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening the pinned link %s: %w", path, err)
	}
	if err := l.Update(prog); err != nil {
		l.Close()
		return nil, fmt.Errorf("replacing the program of the pinned link %s: %w", path, err)
	}
	return l, nil
}

// Attach hooks the program to an interface with a bpf_link, so that the
// program goes away with the process unless the link is pinned.
func (s *Sensor) Attach(ifname string, mode XDPMode) (*Attachment, error) {
	nl, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("interface %q: no such interface (see `ip link`)", ifname)
	}
	iface := nl.Attrs()
	pin := linkPin(s.Config.PinDir, "xdp", ifname)
	if l, err := adopt(pin, s.Objects.Xdpsensor); err != nil {
		return nil, err
	} else if l != nil {
		got := XDPNative
		if x := iface.Xdp; x != nil && x.AttachMode == 2 { // XDP_ATTACHED_SKB
			got = XDPGeneric
		}
		return &Attachment{Interface: ifname, Ifindex: iface.Index, Mode: got, Link: l, Adopted: true, pinPath: pin, pinned: true}, nil
	}
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
	return &Attachment{Interface: ifname, Ifindex: iface.Index, Mode: got, Link: l, pinPath: pin}, nil
}

// EgressAttachment is host mode's TC egress hook on one interface.
type EgressAttachment struct {
	Interface string
	Mode      string // "tcx" or "clsact"
	Adopted   bool
	link      link.Link
	filter    *netlink.BpfFilter
	qdisc     *netlink.GenericQdisc // created by us, removed on Close
	pinPath   string
	pinned    bool
	keep      bool
}

// Keep leaves the egress hook in place after we exit (see Attachment.Keep).
func (e *EgressAttachment) Keep() error {
	e.keep = true
	if e.link == nil || e.pinned {
		return nil // a clsact filter stays by itself
	}
	if e.pinPath == "" {
		return errors.New("keeping the program attached needs a pin directory")
	}
	if err := e.link.Pin(e.pinPath); err != nil {
		return err
	}
	e.pinned = true
	return nil
}

// Close detaches (and removes a clsact qdisc we created), unless kept.
func (e *EgressAttachment) Close() error {
	if e.link != nil {
		if !e.keep && e.pinned {
			if err := e.link.Unpin(); err != nil {
				return err
			}
		}
		return e.link.Close()
	}
	if e.keep {
		return nil
	}
	var errs []error
	if e.filter != nil {
		errs = append(errs, netlink.FilterDel(e.filter))
	}
	if e.qdisc != nil {
		errs = append(errs, netlink.QdiscDel(e.qdisc))
	}
	return errors.Join(errs...)
}

// AttachEgress hooks the egress program to an interface: a tcx link where
// the kernel has them (6.6), a clsact qdisc filter otherwise.
func (s *Sensor) AttachEgress(ifname string) (*EgressAttachment, error) {
	prog, err := s.LoadEgress()
	if err != nil {
		return nil, err
	}
	nl, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("interface %q: no such interface (see `ip link`)", ifname)
	}
	idx := nl.Attrs().Index
	pin := linkPin(s.Config.PinDir, "egress", ifname)
	if l, err := adopt(pin, prog); err != nil {
		return nil, err
	} else if l != nil {
		return &EgressAttachment{Interface: ifname, Mode: "tcx", Adopted: true, link: l, pinPath: pin, pinned: true}, nil
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: idx, Program: prog, Attach: ebpf.AttachTCXEgress})
	if err == nil {
		return &EgressAttachment{Interface: ifname, Mode: "tcx", link: l, pinPath: pin}, nil
	}
	tcxErr := err
	a := &EgressAttachment{Interface: ifname, Mode: "clsact"}
	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := netlink.QdiscAdd(qdisc); err == nil {
		a.qdisc = qdisc
	} else if !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("attaching egress to %s: tcx: %v; clsact: %w", ifname, tcxErr, err)
	}
	a.filter = &netlink.BpfFilter{
		FilterAttrs:  netlink.FilterAttrs{LinkIndex: idx, Parent: netlink.HANDLE_MIN_EGRESS, Handle: 1, Protocol: unix.ETH_P_ALL, Priority: 1},
		Fd:           prog.FD(),
		Name:         "xdpsensor_egress",
		DirectAction: true,
	}
	if err := netlink.FilterReplace(a.filter); err != nil {
		a.Close()
		return nil, fmt.Errorf("attaching egress to %s: tcx: %v; clsact filter: %w", ifname, tcxErr, err)
	}
	return a, nil
}

// RXVLANOffload reports whether the NIC strips VLAN tags on receive
// (ethtool's rxvlan / rx-vlan-stag-hw-parse): XDP then sees untagged
// frames, and flows of different VLANs merge.
func RXVLANOffload(ifname string) (bool, error) {
	et, err := ethtool.NewEthtool()
	if err != nil {
		return false, err
	}
	defer et.Close()
	feats, err := et.Features(ifname)
	if err != nil {
		return false, fmt.Errorf("reading %s's features: %w", ifname, err)
	}
	return feats["rx-vlan-hw-parse"] || feats["rx-vlan-stag-hw-parse"], nil
}

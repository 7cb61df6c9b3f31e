package loader

import (
	"errors"
	"fmt"

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

// EgressAttachment is host mode's TC egress hook on one interface.
type EgressAttachment struct {
	Interface string
	Mode      string // "tcx" or "clsact"
	link      link.Link
	filter    *netlink.BpfFilter
	qdisc     *netlink.GenericQdisc // created by us, removed on Close
}

// Close detaches (and removes a clsact qdisc we created).
func (e *EgressAttachment) Close() error {
	if e.link != nil {
		return e.link.Close()
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
	l, err := link.AttachTCX(link.TCXOptions{Interface: idx, Program: prog, Attach: ebpf.AttachTCXEgress})
	if err == nil {
		return &EgressAttachment{Interface: ifname, Mode: "tcx", link: l}, nil
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

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Encapsulations: what monitoring ports carry besides Ethernet + IP.
 * Layer 2: VLAN tags, MPLS label stacks, PPPoE sessions, PBB (802.1ah),
 * VN-Tag, E-Tag (802.1BR), NSH. Tunnels: GRE (keys, sequence numbers),
 * ERSPAN I/II/III, VXLAN, Geneve, IP in IP (4in4, 6in4, 4in6, 6in6) and
 * Teredo, up to MAX_TUNNEL_DEPTH inside one another.
 *
 * DP(decap) (bpf/datapath.h) walks the headers from the frame's start,
 * reading each with the hook's load-bytes helper at an offset into the
 * walk's buffer, and decap_step() here reads that buffer: the parser's
 * branches stay out of the plain path, and this code is verified once.
 * The walk ends at the innermost IP header, whose offset the parser then
 * starts from, and leaves the zone's parts (VLANs of every layer, the
 * innermost tunnel) in the walk. Only frames the parser found non-IP, or
 * IP that looks like a tunnel (may_be_tunnel), get here. */
#ifndef XDPSENSOR_DECAP_H
#define XDPSENSOR_DECAP_H

#include <linux/in.h>
#include "xdpsensor.h"
#include "parsing.h"

#define DECAP_READ 64         /* bytes read per header through the helper (a power of two) */
#define DECAP_COPY 40         /* bytes copied per header in place: the most a step looks at (IPv6, Teredo) */
#define DECAP_MAX_STEPS 16    /* headers walked in all: tags, labels, IP layers, tunnel headers */
#define DECAP_MAX_OFFSET 480  /* the innermost IP header starts before this (the parser reads it in place) */

#define ETH_P_MPLS_UNICAST 0x8847
#define ETH_P_MPLS_MULTICAST 0x8848
#define ETH_P_PPPOE_SESSION 0x8864
#define ETH_P_PBB_ITAG 0x88E7
#define ETH_P_VNTAG 0x8926
#define ETH_P_ETAG 0x893F
#define ETH_P_NSH_HDR 0x894F
#define ETH_P_BRIDGING 0x6558   /* transparent Ethernet bridging (GRE, Geneve) */
#define ETH_P_ERSPAN_II 0x88BE  /* types I and II */
#define ETH_P_ERSPAN_III 0x22EB
#define PPP_IPV4 0x0021
#define PPP_IPV6 0x0057
#define GRE_CSUM 0x8000
#define GRE_ROUTING 0x4000
#define GRE_KEY 0x2000
#define GRE_SEQ 0x1000
#define GRE_VERSION 0x0007
#define IPPROTO_GRE_TUNNEL 47
#define IPPROTO_IPIP_TUNNEL 4
#define IPPROTO_IPV6_TUNNEL 41

/* What the walk expects at its offset. */
enum decap_step {
	STEP_ETHERTYPE = 0, /* the protocol named by walk.ethertype */
	STEP_ETHERNET,      /* a whole Ethernet header (inside a tunnel) */
	STEP_MPLS,
	STEP_IPV4,
	STEP_IPV6,
	STEP_GRE,
	STEP_UDP,
};

/* How a step ends the walk. */
enum decap_end {
	DECAP_MORE = 0,   /* go on at walk.off */
	DECAP_IP,         /* the flow's IP header is at walk.ip_off */
	DECAP_NON_IP,     /* no IP inside */
	DECAP_BAD,        /* a header is truncated or invalid before any IP: malformed_encap */
	DECAP_BAD_VLAN,   /* more VLAN tags in all layers than MAX_VLAN_DEPTH */
};

/* Headers seen, for sensor_stats (each counts a packet once). */
enum decap_seen {
	SEEN_MPLS = 1 << 0,
	SEEN_PPPOE = 1 << 1,
	SEEN_PBB = 1 << 2,
	SEEN_VNTAG = 1 << 3,
	SEEN_ETAG = 1 << 4,
	SEEN_NSH = 1 << 5,
	SEEN_GRE = 1 << 6,
	SEEN_ERSPAN = 1 << 7,
	SEEN_VXLAN = 1 << 8,
	SEEN_GENEVE = 1 << 9,
	SEEN_IPIP = 1 << 10,
	SEEN_TEREDO = 1 << 11,
	SEEN_TOO_DEEP = 1 << 12,
	SEEN_VLAN = 1 << 13,
};

/* The walk's state, kept in the CPU's dp_state (off the stack). */
struct decap_walk {
	__u8 buf[DECAP_READ];      /* the bytes at off */
	__u32 off;                 /* where the next header starts */
	__u32 avail;               /* bytes of buf read */
	__u32 ip_off;              /* the innermost IP header found so far */
	__u16 ip_type;             /* its ethertype, host order (0: none found) */
	__u16 ethertype;           /* STEP_ETHERTYPE: the protocol at off, host order */
	__u16 vlan[MAX_VLAN_DEPTH];
	__u16 seen;                /* enum decap_seen */
	__u8 step;                 /* enum decap_step */
	__u8 vlan_count;
	__u8 depth;                /* tunnels entered */
	__u8 pending;              /* enum tunnel_kind entered by the last tunnel header, until its inner IP is found */
	__u32 pending_id;
	struct packet_tunnel cand; /* the last IP layer read: the outer header if a tunnel follows */
	struct packet_tunnel tun;  /* the innermost tunnel entered */
};

static __always_inline __u16 be16_at(const __u8 *b)
{
	return (__u16)b[0] << 8 | b[1];
}

static __always_inline __u16 tunnel_seen_bit(__u8 kind)
{
	switch (kind) {
	case TUNNEL_GRE: return SEEN_GRE;
	case TUNNEL_ERSPAN_I:
	case TUNNEL_ERSPAN_II:
	case TUNNEL_ERSPAN_III: return SEEN_ERSPAN;
	case TUNNEL_VXLAN: return SEEN_VXLAN;
	case TUNNEL_GENEVE: return SEEN_GENEVE;
	case TUNNEL_IPIP: return SEEN_IPIP;
	case TUNNEL_TEREDO: return SEEN_TEREDO;
	}
	return 0;
}

/* A header that cannot be read whole: after an IP layer the packet is
 * keyed on that layer (as before tunnels were decoded); before any, the
 * frame is malformed. */
static __always_inline int decap_short(struct decap_walk *w)
{
	return w->ip_type ? DECAP_IP : DECAP_BAD;
}

/* A tunnel header was read: its inner headers follow at off. Past
 * MAX_TUNNEL_DEPTH the walk stops at the outer layer, counted. */
static __always_inline int enter_tunnel(struct decap_walk *w, __u8 kind, __u32 id, __u32 hdr_len, __u8 next)
{
	if (w->depth >= MAX_TUNNEL_DEPTH) {
		w->seen |= SEEN_TOO_DEEP;
		return DECAP_IP;
	}
	w->pending = kind;
	w->pending_id = id;
	w->off += hdr_len;
	w->step = next;
	return DECAP_MORE;
}

/* An IP header at off: the innermost so far. It completes the tunnel
 * entered before it, and may carry another. */
static __always_inline int decap_ip(struct decap_walk *w, __u8 family, __u16 ip_type)
{
	__u8 *b = w->buf;
	__u32 hdr_len = family == FAMILY_IPV4 ? 20 : 40;
	if (w->avail < hdr_len)
		return decap_short(w);
	if (w->pending) {
		__builtin_memcpy(&w->tun, &w->cand, sizeof(w->tun));
		w->tun.kind = w->pending;
		w->tun.id = w->pending_id;
		w->tun.depth = ++w->depth;
		w->seen |= tunnel_seen_bit(w->pending);
		w->pending = TUNNEL_NONE;
	}
	w->ip_off = w->off;
	w->ip_type = ip_type;

	__u8 proto;
	__builtin_memset(&w->cand, 0, sizeof(w->cand));
	if (family == FAMILY_IPV4) {
		if (b[0] >> 4 != 4 || (b[0] & 0xf) < 5)
			return DECAP_IP; /* the parser says what is wrong */
		if (be16_at(b + 6) & 0x3fff)
			return DECAP_IP; /* a fragment: its payload is no whole header */
		hdr_len = (b[0] & 0xf) * 4;
		proto = b[9];
		__builtin_memcpy(w->cand.src, b + 12, 4);
		__builtin_memcpy(w->cand.dst, b + 16, 4);
	} else {
		if (b[0] >> 4 != 6)
			return DECAP_IP;
		proto = b[6]; /* extension headers before a tunnel are not walked */
		__builtin_memcpy(w->cand.src, b + 8, 16);
		__builtin_memcpy(w->cand.dst, b + 24, 16);
	}
	w->cand.family = family;
	w->cand.proto = proto;
	switch (proto) {
	case IPPROTO_GRE_TUNNEL:
		w->off += hdr_len;
		w->step = STEP_GRE;
		return DECAP_MORE;
	case IPPROTO_UDP:
		w->off += hdr_len;
		w->step = STEP_UDP;
		return DECAP_MORE;
	case IPPROTO_IPIP_TUNNEL:
		return enter_tunnel(w, TUNNEL_IPIP, 0, hdr_len, STEP_IPV4);
	case IPPROTO_IPV6_TUNNEL:
		return enter_tunnel(w, TUNNEL_IPIP, 0, hdr_len, STEP_IPV6);
	}
	return DECAP_IP;
}

/* The step after a protocol number (ethertype, GRE protocol, Geneve
 * protocol, NSH next protocol mapped to an ethertype). */
static __always_inline int decap_next_ethertype(struct decap_walk *w, __u16 type, __u32 hdr_len)
{
	w->off += hdr_len;
	w->ethertype = type;
	w->step = STEP_ETHERTYPE;
	return DECAP_MORE;
}

/* Layer 2 headers by ethertype. */
static __always_inline int decap_ethertype(struct decap_walk *w)
{
	__u8 *b = w->buf;
	switch (w->ethertype) {
	case ETH_P_8021Q:
	case ETH_P_8021AD:
	case ETH_P_8021AD_OLD:
		if (w->avail < 4)
			return decap_short(w);
		if (w->vlan_count >= MAX_VLAN_DEPTH)
			return DECAP_BAD_VLAN;
		w->vlan[w->vlan_count] = be16_at(b) & 0x0fff;
		w->vlan_count++;
		w->seen |= SEEN_VLAN;
		return decap_next_ethertype(w, be16_at(b + 2), 4);
	case ETH_P_MPLS_UNICAST:
	case ETH_P_MPLS_MULTICAST:
		w->seen |= SEEN_MPLS;
		w->step = STEP_MPLS;
		return DECAP_MORE;
	case ETH_P_PPPOE_SESSION:
		/* version 1, type 1, code 0 (session data), then PPP's protocol */
		if (w->avail < 8)
			return decap_short(w);
		if (b[0] != 0x11 || b[1] != 0)
			return DECAP_BAD;
		w->seen |= SEEN_PPPOE;
		switch (be16_at(b + 6)) {
		case PPP_IPV4: return decap_next_ethertype(w, ETH_P_IP, 8);
		case PPP_IPV6: return decap_next_ethertype(w, ETH_P_IPV6, 8);
		}
		return DECAP_NON_IP; /* LCP, IPCP...: PPP's own traffic */
	case ETH_P_PBB_ITAG:
		/* I-TAG: flags and I-SID, then the customer's addresses */
		if (w->avail < 18)
			return decap_short(w);
		w->seen |= SEEN_PBB;
		return decap_next_ethertype(w, be16_at(b + 16), 18);
	case ETH_P_VNTAG:
		if (w->avail < 6)
			return decap_short(w);
		w->seen |= SEEN_VNTAG;
		return decap_next_ethertype(w, be16_at(b + 4), 6);
	case ETH_P_ETAG:
		if (w->avail < 8)
			return decap_short(w);
		w->seen |= SEEN_ETAG;
		return decap_next_ethertype(w, be16_at(b + 6), 8);
	case ETH_P_NSH_HDR: {
		/* version 0; length in 4-byte words, base and path headers at least */
		if (w->avail < 8)
			return decap_short(w);
		__u32 len = (b[1] & 0x3f) * 4;
		if (b[0] >> 6 != 0 || len < 8)
			return DECAP_BAD;
		w->seen |= SEEN_NSH;
		switch (b[3]) {
		case 1: return decap_next_ethertype(w, ETH_P_IP, len);
		case 2: return decap_next_ethertype(w, ETH_P_IPV6, len);
		case 3: w->off += len; w->step = STEP_ETHERNET; return DECAP_MORE;
		case 5: return decap_next_ethertype(w, ETH_P_MPLS_UNICAST, len);
		}
		return DECAP_NON_IP;
	}
	case ETH_P_IP:
		w->step = STEP_IPV4;
		return DECAP_MORE;
	case ETH_P_IPV6:
		w->step = STEP_IPV6;
		return DECAP_MORE;
	case ETH_P_BRIDGING:
		w->step = STEP_ETHERNET;
		return DECAP_MORE;
	}
	/* ARP and the like: inside a tunnel, the packet is the tunnel's. */
	return w->ip_type ? DECAP_IP : DECAP_NON_IP;
}

/* One MPLS label; after the bottom of the stack, the payload's kind is
 * the explicit-null label's, or guessed by its first nibble as Suricata
 * and Zeek guess it (0: a pseudowire control word, then Ethernet). */
static __always_inline int decap_mpls(struct decap_walk *w)
{
	__u8 *b = w->buf;
	if (w->avail < 4)
		return decap_short(w);
	__u32 label = (__u32)b[0] << 12 | (__u32)b[1] << 4 | b[2] >> 4;
	w->off += 4;
	if (!(b[2] & 1))
		return DECAP_MORE; /* another label follows */
	if (label == 0)
		return decap_next_ethertype(w, ETH_P_IP, 0);
	if (label == 2)
		return decap_next_ethertype(w, ETH_P_IPV6, 0);
	if (w->avail < 5)
		return decap_short(w);
	switch (b[4] >> 4) {
	case 4: return decap_next_ethertype(w, ETH_P_IP, 0);
	case 6: return decap_next_ethertype(w, ETH_P_IPV6, 0);
	case 0:
		w->off += 4;
		w->step = STEP_ETHERNET;
		return DECAP_MORE;
	}
	return w->ip_type ? DECAP_IP : DECAP_NON_IP;
}

/* GRE (RFC 2784/2890): checksum, key and sequence number are optional;
 * ERSPAN rides on it. Version 1 (PPTP) and source routing are not
 * decoded: the packet is keyed on the GRE layer, as before. */
static __always_inline int decap_gre(struct decap_walk *w)
{
	__u8 *b = w->buf;
	if (w->avail < 4)
		return DECAP_IP;
	__u16 flags = be16_at(b);
	if (flags & (GRE_VERSION | GRE_ROUTING))
		return DECAP_IP;
	__u32 hl = 4 + (flags & GRE_CSUM ? 4 : 0);
	__u32 key = 0;
	if (flags & GRE_KEY) {
		if (w->avail < hl + 4)
			return DECAP_IP;
		key = (__u32)b[hl & 15] << 24 | (__u32)b[(hl + 1) & 15] << 16 |
		      (__u32)b[(hl + 2) & 15] << 8 | b[(hl + 3) & 15];
		hl += 4;
	}
	if (flags & GRE_SEQ)
		hl += 4;
	hl &= 31; /* at most 16 */
	if (w->avail < hl)
		return DECAP_IP;
	switch (be16_at(b + 2)) {
	case ETH_P_IP: return enter_tunnel(w, TUNNEL_GRE, key, hl, STEP_IPV4);
	case ETH_P_IPV6: return enter_tunnel(w, TUNNEL_GRE, key, hl, STEP_IPV6);
	case ETH_P_BRIDGING: return enter_tunnel(w, TUNNEL_GRE, key, hl, STEP_ETHERNET);
	case ETH_P_MPLS_UNICAST: return enter_tunnel(w, TUNNEL_GRE, key, hl, STEP_MPLS);
	case ETH_P_ERSPAN_II:
		if (!(flags & GRE_SEQ)) /* type I: the mirrored frame follows GRE */
			return enter_tunnel(w, TUNNEL_ERSPAN_I, 0, hl, STEP_ETHERNET);
		/* type II: version 1, the session id in the low 10 bits of the second word */
		if (w->avail < hl + 8 || b[hl] >> 4 != 1)
			return DECAP_IP;
		return enter_tunnel(w, TUNNEL_ERSPAN_II, (b[hl + 2] & 3) << 8 | b[hl + 3], hl + 8, STEP_ETHERNET);
	case ETH_P_ERSPAN_III:
		/* version 2; 12 bytes, and 8 of platform subheader when O is set */
		if (w->avail < hl + 12 || b[hl] >> 4 != 2)
			return DECAP_IP;
		return enter_tunnel(w, TUNNEL_ERSPAN_III, (b[hl + 2] & 3) << 8 | b[hl + 3],
				    hl + 12 + (b[hl + 11] & 1 ? 8 : 0), STEP_ETHERNET);
	}
	return DECAP_IP;
}

/* UDP tunnels by port: VXLAN and Geneve on the configured destination
 * ports, Teredo on 3544 either way. Anything else is a plain UDP flow. */
static __always_inline int decap_udp(struct decap_walk *w, __u16 vxlan_port, __u16 geneve_port)
{
	__u8 *b = w->buf;
	if (w->avail < 16)
		return DECAP_IP;
	__u16 sport = be16_at(b), dport = be16_at(b + 2);
	w->cand.sport = sport;
	w->cand.dport = dport;
	if (dport == vxlan_port) {
		if (!(b[8] & 0x08)) /* the VNI flag */
			return DECAP_IP;
		__u32 vni = (__u32)b[12] << 16 | (__u32)b[13] << 8 | b[14];
		return enter_tunnel(w, TUNNEL_VXLAN, vni, 16, STEP_ETHERNET);
	}
	if (dport == geneve_port) {
		if (b[8] >> 6 != 0) /* version 0 */
			return DECAP_IP;
		__u32 hl = 16 + (b[8] & 0x3f) * 4;
		__u32 vni = (__u32)b[12] << 16 | (__u32)b[13] << 8 | b[14];
		switch (be16_at(b + 10)) {
		case ETH_P_BRIDGING: return enter_tunnel(w, TUNNEL_GENEVE, vni, hl, STEP_ETHERNET);
		case ETH_P_IP: return enter_tunnel(w, TUNNEL_GENEVE, vni, hl, STEP_IPV4);
		case ETH_P_IPV6: return enter_tunnel(w, TUNNEL_GENEVE, vni, hl, STEP_IPV6);
		}
		return DECAP_IP;
	}
	if (sport != TEREDO_PORT && dport != TEREDO_PORT)
		return DECAP_IP;
	/* Teredo: an origin indication (8 bytes) and authentication before the
	 * IPv6 packet; it must be a whole IPv6 packet, as Suricata demands,
	 * else this is some other UDP on the port. */
	__u32 p = 8;
	if (b[8] == 0 && b[9] == 1) {
		p += 13 + b[10] + b[11];
		if (p > 24)
			return DECAP_IP;
	}
	if (w->avail < p + 8)
		return DECAP_IP;
	if (b[p & 31] == 0 && b[(p + 1) & 31] == 0) {
		p += 8;
		if (w->avail < p + 8)
			return DECAP_IP;
	}
	p &= 63; /* at most 32: the IPv6 fields read end within DECAP_COPY */
	__u32 udp_len = be16_at(b + 4);
	if (b[p] >> 4 != 6 || be16_at(b + p + 4) + 40 + p != udp_len)
		return DECAP_IP;
	return enter_tunnel(w, TUNNEL_TEREDO, 0, p, STEP_IPV6);
}

/* One header of the walk, in buf (avail bytes of it were read). */
static __always_inline int decap_step(struct decap_walk *w, __u16 vxlan_port, __u16 geneve_port)
{
	switch (w->step) {
	case STEP_ETHERTYPE:
		return decap_ethertype(w);
	case STEP_ETHERNET:
		if (w->avail < 14)
			return decap_short(w);
		return decap_next_ethertype(w, be16_at(w->buf + 12), 14);
	case STEP_MPLS:
		return decap_mpls(w);
	case STEP_IPV4:
		return decap_ip(w, FAMILY_IPV4, ETH_P_IP);
	case STEP_IPV6:
		return decap_ip(w, FAMILY_IPV6, ETH_P_IPV6);
	case STEP_GRE:
		return decap_gre(w);
	case STEP_UDP:
		return decap_udp(w, vxlan_port, geneve_port);
	}
	return DECAP_BAD;
}

/* Does an IP packet the parser read look like a tunnel's outer layer?
 * The one test the plain path pays. */
static __always_inline int may_be_tunnel(struct packet *pkt, struct sensor_config *cfg)
{
	switch (pkt->proto) {
	case IPPROTO_TCP:
		return 0;
	case IPPROTO_GRE_TUNNEL:
	case IPPROTO_IPIP_TUNNEL:
	case IPPROTO_IPV6_TUNNEL:
		return !pkt->fragment;
	case IPPROTO_UDP: {
		__u16 vx = cfg->vxlan_port ? cfg->vxlan_port : DEFAULT_VXLAN_PORT;
		__u16 gn = cfg->geneve_port ? cfg->geneve_port : DEFAULT_GENEVE_PORT;
		return pkt->has_l4 && (pkt->dport == vx || pkt->dport == gn ||
				       pkt->sport == TEREDO_PORT || pkt->dport == TEREDO_PORT);
	}
	}
	return 0;
}

static __always_inline void count_decap(struct sensor_stats *st, __u16 seen)
{
	if (seen & SEEN_MPLS) st->mpls_packets++;
	if (seen & SEEN_PPPOE) st->pppoe_packets++;
	if (seen & SEEN_PBB) st->pbb_packets++;
	if (seen & SEEN_VNTAG) st->vntag_packets++;
	if (seen & SEEN_ETAG) st->etag_packets++;
	if (seen & SEEN_NSH) st->nsh_packets++;
	if (seen & SEEN_GRE) st->gre_packets++;
	if (seen & SEEN_ERSPAN) st->erspan_packets++;
	if (seen & SEEN_VXLAN) st->vxlan_packets++;
	if (seen & SEEN_GENEVE) st->geneve_packets++;
	if (seen & SEEN_IPIP) st->ipip_packets++;
	if (seen & SEEN_TEREDO) st->teredo_packets++;
	if (seen & SEEN_TOO_DEEP) st->tunnel_too_deep++;
}

#endif

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The canonical flow key (both directions of a conversation map to one
 * key) and the compact per-family keys of the flow tables. */
#ifndef XDPSENSOR_FLOWKEY_H
#define XDPSENSOR_FLOWKEY_H

#include <bpf/bpf_endian.h>
#include "xdpsensor.h"
#include "parsing.h"

/* memcmp order of two 16-byte addresses: <0, 0, >0. */
static __always_inline int addr_cmp(const __u8 *a, const __u8 *b, __u8 family)
{
	__u32 n = family == FAMILY_IPV4 ? 1 : 4;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (i >= n)
			break;
		__u32 x = bpf_ntohl(((const __u32 *)a)[i]);
		__u32 y = bpf_ntohl(((const __u32 *)b)[i]);
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

/* Canonical key of a conversation: the (address, port) that sorts lower
 * goes first. Returns the sender's side. */
static __always_inline __u8 canonical_key(struct flow_key *key, const __u8 *src, const __u8 *dst,
					  __u16 sport, __u16 dport, __u8 proto, __u8 family, __u32 zone)
{
	int c = addr_cmp(src, dst, family);
	__u8 side = c > 0 || (c == 0 && sport > dport) ? SIDE_HI : SIDE_LO;

	if (side == SIDE_LO) {
		__builtin_memcpy(key->addr_lo, src, 16);
		__builtin_memcpy(key->addr_hi, dst, 16);
		key->port_lo = sport;
		key->port_hi = dport;
	} else {
		__builtin_memcpy(key->addr_lo, dst, 16);
		__builtin_memcpy(key->addr_hi, src, 16);
		key->port_lo = dport;
		key->port_hi = sport;
	}
	key->zone = zone;
	key->proto = proto;
	key->family = family;
	return side;
}

static __always_inline __u8 make_flow_key(struct flow_key *key, struct packet *pkt, __u32 zone)
{
	return canonical_key(key, pkt->src, pkt->dst, pkt->sport, pkt->dport, pkt->proto, pkt->family, zone);
}

/* The compact table keys of a canonical key. */
static __always_inline void key_v4(struct flow_key_v4 *k, const struct flow_key *key)
{
	__builtin_memcpy(k->addr_lo, key->addr_lo, 4);
	__builtin_memcpy(k->addr_hi, key->addr_hi, 4);
	k->port_lo = key->port_lo;
	k->port_hi = key->port_hi;
	k->zone_proto = key->zone << 8 | key->proto;
}

static __always_inline void key_v6(struct flow_key_v6 *k, const struct flow_key *key)
{
	__builtin_memcpy(k->addr_lo, key->addr_lo, 16);
	__builtin_memcpy(k->addr_hi, key->addr_hi, 16);
	k->port_lo = key->port_lo;
	k->port_hi = key->port_hi;
	k->zone_proto = key->zone << 8 | key->proto;
}

#endif

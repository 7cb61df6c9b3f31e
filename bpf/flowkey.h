/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The canonical flow key: both directions of a conversation map to one key. */
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

/* Canonical key: the (address, port) that sorts lower goes first. Returns
 * the sender's side. */
static __always_inline __u8 make_flow_key(struct flow_key *key, struct packet *pkt)
{
	int c = addr_cmp(pkt->src, pkt->dst, pkt->family);
	__u8 side = c > 0 || (c == 0 && pkt->sport > pkt->dport) ? SIDE_HI : SIDE_LO;

	if (side == SIDE_LO) {
		__builtin_memcpy(key->addr_lo, pkt->src, 16);
		__builtin_memcpy(key->addr_hi, pkt->dst, 16);
		key->port_lo = pkt->sport;
		key->port_hi = pkt->dport;
	} else {
		__builtin_memcpy(key->addr_lo, pkt->dst, 16);
		__builtin_memcpy(key->addr_hi, pkt->src, 16);
		key->port_lo = pkt->dport;
		key->port_hi = pkt->sport;
	}
	key->vlan[0] = pkt->vlan[0];
	key->vlan[1] = pkt->vlan[1];
	key->vlan[2] = pkt->vlan[2];
	key->proto = pkt->proto;
	key->family = pkt->family;
	return side;
}

#endif

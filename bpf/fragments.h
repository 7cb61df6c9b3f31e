/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* IP fragments: a later fragment has no ports, so it joins the flow of its
 * datagram's first fragment, found by source, destination, protocol, IP
 * identification and zone in a small map the first fragment fills. Entries
 * age out after FRAG_TIMEOUT_NS (Suricata's defrag timeout) and the map is
 * an LRU, so a flood of fragments cannot fill it. A later fragment whose
 * first piece was never seen is matched on its addresses alone. */
#ifndef XDPSENSOR_FRAGMENTS_H
#define XDPSENSOR_FRAGMENTS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xdpsensor.h"
#include "parsing.h"
#include "flow.h"

#define FRAG_TIMEOUT_NS (60ULL * 1000000000ULL)

struct frag_key {
	__u8 src[16];
	__u8 dst[16];
	__u32 id;     /* IP identification (IPv6: the fragment header's) */
	__u32 zone;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};

struct frag_value {
	__u64 seen_ns; /* the first fragment's time */
	__u16 sport;   /* its ports, in its order */
	__u16 dport;
	__u32 pad;
};

/* First fragments' ports by datagram, for the later fragments. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct frag_key);
	__type(value, struct frag_value);
} frag_firsts SEC(".maps");

static __always_inline void frag_key_of(struct frag_key *k, struct dp_state *s)
{
	__builtin_memcpy(k->src, s->pkt.src, 16);
	__builtin_memcpy(k->dst, s->pkt.dst, 16);
	k->id = s->pkt.frag_id;
	k->zone = s->zone;
	k->proto = s->pkt.proto;
	k->family = s->pkt.family;
}

/* A first fragment: remember its ports for the rest of its datagram. */
__noinline int frag_remember(struct dp_state *s)
{
	if (!s)
		return 0;
	struct frag_key k = {};
	frag_key_of(&k, s);
	struct frag_value v = {.seen_ns = s->now, .sport = s->pkt.sport, .dport = s->pkt.dport};
	return bpf_map_update_elem(&frag_firsts, &k, &v, BPF_ANY) == 0;
}

/* A later fragment: its first fragment's ports, when that was seen within
 * FRAG_TIMEOUT_NS. Returns 1 with pkt.sport/dport set. */
__noinline int frag_find(struct dp_state *s)
{
	if (!s)
		return 0;
	struct frag_key k = {};
	frag_key_of(&k, s);
	struct frag_value *v = bpf_map_lookup_elem(&frag_firsts, &k);
	if (!v || s->now - v->seen_ns > FRAG_TIMEOUT_NS || s->now < v->seen_ns)
		return 0;
	s->pkt.sport = v->sport;
	s->pkt.dport = v->dport;
	return 1;
}

#endif

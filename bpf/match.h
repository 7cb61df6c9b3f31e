/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Blocklist matching: which rules list a flow's addresses, decided once
 * per flow and blocklist generation. Exact addresses sit in hash maps
 * behind a Bloom pre-filter, prefixes in LPM tries behind a /16 bitmap;
 * $HOME_NET/$EXTERNAL_NET constraints are checked against the netvars
 * tries. */
#ifndef XDPSENSOR_MATCH_H
#define XDPSENSOR_MATCH_H

#include <linux/bpf.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>
#include "xdpsensor.h"
#include "maps.h"

/* A flow's blocklist decision: rule ids per address and packet end. */
struct match_decision {
	__u32 lo_as_src; /* rule listing the LO address as a packet source */
	__u32 lo_as_dst; /* ... as a packet destination */
	__u32 hi_as_src;
	__u32 hi_as_dst;
	__u8 listed;     /* LISTED_LO | LISTED_HI */
	__u8 pad[3];
};

/* Mix an address into 64 bits (murmur3's finalizer). Userspace builds the
 * pre-filter with the same function (loader/filter.go). */
static __always_inline __u64 addr_hash(const __u8 *addr, __u8 family)
{
	__u64 x;
	if (family == FAMILY_IPV4) {
		__u32 a4;
		__builtin_memcpy(&a4, addr, 4);
		x = a4;
	} else {
		__u64 a, b;
		__builtin_memcpy(&a, addr, 8);
		__builtin_memcpy(&b, addr + 8, 8);
		x = a ^ (b * 0x9E3779B97F4A7C15ULL);
	}
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static __always_inline int filter_bit(void *filter, __u32 i)
{
	__u32 word = i >> 6;
	__u64 *w = bpf_map_lookup_elem(filter, &word);
	return !w || (*w & (1ULL << (i & 63)));
}

/* May the exact maps hold this address? A Bloom filter with two bits. */
static __always_inline int exact_maybe(const __u8 *addr, __u8 family, __u32 slot,
				       struct slot_counts *counts)
{
	__u32 bits = counts->filter_bits_log2;
	if (bits < 6 || bits > 31)
		return 1;
	void *filter = bpf_map_lookup_elem(&exact_filter_slots, &slot);
	if (!filter)
		return 1;
	__u64 h = addr_hash(addr, family);
	__u32 mask = (1u << bits) - 1;
	return filter_bit(filter, (__u32)h & mask) && filter_bit(filter, (__u32)(h >> 32) & mask);
}

/* One address's decision in the making: the next prefix trie key, the
 * rules decided so far per end of the packet (0: none yet), and the last
 * rule refused per end (the same rule on an enclosing prefix would be
 * refused again). */
struct prefix_walk_state {
	struct lpm_v6_key k; /* both tries' keys are a prefix length, then the address */
	__u32 slot;
	__u32 src, dst;
	__u32 refused_src, refused_dst;
};

/* Scratch space for the walk: on decide_match's stack it took the
 * deepest call chain to the verifier's 512-byte limit. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct prefix_walk_state);
} walk_scratch SEC(".maps");

enum walk_step_kind {
	STEP_EXACT,  /* weigh the exact entry; start the walk */
	STEP_PREFIX, /* weigh the longest listed prefix of w->k */
	STEP_PEEK,   /* only: is there such a prefix? */
};

/* The exact entry listing addr, NULL when none; a pre-filter miss or an
 * empty map skips the lookup altogether. addr (16 bytes of a flow key) is
 * the key itself. */
static __always_inline struct blocklist_entry *lookup_exact(const __u8 *addr, __u8 family, __u32 slot,
							    struct slot_counts *counts)
{
	void *exact = NULL;
	if (family == FAMILY_IPV4) {
		if (counts->exact_v4 && exact_maybe(addr, family, slot, counts))
			exact = bpf_map_lookup_elem(&blocklist_v4_slots, &slot);
	} else if (counts->exact_v6 && exact_maybe(addr, family, slot, counts)) {
		exact = bpf_map_lookup_elem(&blocklist_v6_slots, &slot);
	}
	return exact ? bpf_map_lookup_elem(exact, addr) : NULL;
}

/* The prefix trie that may list addr, NULL when none can (an empty trie,
 * or for IPv4 a /16 no prefix touches). */
static __always_inline void *prefix_trie(const __u8 *addr, __u8 family, __u32 slot,
					 struct slot_counts *counts)
{
	if (family == FAMILY_IPV4) {
		if (!counts->prefix_v4)
			return NULL;
		__u32 h = ((__u32)addr[0] << 24) | ((__u32)addr[1] << 16);
		__u32 word = slot * 2048 + (h >> 21);
		__u32 *bits = bpf_map_lookup_elem(&prefix_v4_filter, &word);
		if (!bits || !(*bits & (1u << ((h >> 16) & 31))))
			return NULL;
		return bpf_map_lookup_elem(&blocklist_prefix_v4_slots, &slot);
	}
	if (!counts->prefix_v6)
		return NULL;
	return bpf_map_lookup_elem(&blocklist_prefix_v6_slots, &slot);
}

static __always_inline __u32 netvar_bits(const __u8 *addr, __u8 family)
{
	__u32 *bits;
	if (family == FAMILY_IPV4) {
		struct lpm_v4_key k = {.prefixlen = 32};
		__builtin_memcpy(k.addr, addr, 4);
		bits = bpf_map_lookup_elem(&netvars_v4, &k);
	} else {
		struct lpm_v6_key k = {.prefixlen = 128};
		__builtin_memcpy(k.addr, addr, 16);
		bits = bpf_map_lookup_elem(&netvars_v6, &k);
	}
	return bits ? *bits : 0;
}


/* Does the rule accept the packet's other address (the end of key that
 * is not side) under its $HOME_NET/$EXTERNAL_NET constraint? A global
 * function, verified once; its own small frame keeps the callers' stack
 * within the limit. */
__noinline int rule_accepts(struct flow_key *key, __u32 side, __u32 rule_id)
{
	__u32 zero = 0;
	if (!key)
		return 0;
	struct sensor_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct rule *r = bpf_map_lookup_elem(&rules, &rule_id);
	if (!cfg || !r)
		return 0; /* a rule id without its rule is a half-written list */
	const __u8 *other = side == SIDE_LO ? key->addr_hi : key->addr_lo;
	switch (r->other_net) {
	case NET_HOME:
		return !cfg->home_net_set || (netvar_bits(other, key->family) & NETVAR_HOME);
	case NET_EXTERNAL:
		if (cfg->external_mode == EXTERNAL_ANY)
			return 1;
		if (cfg->external_mode == EXTERNAL_NOT_HOME)
			return cfg->home_net_set && !(netvar_bits(other, key->family) & NETVAR_HOME);
		return !!(netvar_bits(other, key->family) & NETVAR_EXTERNAL);
	}
	return 1;
}

/* Weigh one entry's rules for each end of the packet not decided yet. */
static __always_inline void weigh(struct prefix_walk_state *w, struct flow_key *key, __u32 side,
				  __u32 rs, __u32 rd)
{
	if (!w->src && rs && rs != w->refused_src) {
		if (rule_accepts(key, side, rs))
			w->src = rs;
		else
			w->refused_src = rs;
	}
	if (!w->dst && rd && rd != w->refused_dst) {
		if (rule_accepts(key, side, rd))
			w->dst = rd;
		else
			w->refused_dst = rd;
	}
}

/* One step of an address's decision (side: which end of key), by kind;
 * 1 when the walk goes on to the next enclosing prefix (w->k then ends one
 * bit short of the prefix just weighed), 0 when it is over. A global
 * function, verified once: inlined in the walk's loop, its paths
 * multiplied the verifier's states. */
__noinline int walk_step(struct prefix_walk_state *w, struct flow_key *key, __u32 side, __u32 kind)
{
	__u32 zero = 0;
	if (!w || !key)
		return 0;
	const __u8 *addr = side == SIDE_LO ? key->addr_lo : key->addr_hi;
	__u8 family = key->family;
	if (kind == STEP_EXACT) {
		struct sensor_config *cfg = bpf_map_lookup_elem(&config, &zero);
		if (!cfg)
			return 0;
		struct slot_counts *counts = w->slot ? &cfg->slots[1] : &cfg->slots[0];
		struct blocklist_entry *e = lookup_exact(addr, family, w->slot, counts);
		if (e)
			weigh(w, key, side, e->rule_as_src, e->rule_as_dst);
		if ((w->src && w->dst) || !prefix_trie(addr, family, w->slot, counts))
			return 0;
		w->k.prefixlen = family == FAMILY_IPV4 ? 32 : 128;
		__builtin_memcpy(w->k.addr, addr, 16);
		return 1;
	}
	void *trie = family == FAMILY_IPV4 ? bpf_map_lookup_elem(&blocklist_prefix_v4_slots, &w->slot)
					   : bpf_map_lookup_elem(&blocklist_prefix_v6_slots, &w->slot);
	if (!trie)
		return 0;
	struct prefix_entry *e = bpf_map_lookup_elem(trie, &w->k);
	if (!e)
		return 0;
	if (kind == STEP_PEEK)
		return 1;
	__u32 len = e->prefixlen;
	weigh(w, key, side, e->rule_as_src, e->rule_as_dst);
	if ((w->src && w->dst) || len == 0 || len > w->k.prefixlen)
		return 0;
	w->k.prefixlen = len - 1; /* finds the next enclosing listed prefix */
	return 1;
}

/* The rules for one end (side) of the flow, per end of the packet: the
 * exact entry's if it accepts the other address, else the longest listed
 * prefix's if it does, else the next enclosing prefix's, and so on, up to
 * PREFIX_WALK_MAX prefixes. Each end of the packet is decided on its own:
 * a prefix with no rule for it, or whose rule refuses the other address,
 * does not hide an enclosing prefix whose rule applies. A walk cut short
 * with a listed prefix left counts in prefix_walk_cut. */
static __always_inline void decide_end(struct prefix_walk_state *w, struct flow_key *key, __u32 side,
				       __u32 slot, struct sensor_stats *st)
{
	__builtin_memset(w, 0, sizeof(*w));
	w->slot = slot;
	int more = walk_step(w, key, side, STEP_EXACT);
	for (int i = 0; i < PREFIX_WALK_MAX && more; i++)
		more = walk_step(w, key, side, STEP_PREFIX);
	if (more && walk_step(w, key, side, STEP_PEEK))
		st->prefix_walk_cut++;
}

/* Decide, for the current generation, which rules list the flow's ends.
 * A global function: the verifier checks it once, not once per caller
 * path, which keeps the main program far from the complexity limit. */
__noinline int decide_match(struct match_decision *md, struct flow_key *key, __u32 gen)
{
	__u32 zero = 0;
	if (!md || !key)
		return 0;
	struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
	struct prefix_walk_state *w = bpf_map_lookup_elem(&walk_scratch, &zero);
	if (!st || !w)
		return 0;

	st->blocklist_lookups++;
	decide_end(w, key, SIDE_LO, gen & 1, st);
	md->lo_as_src = w->src;
	md->lo_as_dst = w->dst;
	decide_end(w, key, SIDE_HI, gen & 1, st);
	md->hi_as_src = w->src;
	md->hi_as_dst = w->dst;
	md->listed = ((md->lo_as_src | md->lo_as_dst) ? LISTED_LO : 0) |
		     ((md->hi_as_src | md->hi_as_dst) ? LISTED_HI : 0);
	return md->listed;
}

/* The rule this packet raises, if any: its destination first (traffic to a
 * listed host), then its source. */
static __always_inline __u32 packet_rule(struct match_decision *md, __u8 side, __u8 *listed)
{
	__u32 dst_rule = side == SIDE_LO ? md->hi_as_dst : md->lo_as_dst;
	__u32 src_rule = side == SIDE_LO ? md->lo_as_src : md->hi_as_src;
	if (dst_rule) {
		*listed = RULE_LISTED_DST;
		return dst_rule;
	}
	*listed = RULE_LISTED_SRC;
	return src_rule;
}

#endif

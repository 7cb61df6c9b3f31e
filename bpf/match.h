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

struct match {
	__u32 as_src; /* rule listing this address as a packet source */
	__u32 as_dst; /* ... as a packet destination */
};

/* The rules listing one address, exact entry and longest prefix apart:
 * which one applies depends on the packet's other address. */
struct listing {
	struct match exact;
	struct match prefix;
};

static __always_inline void take_entry(struct match *m, struct blocklist_entry *e)
{
	if (!e)
		return;
	m->as_src = e->rule_as_src;
	m->as_dst = e->rule_as_dst;
}

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

/* The exact entry and the longest prefix listing addr; a pre-filter miss
 * or an empty map skips the lookup altogether. */
static __always_inline void lookup_address(struct listing *l, const __u8 *addr, __u8 family,
					   __u32 slot, struct slot_counts *counts)
{
	if (family == FAMILY_IPV4) {
		if (counts->exact_v4 && exact_maybe(addr, family, slot, counts)) {
			void *exact = bpf_map_lookup_elem(&blocklist_v4_slots, &slot);
			struct ipv4_addr a4;
			__builtin_memcpy(&a4, addr, 4);
			if (exact)
				take_entry(&l->exact, bpf_map_lookup_elem(exact, &a4));
		}
		if (counts->prefix_v4) {
			__u32 h = ((__u32)addr[0] << 24) | ((__u32)addr[1] << 16);
			__u32 word = slot * 2048 + (h >> 21);
			__u32 *bits = bpf_map_lookup_elem(&prefix_v4_filter, &word);
			if (bits && (*bits & (1u << ((h >> 16) & 31)))) {
				void *trie = bpf_map_lookup_elem(&blocklist_prefix_v4_slots, &slot);
				if (trie) {
					struct lpm_v4_key k = {.prefixlen = 32};
					__builtin_memcpy(k.addr, addr, 4);
					take_entry(&l->prefix, bpf_map_lookup_elem(trie, &k));
				}
			}
		}
		return;
	}
	if (counts->exact_v6 && exact_maybe(addr, family, slot, counts)) {
		struct in6_addr a6;
		__builtin_memcpy(&a6, addr, 16);
		void *exact = bpf_map_lookup_elem(&blocklist_v6_slots, &slot);
		if (exact)
			take_entry(&l->exact, bpf_map_lookup_elem(exact, &a6));
	}
	if (counts->prefix_v6) {
		void *trie = bpf_map_lookup_elem(&blocklist_prefix_v6_slots, &slot);
		if (trie) {
			struct lpm_v6_key k = {.prefixlen = 128};
			__builtin_memcpy(k.addr, addr, 16);
			take_entry(&l->prefix, bpf_map_lookup_elem(trie, &k));
		}
	}
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

/* Does the rule accept `other` as the packet's non-listed address? */
static __always_inline int other_net_ok(__u32 rule_id, const __u8 *other, __u8 family,
					struct sensor_config *cfg)
{
	struct rule *r = bpf_map_lookup_elem(&rules, &rule_id);
	if (!r)
		return 0; /* a rule id without its rule is a half-written list */
	switch (r->other_net) {
	case NET_HOME:
		return !cfg->home_net_set || (netvar_bits(other, family) & NETVAR_HOME);
	case NET_EXTERNAL:
		if (cfg->external_mode == EXTERNAL_ANY)
			return 1;
		if (cfg->external_mode == EXTERNAL_NOT_HOME)
			return cfg->home_net_set && !(netvar_bits(other, family) & NETVAR_HOME);
		return netvar_bits(other, family) & NETVAR_EXTERNAL;
	}
	return 1;
}

/* The rule for one end of the packet: the exact entry's if it accepts
 * the other address, else the prefix's if it does. Checked one by one: an
 * exact entry whose $HOME_NET/$EXTERNAL_NET constraint fails must not hide
 * a covering prefix whose rule applies. */
static __always_inline __u32 first_accepting(__u32 exact, __u32 prefix, const __u8 *other,
					     __u8 family, struct sensor_config *cfg)
{
	if (exact && other_net_ok(exact, other, family, cfg))
		return exact;
	if (prefix && prefix != exact && other_net_ok(prefix, other, family, cfg))
		return prefix;
	return 0;
}

/* Decide, for the current generation, which rules list the flow's ends.
 * A global function: the verifier checks it once, not once per caller
 * path, which keeps the main program far from the complexity limit. */
__noinline int decide_match(struct match_decision *md, struct flow_key *key, __u32 gen)
{
	__u32 zero = 0;
	if (!md || !key)
		return 0;
	struct sensor_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
	if (!cfg || !st)
		return 0;
	__u32 slot = gen & 1;
	struct slot_counts *counts = slot ? &cfg->slots[1] : &cfg->slots[0];
	struct listing lo = {}, hi = {};

	st->blocklist_lookups++;
	lookup_address(&lo, key->addr_lo, key->family, slot, counts);
	lookup_address(&hi, key->addr_hi, key->family, slot, counts);
	md->lo_as_src = first_accepting(lo.exact.as_src, lo.prefix.as_src, key->addr_hi, key->family, cfg);
	md->lo_as_dst = first_accepting(lo.exact.as_dst, lo.prefix.as_dst, key->addr_hi, key->family, cfg);
	md->hi_as_src = first_accepting(hi.exact.as_src, hi.prefix.as_src, key->addr_lo, key->family, cfg);
	md->hi_as_dst = first_accepting(hi.exact.as_dst, hi.prefix.as_dst, key->addr_lo, key->family, cfg);
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

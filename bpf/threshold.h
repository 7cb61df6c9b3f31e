/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Thresholds and the alert decision: Snort's threshold option, enforced
 * here so that a suppressed alert never costs a ring slot. */
#ifndef XDPSENSOR_THRESHOLD_H
#define XDPSENSOR_THRESHOLD_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xdpsensor.h"
#include "maps.h"
#include "parsing.h"

/* The addresses a threshold tracks: struct packet and struct
 * packet_tunnel both begin with them, so either layer's can be passed. */
struct tracked_addrs {
	__u8 src[16];
	__u8 dst[16];
};

/* The window key of rule r for these addresses. */
static __always_inline void threshold_key_of(struct threshold_key *k, struct rule *r,
					     struct tracked_addrs *a, __u32 family, __u32 rule_id)
{
	k->rule_id = rule_id;
	k->family = family;
	if (r->threshold_track == TRACK_BY_DST)
		__builtin_memcpy(k->addr, a->dst, 16);
	else
		__builtin_memcpy(k->addr, a->src, 16);
}

/* threshold_allows' answers: only an alert its window counted has a
 * count to take back when the ring cannot take it. */
enum threshold_answer {
	THRESHOLD_HOLD = 0,    /* held back (alerts_suppressed) */
	THRESHOLD_PASS = 1,    /* no threshold, or untracked (thresholds_full) */
	THRESHOLD_COUNTED = 2, /* alerts, counted in its window */
};

/* Snort's threshold option, enforced here so that a suppressed alert never
 * costs a ring slot: limit alerts on the first N events of each window,
 * threshold on every Nth, both once per window at the Nth. Returns a
 * threshold_answer. */
__noinline int threshold_allows(struct tracked_addrs *a, __u32 family, __u32 rule_id, __u64 now)
{
	__u32 zero = 0;
	if (!a)
		return THRESHOLD_PASS;
	struct rule *r = bpf_map_lookup_elem(&rules, &rule_id);
	if (!r || r->threshold_type == THRESHOLD_NONE || r->threshold_count == 0)
		return THRESHOLD_PASS;
	struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
	if (!st)
		return THRESHOLD_PASS;
	struct threshold_key k = {};
	threshold_key_of(&k, r, a, family, rule_id);
	__u64 window = (__u64)r->threshold_seconds * 1000000000ULL;
	__u32 n = r->threshold_count;
	__u32 count = 1;
	struct threshold_state *ts = bpf_map_lookup_elem(&thresholds, &k);
	if (ts && (now - ts->window_start_ns >= window || now < ts->window_start_ns)) {
		/* Ended: it starts over in place, no insert that could fail. */
		ts->window_start_ns = now;
		ts->count = 1;
	} else if (ts) {
		count = __sync_add_and_fetch(&ts->count, 1);
	} else {
		struct threshold_state fresh = {.window_start_ns = now, .count = 1};
		if (bpf_map_update_elem(&thresholds, &k, &fresh, BPF_NOEXIST)) {
			/* Another CPU made it first, or the table is full: then
			 * the match is not tracked, and alerts rather than be
			 * held back by a window nobody keeps. */
			ts = bpf_map_lookup_elem(&thresholds, &k);
			if (!ts) {
				st->thresholds_full++;
				return THRESHOLD_PASS;
			}
			count = __sync_add_and_fetch(&ts->count, 1);
		}
	}
	int allow;
	switch (r->threshold_type) {
	case THRESHOLD_LIMIT:
		allow = count <= n;
		break;
	case THRESHOLD_THRESHOLD:
		allow = count % n == 0;
		break;
	default: /* both */
		allow = count == n;
		break;
	}
	if (!allow) {
		st->alerts_suppressed++;
		return THRESHOLD_HOLD;
	}
	return THRESHOLD_COUNTED;
}

/* The event ring had no room for an alert threshold_allows counted
 * (THRESHOLD_COUNTED): its count is taken back, so the retry (the
 * direction's next packet) is judged as this one was, not held back by a
 * limit it never used. */
__noinline int threshold_refund(struct tracked_addrs *a, __u32 family, __u32 rule_id)
{
	if (!a)
		return 0;
	struct rule *r = bpf_map_lookup_elem(&rules, &rule_id);
	if (!r || r->threshold_type == THRESHOLD_NONE || r->threshold_count == 0)
		return 0;
	struct threshold_key k = {};
	threshold_key_of(&k, r, a, family, rule_id);
	struct threshold_state *ts = bpf_map_lookup_elem(&thresholds, &k);
	if (!ts || ts->count == 0)
		return 0; /* removed meanwhile */
	__sync_fetch_and_sub(&ts->count, 1);
	return 1;
}

/* The one decision every path takes: a packet that matches rule_id is a
 * match, and raises an alert unless the rule's threshold holds it back.
 * Returns a threshold_answer: nonzero to alert. */
static __always_inline int rule_fires(struct sensor_stats *st, struct packet *pkt, __u32 rule_id, __u64 now)
{
	if (!rule_id)
		return 0;
	st->matches++;
	return threshold_allows((struct tracked_addrs *)pkt, pkt->family, rule_id, now);
}

/* rule_fires for a tunnel's outer addresses. */
static __always_inline int outer_rule_fires(struct sensor_stats *st, struct packet_tunnel *tun, __u32 rule_id, __u64 now)
{
	if (!rule_id)
		return 0;
	st->matches++;
	st->outer_matches++;
	return threshold_allows((struct tracked_addrs *)tun, tun->family, rule_id, now);
}

#endif

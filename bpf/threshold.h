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

/* Snort's threshold option, enforced here so that a suppressed alert never
 * costs a ring slot: limit alerts on the first N events of each window,
 * threshold on every Nth, both once per window at the Nth. */
__noinline int threshold_allows(struct tracked_addrs *a, __u32 family, __u32 rule_id, __u64 now)
{
	__u32 zero = 0;
	if (!a)
		return 1;
	struct rule *r = bpf_map_lookup_elem(&rules, &rule_id);
	if (!r || r->threshold_type == THRESHOLD_NONE || r->threshold_count == 0)
		return 1;
	struct threshold_key k = {.rule_id = rule_id, .family = family};
	if (r->threshold_track == TRACK_BY_DST)
		__builtin_memcpy(k.addr, a->dst, 16);
	else
		__builtin_memcpy(k.addr, a->src, 16);
	__u64 window = (__u64)r->threshold_seconds * 1000000000ULL;
	__u32 n = r->threshold_count;
	__u32 count = 1;
	struct threshold_state *ts = bpf_map_lookup_elem(&thresholds, &k);
	if (!ts || now - ts->window_start_ns >= window || now < ts->window_start_ns) {
		struct threshold_state fresh = {.window_start_ns = now, .count = 1};
		bpf_map_update_elem(&thresholds, &k, &fresh, BPF_ANY);
	} else {
		count = __sync_add_and_fetch(&ts->count, 1);
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
		struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
		if (st)
			st->alerts_suppressed++;
	}
	return allow;
}

/* The one decision every path takes: a packet that matches rule_id is a
 * match, and raises an alert unless the rule's threshold holds it back.
 * Returns 1 to alert. */
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

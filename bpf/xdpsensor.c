// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* xdpsensor datapath: parse, match against the blocklist once per flow,
 * count per-flow and per-flag, and hand alerts, closed flows and captured
 * frames to the daemon through ring buffers. A passive sensor: XDP_PASS
 * unless loaded for a dedicated monitor port. The same datapath runs on
 * TC egress in host mode (bpf/datapath.h), sharing every map. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdpsensor.h"
#include "maps.h"
#include "parsing.h"
#include "flowkey.h"

#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader before load; the verifier prunes the unused paths. */
volatile const __u32 cfg_verdict = XDP_PASS;   /* XDP_DROP on a monitor port */
volatile const __u8 cfg_replay_clock = 0;      /* 1: packet time comes from 8 bytes of XDP metadata */
volatile const __u8 cfg_bench_new_flows = 0;   /* benchmarks: give every packet new ports */
volatile const __u8 cfg_frags = 0;             /* loaded with BPF_F_XDP_HAS_FRAGS: frames may span buffers */

/* Benchmarks measure the new-flow path with one frame repeated by
 * BPF_PROG_TEST_RUN: vary its ports so that each run is a new flow. Pruned
 * by the verifier in every other program. */
static __always_inline void bench_vary(struct packet *pkt)
{
	__u32 zero = 0;
	if (!cfg_bench_new_flows)
		return;
	__u64 *n = bpf_map_lookup_elem(&bench_seq, &zero);
	if (!n)
		return;
	*n += 1;
	pkt->sport = (__u16)*n;
	pkt->dport ^= (__u16)(*n >> 16);
}

/* Make clang emit complete BTF for types that only userspace or inner-map
 * definitions name; const keeps them in .rodata instead of a .bss map. */
const struct alert_event *const btf_alert_event __attribute__((unused)) = 0;
const struct flow_event *const btf_flow_event __attribute__((unused)) = 0;
const struct blocklist_entry *const btf_blocklist_entry __attribute__((unused)) = 0;
const struct in6_addr *const btf_in6_addr __attribute__((unused)) = 0;
const struct ipv4_addr *const btf_ipv4_addr __attribute__((unused)) = 0;
const struct capture_record *const btf_capture_record __attribute__((unused)) = 0;
const enum capture_mode *const btf_capture_mode __attribute__((unused)) = 0;
const enum history_letter *const btf_history_letter __attribute__((unused)) = 0;
const enum event_type *const btf_event_type __attribute__((unused)) = 0;
const enum flow_end_reason *const btf_flow_end_reason __attribute__((unused)) = 0;
const enum flow_side *const btf_flow_side __attribute__((unused)) = 0;
const enum addr_family *const btf_addr_family __attribute__((unused)) = 0;
const enum listed_bits *const btf_listed_bits __attribute__((unused)) = 0;
const enum rule_direction *const btf_rule_direction __attribute__((unused)) = 0;
const enum rule_other_net *const btf_rule_other_net __attribute__((unused)) = 0;
const enum netvar_bits *const btf_netvar_bits __attribute__((unused)) = 0;
const enum external_mode *const btf_external_mode __attribute__((unused)) = 0;
const enum tcp_flag_bits *const btf_tcp_flag_bits __attribute__((unused)) = 0;
const enum close_bits *const btf_close_bits __attribute__((unused)) = 0;
const enum threshold_type *const btf_threshold_type __attribute__((unused)) = 0;
const enum threshold_track *const btf_threshold_track __attribute__((unused)) = 0;

static __always_inline void count_malformed(struct sensor_stats *st, int rc)
{
	switch (rc) {
	case PARSE_BAD_L2: st->malformed_l2++; break;
	case PARSE_BAD_VLAN: st->malformed_vlan++; break;
	case PARSE_BAD_L3: st->malformed_l3++; break;
	case PARSE_BAD_IHL: st->malformed_ihl++; break;
	case PARSE_BAD_IP_LEN: st->malformed_ip_len++; break;
	case PARSE_BAD_IPV6_EXT: st->malformed_ipv6_ext++; break;
	case PARSE_BAD_L4: st->malformed_l4++; break;
	case PARSE_BAD_TCP_DOFF: st->malformed_tcp_doff++; break;
	}
}

static __always_inline void count_protocol(struct sensor_stats *st, struct packet *pkt)
{
	__u64 len = pkt->l3_len;
	if (pkt->family == FAMILY_IPV4)
		st->ipv4_packets++;
	else
		st->ipv6_packets++;
	if (pkt->vlan_count)
		st->vlan_packets++;
	switch (pkt->proto) {
	case IPPROTO_TCP: st->tcp_packets++; st->tcp_bytes += len; break;
	case IPPROTO_UDP: st->udp_packets++; st->udp_bytes += len; break;
	case IPPROTO_ICMP: st->icmp_packets++; st->icmp_bytes += len; break;
	case IPPROTO_ICMPV6: st->icmpv6_packets++; st->icmpv6_bytes += len; break;
	default: st->other_ip_packets++; st->other_ip_bytes += len; break;
	}
}

/* ---- Blocklist ---------------------------------------------------------- */

struct match {
	__u32 as_src; /* rule listing this address as a packet source */
	__u32 as_dst; /* ... as a packet destination */
};

static __always_inline void merge_entry(struct match *m, struct blocklist_entry *e)
{
	if (!e)
		return;
	if (!m->as_src)
		m->as_src = e->rule_as_src;
	if (!m->as_dst)
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

/* Exact entries win over prefixes; a pre-filter miss or an empty map skips
 * the lookup altogether. */
static __always_inline void lookup_address(struct match *m, const __u8 *addr, __u8 family,
					   __u32 slot, struct slot_counts *counts)
{
	if (family == FAMILY_IPV4) {
		if (counts->exact_v4 && exact_maybe(addr, family, slot, counts)) {
			void *exact = bpf_map_lookup_elem(&blocklist_v4_slots, &slot);
			struct ipv4_addr a4;
			__builtin_memcpy(&a4, addr, 4);
			if (exact)
				merge_entry(m, bpf_map_lookup_elem(exact, &a4));
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
					merge_entry(m, bpf_map_lookup_elem(trie, &k));
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
			merge_entry(m, bpf_map_lookup_elem(exact, &a6));
	}
	if (counts->prefix_v6) {
		void *trie = bpf_map_lookup_elem(&blocklist_prefix_v6_slots, &slot);
		if (trie) {
			struct lpm_v6_key k = {.prefixlen = 128};
			__builtin_memcpy(k.addr, addr, 16);
			merge_entry(m, bpf_map_lookup_elem(trie, &k));
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

static __always_inline void filter_match(struct match *m, const __u8 *other, __u8 family,
					 struct sensor_config *cfg)
{
	if (m->as_src && !other_net_ok(m->as_src, other, family, cfg))
		m->as_src = 0;
	if (m->as_dst && !other_net_ok(m->as_dst, other, family, cfg))
		m->as_dst = 0;
}

/* Decide, for the current generation, which rules list the flow's ends.
 * A global function: the verifier checks it once, not once per caller
 * path, which keeps the main program far from the complexity limit. */
__noinline int decide_match(struct flow_match *fm, struct flow_key *key, __u32 gen)
{
	__u32 zero = 0;
	if (!fm || !key)
		return 0;
	struct sensor_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
	if (!cfg || !st)
		return 0;
	__u32 slot = gen & 1;
	struct slot_counts *counts = slot ? &cfg->slots[1] : &cfg->slots[0];
	struct match lo = {}, hi = {};

	st->blocklist_lookups++;
	lookup_address(&lo, key->addr_lo, key->family, slot, counts);
	lookup_address(&hi, key->addr_hi, key->family, slot, counts);
	if (lo.as_src || lo.as_dst)
		filter_match(&lo, key->addr_hi, key->family, cfg);
	if (hi.as_src || hi.as_dst)
		filter_match(&hi, key->addr_lo, key->family, cfg);
	fm->lo_as_src = lo.as_src;
	fm->lo_as_dst = lo.as_dst;
	fm->hi_as_src = hi.as_src;
	fm->hi_as_dst = hi.as_dst;
	fm->listed = ((lo.as_src | lo.as_dst) ? LISTED_LO : 0) | ((hi.as_src | hi.as_dst) ? LISTED_HI : 0);
	fm->generation = gen;
	return fm->listed;
}

/* The rule this packet raises, if any: its destination first (traffic to a
 * listed host), then its source. */
static __always_inline __u32 packet_rule(struct flow_match *fm, __u8 side, __u8 *listed)
{
	__u32 dst_rule = side == SIDE_LO ? fm->hi_as_dst : fm->lo_as_dst;
	__u32 src_rule = side == SIDE_LO ? fm->lo_as_src : fm->hi_as_src;
	if (dst_rule) {
		*listed = RULE_LISTED_DST;
		return dst_rule;
	}
	*listed = RULE_LISTED_SRC;
	return src_rule;
}

/* ---- Events ------------------------------------------------------------- */

/* What an alert needs besides the packet. */
struct alert_info {
	__u64 now;
	__u64 flow_start; /* 0: no flow (a later fragment) */
	__u32 rule_id;
	__u32 generation;
	__u8 side;
	__u8 listed;
	__u8 pad[6];
};

__noinline int emit_flow_closed(struct flow_key *key, struct flow_value *f, __u32 reason)
{
	__u32 zero = 0;
	if (!key || !f)
		return 0;
	struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
	if (!st)
		return 0;
	struct flow_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		st->lost_events++;
		return 0;
	}
	ev->type = EVENT_FLOW_CLOSED;
	ev->reason = reason;
	__builtin_memset(ev->pad, 0, sizeof(ev->pad));
	__builtin_memcpy(&ev->key, key, sizeof(*key));
	__builtin_memcpy(&ev->value, f, sizeof(*f));
	bpf_ringbuf_submit(ev, 0);
	st->flows_closed++;
	return 1;
}

/* ---- Thresholds --------------------------------------------------------- */

/* Snort's threshold option, enforced here so that a suppressed alert never
 * costs a ring slot: limit alerts on the first N events of each window,
 * threshold on every Nth, both once per window at the Nth. */
__noinline int threshold_allows(struct packet *pkt, __u32 rule_id, __u64 now)
{
	__u32 zero = 0;
	if (!pkt)
		return 1;
	struct rule *r = bpf_map_lookup_elem(&rules, &rule_id);
	if (!r || r->threshold_type == THRESHOLD_NONE || r->threshold_count == 0)
		return 1;
	struct threshold_key k = {.rule_id = rule_id, .family = pkt->family};
	if (r->threshold_track == TRACK_BY_DST)
		__builtin_memcpy(k.addr, pkt->dst, 16);
	else
		__builtin_memcpy(k.addr, pkt->src, 16);
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

/* ---- Capture ------------------------------------------------------------ */

struct capture_args {
	__u64 now;
	__u64 flow_start;
	__u32 snaplen;
	__u8 listed;
	__u8 side;
	__u8 pad[2];
};

/* ---- Flow accounting ---------------------------------------------------- */

static __always_inline int pure_ack(struct packet *pkt)
{
	return (pkt->tcp_flags & (TCP_ACK | TCP_SYN | TCP_FIN | TCP_RST)) == TCP_ACK && pkt->payload_len == 0;
}

static __always_inline void count_direction(struct flow_direction *d, struct packet *pkt)
{
	d->packets += pkt->segs;
	d->bytes += pkt->l3_len;
	d->payload_bytes += pkt->payload_len;
	if (pkt->proto != IPPROTO_TCP || !pkt->has_l4)
		return;
	__u8 fl = pkt->tcp_flags;
	d->tcp_flags |= fl;
	if (fl & TCP_SYN) {
		if (fl & TCP_ACK)
			d->flag_counts.synack++;
		else
			d->flag_counts.syn++;
	} else if (pure_ack(pkt)) {
		d->flag_counts.ack++;
	}
	if (fl & TCP_FIN)
		d->flag_counts.fin++;
	if (fl & TCP_RST)
		d->flag_counts.rst++;
	if (fl & TCP_PSH)
		d->flag_counts.psh++;
	if (fl & TCP_URG)
		d->flag_counts.urg++;
	if (fl & TCP_ECE)
		d->flag_counts.ece++;
	if (fl & TCP_CWR)
		d->flag_counts.cwr++;
	if (pkt->window == 0 && !(fl & TCP_RST))
		d->zero_windows++;
}

static __always_inline void history_append(struct flow_value *f, __u8 side, char c)
{
	__u32 n = f->history_len;
	if (n >= HISTORY_LEN)
		return;
	f->history[n] = side == SIDE_LO ? c : c + ('a' - 'A');
	f->history_len = n + 1;
}

/* Record a letter the first time a side does it. */
static __always_inline void history_once(struct flow_value *f, __u8 side, __u32 letter, char c)
{
	__u32 bit = 1u << (letter + (side == SIDE_LO ? 0 : 16));
	if (f->history_seen & bit)
		return;
	f->history_seen |= bit;
	history_append(f, side, c);
}

/* Zeek's history letters, recorded after count_direction. */
static __always_inline void record_history(struct flow_value *f, struct packet *pkt, __u8 side)
{
	if (pkt->proto != IPPROTO_TCP || !pkt->has_l4)
		return;
	__u8 fl = pkt->tcp_flags;
	if ((fl & TCP_SYN) && (fl & (TCP_FIN | TCP_RST))) {
		history_once(f, side, HIST_MULTI, 'Q');
	} else {
		if (fl & TCP_SYN) {
			if (fl & TCP_ACK)
				history_once(f, side, HIST_SYNACK, 'H');
			else
				history_once(f, side, HIST_SYN, 'S');
		}
	}
	if (pure_ack(pkt))
		history_once(f, side, HIST_ACK, 'A');
	if (pkt->payload_len)
		history_once(f, side, HIST_DATA, 'D');
	if ((fl & TCP_FIN) && !(fl & TCP_SYN))
		history_once(f, side, HIST_FIN, 'F');
	if ((fl & TCP_RST) && !(fl & TCP_SYN))
		history_once(f, side, HIST_RST, 'R');
	if (pkt->window == 0 && !(fl & TCP_RST)) {
		/* Zeek repeats W at 1, 10, 100, 1000, ... zero windows. */
		__u32 z = f->dir[side & 1].zero_windows;
		if (z == 1 || z == 10 || z == 100 || z == 1000 || z == 10000 || z == 100000)
			history_append(f, side, 'W');
	}
}

/* Returns the FLOW_END_* reason when this packet closes the flow. */
static __always_inline __u8 track_close(struct flow_value *f, struct packet *pkt, __u8 side)
{
	if (pkt->proto != IPPROTO_TCP || !pkt->has_l4 || f->closed)
		return 0;
	__u8 fl = pkt->tcp_flags;
	if (fl & TCP_RST) {
		f->close_flags |= CLOSE_RST;
		f->closed = 1;
		return FLOW_END_RST;
	}
	if (fl & TCP_FIN) {
		f->close_flags |= side == SIDE_LO ? CLOSE_FIN_LO : CLOSE_FIN_HI;
		if ((f->close_flags & (CLOSE_FIN_LO | CLOSE_FIN_HI)) == (CLOSE_FIN_LO | CLOSE_FIN_HI)) {
			f->closed = 1;
			return FLOW_END_FIN;
		}
	}
	return 0;
}

/* ---- Hooks -------------------------------------------------------------- */

static __always_inline __u64 packet_time_xdp(struct xdp_md *ctx)
{
	if (cfg_replay_clock) {
		void *meta = (void *)(long)ctx->data_meta;
		void *data = (void *)(long)ctx->data;
		if (meta + sizeof(__u64) <= data)
			return *(__u64 *)meta;
	}
	return bpf_ktime_get_ns();
}

#define DP_CTX struct xdp_md
#define DP(name) name##_xdp
#define DP_LOAD_BYTES bpf_xdp_load_bytes
/* Without the frags flag the kernel hands XDP only linear frames, so the
 * frame is data..data_end: no helper call (each costs ~30 ns on a VM).
 * Loaded for multi-buffer frames (jumbo MTUs, replays of GRO-merged
 * captures), the whole length comes from the helper. */
#define DP_LEN(ctx) (cfg_frags ? (__u32)bpf_xdp_get_buff_len(ctx) \
			       : (__u32)((long)(ctx)->data_end - (long)(ctx)->data))
#define DP_IFINDEX(ctx) ((ctx)->ingress_ifindex)
#define DP_PREPARE(ctx) do {} while (0)
#define DP_AFTER_PARSE(ctx, pkt) do {} while (0)
#define DP_VERDICT cfg_verdict
#include "datapath.h"
#undef DP_CTX
#undef DP
#undef DP_LOAD_BYTES
#undef DP_LEN
#undef DP_IFINDEX
#undef DP_PREPARE
#undef DP_AFTER_PARSE
#undef DP_VERDICT

static __always_inline __u64 packet_time_tc(struct __sk_buff *skb)
{
	return bpf_ktime_get_ns();
}

/* An skb on egress may carry its outermost VLAN tag out of band, and a GSO
 * skb stands for several wire packets. */
static __always_inline void skb_after_parse(struct __sk_buff *skb, struct packet *pkt)
{
	if (skb->vlan_present && pkt->vlan_count < MAX_VLAN_DEPTH) {
		pkt->vlan[2] = pkt->vlan[1];
		pkt->vlan[1] = pkt->vlan[0];
		pkt->vlan[0] = skb->vlan_tci & 0x0fff;
		pkt->vlan_count++;
	}
	if (skb->gso_segs > 1)
		pkt->segs = skb->gso_segs > 0xffff ? 0xffff : skb->gso_segs;
}

#define DP_CTX struct __sk_buff
#define DP(name) name##_tc
#define DP_LOAD_BYTES bpf_skb_load_bytes
#define DP_LEN(ctx) ((ctx)->len)
#define DP_IFINDEX(ctx) ((ctx)->ifindex)
/* Headers up to 256 bytes deep must be in the linear area to be read. */
#define DP_PREPARE(ctx) bpf_skb_pull_data(ctx, (ctx)->len < 256 ? (ctx)->len : 256)
#define DP_AFTER_PARSE(ctx, pkt) skb_after_parse(ctx, pkt)
#define DP_VERDICT TC_ACT_OK
#include "datapath.h"

SEC("xdp")
int xdpsensor(struct xdp_md *ctx)
{
	return process_xdp(ctx);
}

/* Host mode: what this host sends, counted into the same flows. */
SEC("tc")
int xdpsensor_egress(struct __sk_buff *skb)
{
	return process_tc(skb);
}

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

#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))

#include "xdpsensor.h"
#include "maps.h"
#include "parsing.h"
#include "flowkey.h"
#include "match.h"
#include "threshold.h"
#include "flow.h"
#include "fragments.h"
#include "events.h"
#include "stats.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader before load; the verifier prunes the unused paths. */
volatile const __u32 cfg_verdict = XDP_PASS;   /* XDP_DROP on a monitor port */
volatile const __u8 cfg_replay_clock = 0;      /* 1: packet time and wire length come from XDP metadata (struct replay_meta) */
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
const struct prefix_entry *const btf_prefix_entry __attribute__((unused)) = 0;
const enum prefix_walk *const btf_prefix_walk __attribute__((unused)) = 0;
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
const enum flow_state_bits *const btf_flow_state_bits __attribute__((unused)) = 0;
const enum alert_mode *const btf_alert_mode __attribute__((unused)) = 0;
const struct flow_extra *const btf_flow_extra __attribute__((unused)) = 0;
const struct flow_extra_key *const btf_flow_extra_key __attribute__((unused)) = 0;
const enum threshold_type *const btf_threshold_type __attribute__((unused)) = 0;
const enum threshold_track *const btf_threshold_track __attribute__((unused)) = 0;
const enum tunnel_kind *const btf_tunnel_kind __attribute__((unused)) = 0;
const enum alert_layer *const btf_alert_layer __attribute__((unused)) = 0;

/* ---- Hooks -------------------------------------------------------------- */

/* Replay hands each frame its capture time and original length as 16
 * bytes of XDP metadata: a capture cut by its snap length is counted by
 * what was on the wire. */
struct replay_meta {
	__u64 ts_ns;
	__u32 wire_len; /* 0: the frame is whole */
	__u32 pcap_cnt; /* the packet's number in its capture (Suricata's pcap_cnt), 0: unknown */
};

static __always_inline struct replay_meta *replay_meta(struct xdp_md *ctx)
{
	if (!cfg_replay_clock)
		return NULL;
	void *meta = (void *)(long)ctx->data_meta;
	void *data = (void *)(long)ctx->data;
	if (meta + sizeof(struct replay_meta) > data)
		return NULL;
	return meta;
}

static __always_inline __u64 packet_time_xdp(struct xdp_md *ctx)
{
	struct replay_meta *m = replay_meta(ctx);
	return m ? m->ts_ns : bpf_ktime_get_ns();
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
#define DP_PREPARE_DEEP(ctx) do {} while (0)
#define DP_AFTER_PARSE(ctx, pkt) do {} while (0)
#define DP_VERDICT cfg_verdict
static __always_inline __u32 wire_len_xdp(struct xdp_md *ctx)
{
	struct replay_meta *m = replay_meta(ctx);
	__u32 len = DP_LEN(ctx);
	return m && m->wire_len > len ? m->wire_len : len;
}

static __always_inline __u32 pcap_cnt_xdp(struct xdp_md *ctx)
{
	struct replay_meta *m = replay_meta(ctx);
	return m ? m->pcap_cnt : 0;
}
#include "datapath.h"
#undef DP_CTX
#undef DP
#undef DP_LOAD_BYTES
#undef DP_LEN
#undef DP_IFINDEX
#undef DP_PREPARE
#undef DP_PREPARE_DEEP
#undef DP_AFTER_PARSE
#undef DP_VERDICT

static __always_inline __u64 packet_time_tc(struct __sk_buff *skb)
{
	return bpf_ktime_get_ns();
}

static __always_inline __u32 wire_len_tc(struct __sk_buff *skb)
{
	return skb->len;
}

static __always_inline __u32 pcap_cnt_tc(struct __sk_buff *skb)
{
	return 0;
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
/* Decapsulated headers may lie deeper. */
#define DP_PREPARE_DEEP(ctx) bpf_skb_pull_data(ctx, (ctx)->len < 512 ? (ctx)->len : 512)
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

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Floors for the benchmarks: the least a program can do on each path, to
 * measure xdpsensor's own cost against. They share xdpsensor's parser and
 * flow key (bpf/parsing.h, bpf/flowkey.h) and a flow table of the same
 * key and value types. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "xdpsensor.h"
#include "parsing.h"
#include "flowkey.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* What the parsing floors return: XDP_DROP when they stand in for a
 * monitor-port receiver in the live benchmarks. */
volatile const __u32 floor_verdict = XDP_PASS;

/* Same shape as xdpsensor's flows_v4 map: preallocated HASH, 16-byte
 * key, 104-byte value. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key_v4);
	__type(value, struct flow_value);
} floor_flows SEC(".maps");

/* The new-flow floor inserts a new key each run into a table of the
 * sensor's kind: a preallocated HASH (no LRU: the sensor's tables evict
 * nothing), sized by the benchmark for every insert it makes, as the
 * sensor's new-flow table is. An LRU would cost each insert an eviction
 * the sensor does not pay, or, when it has room, less than the sensor's
 * hash does. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key_v4);
	__type(value, struct flow_value);
} floor_new_flows SEC(".maps");

/* Per-CPU sequence to vary the key (new-flow floor). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} floor_seq SEC(".maps");

/* Per-CPU zeroed value to insert. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow_value);
} floor_scratch SEC(".maps");

SEC("xdp")
int bare_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int bare_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

static __always_inline int parse(struct xdp_md *ctx, struct packet *pkt)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	return parse_packet(data, data_end, data_end - data, pkt);
}

SEC("xdp")
int parse_only(struct xdp_md *ctx)
{
	struct packet pkt = {};
	if (parse(ctx, &pkt) != PARSE_IP)
		return XDP_ABORTED;
	return floor_verdict;
}

/* Parse, then look the flow up and count the packet in it, reading the
 * clock for its last-seen time when clock (a constant once inlined). */
static __always_inline int hash_update(struct xdp_md *ctx, int clock)
{
	struct packet pkt = {};
	struct flow_key key = {};
	struct flow_key_v4 k4 = {};
	if (parse(ctx, &pkt) != PARSE_IP)
		return XDP_ABORTED;
	__u8 side = make_flow_key(&key, &pkt, 0);
	key_v4(&k4, &key);
	struct flow_value *f = bpf_map_lookup_elem(&floor_flows, &k4);
	if (!f) {
		__u32 zero = 0;
		struct flow_value *nf = bpf_map_lookup_elem(&floor_scratch, &zero);
		if (nf)
			bpf_map_update_elem(&floor_flows, &k4, nf, BPF_NOEXIST);
		return floor_verdict;
	}
	f->dir[side & 1].packets++;
	f->dir[side & 1].ip_bytes += pkt.l3_len;
	if (clock)
		f->last_seen_us = (bpf_ktime_get_ns() - f->first_seen_ns) / 1000;
	return floor_verdict;
}

/* The floor of a known flow's packet. */
SEC("xdp")
int parse_hash_update(struct xdp_md *ctx)
{
	return hash_update(ctx, 0);
}

/* The same with the flow's last-seen time read from the clock, as any
 * flow table that times flows out or gives durations must: the floor of
 * a known flow's packet for a sensor that keeps time. */
SEC("xdp")
int parse_hash_update_clock(struct xdp_md *ctx)
{
	return hash_update(ctx, 1);
}

/* Parse, then insert a new flow each time: the floor of a new flow. */
SEC("xdp")
int parse_hash_insert(struct xdp_md *ctx)
{
	struct packet pkt = {};
	struct flow_key key = {};
	__u32 zero = 0;
	if (parse(ctx, &pkt) != PARSE_IP)
		return XDP_ABORTED;
	__u64 *n = bpf_map_lookup_elem(&floor_seq, &zero);
	struct flow_value *nf = bpf_map_lookup_elem(&floor_scratch, &zero);
	if (!n || !nf)
		return XDP_ABORTED;
	*n += 1;
	pkt.sport = (__u16)*n;
	pkt.dport ^= (__u16)(*n >> 16);
	struct flow_key_v4 k4 = {};
	make_flow_key(&key, &pkt, 0);
	key_v4(&k4, &key);
	nf->first_seen_ns = *n;
	bpf_map_update_elem(&floor_new_flows, &k4, nf, BPF_NOEXIST);
	return floor_verdict;
}

/* The clocks' cost, for the record. */
SEC("xdp")
int bare_ktime(struct xdp_md *ctx)
{
	return bpf_ktime_get_ns() ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int bare_ktime_coarse(struct xdp_md *ctx)
{
	return bpf_ktime_get_coarse_ns() ? XDP_PASS : XDP_DROP;
}

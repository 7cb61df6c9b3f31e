// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Traffic generator for the live benchmarks, run with BPF_PROG_TEST_RUN in
 * live-frames mode: each run rewrites the template frame into one of 64K
 * flows (source port), every Nth to a listed destination, and redirects it
 * out of a veth, whose peer is the receiver under test. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

volatile const __u32 gen_ifindex = 0;      /* veth to send out of */
volatile const __u32 gen_flows = 65536;    /* distinct source ports */
volatile const __u32 gen_listed_every = 0; /* every Nth frame to the listed address, 0: never */
volatile const __u32 gen_listed_dst = 0;   /* the listed address, network order */
volatile const __u32 gen_plain_dst = 0;    /* the others' destination, network order */
volatile const __u32 gen_new_flows = 0;    /* 1: every frame a new flow (a storm): source address and port walk */
volatile const __u32 gen_src_net = 0;      /* storms: the /24 the sources walk, network order */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} gen_seq SEC(".maps");

static __always_inline int rewrite(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct tcphdr *th = (void *)(ip + 1);
	__u32 zero = 0;
	if ((void *)(th + 1) > data_end)
		return -1;
	__u64 *n = bpf_map_lookup_elem(&gen_seq, &zero);
	if (!n)
		return -1;
	__u64 i = (*n)++;
	if (gen_new_flows) {
		/* 64512 source ports per address, 256 addresses: 16.5M flows. */
		__u32 host = (__u32)(i / 64512) & 0xff;
		th->source = bpf_htons(1024 + (__u16)(i % 64512));
		ip->saddr = gen_src_net | bpf_htonl(host);
		ip->daddr = gen_plain_dst;
		return 0;
	}
	th->source = bpf_htons(1024 + (__u16)(i % gen_flows));
	ip->daddr = gen_listed_every && i % gen_listed_every == 0 ? gen_listed_dst : gen_plain_dst;
	return 0;
}

SEC("xdp")
int gen_redirect(struct xdp_md *ctx)
{
	if (rewrite(ctx))
		return XDP_ABORTED;
	return bpf_redirect(gen_ifindex, 0);
}

/* The generator alone: the same work, no receiver. */
SEC("xdp")
int gen_drop(struct xdp_md *ctx)
{
	if (rewrite(ctx))
		return XDP_ABORTED;
	return XDP_DROP;
}

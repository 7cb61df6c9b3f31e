/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Packet parsing with a header cursor: every read is bounds-checked against
 * data_end, every loop is bounded. parse_packet() fills struct packet or
 * says why the frame is malformed. */
#ifndef XDPSENSOR_PARSING_H
#define XDPSENSOR_PARSING_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdpsensor.h"

#define ETH_P_8021AD_OLD 0x9100 /* pre-standard QinQ, still seen on the wire */
#define MAX_IPV6_EXT_HEADERS 8
#define ICMP_HEADER_LEN 8

#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif
#define IPV6_NEXTHDR_HOP 0
#define IPV6_NEXTHDR_ROUTING 43
#define IPV6_NEXTHDR_FRAGMENT 44
#define IPV6_NEXTHDR_AH 51
#define IPV6_NEXTHDR_NONE 59
#define IPV6_NEXTHDR_DEST 60

enum parse_result {
	PARSE_IP = 0,      /* an IP packet: flow-able unless pkt.fragment */
	PARSE_NON_IP,      /* another ethertype: counted and passed */
	PARSE_BAD_L2,
	PARSE_BAD_VLAN,
	PARSE_BAD_L3,
	PARSE_BAD_IHL,
	PARSE_BAD_IP_LEN,
	PARSE_BAD_IPV6_EXT,
	PARSE_BAD_L4,
	PARSE_BAD_TCP_DOFF,
};

struct hdr_cursor {
	void *pos;
};

/* What the datapath needs from a packet; header details for alerts are
 * re-read from the frame at l3_offset/l4_offset only when one fires. */
struct packet {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport; /* host order */
	__u16 dport;
	__u16 vlan[MAX_VLAN_DEPTH];
	__u16 l3_offset;
	__u16 l4_offset;   /* 0 when there is no L4 header */
	__u16 pad;
	__u32 l3_len;      /* IP header + payload, by the IP length field */
	__u32 payload_len; /* L4 payload */
	__u8 family;
	__u8 proto;
	__u8 tcp_flags;
	__u8 fragment;     /* a fragment after the first: no L4 header */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 vlan_count;
	__u8 has_l4;
	__u16 window; /* TCP window, host order */
	__u16 segs;   /* segments this packet stands for (a GSO skb on egress), >= 1 */
	__u16 pad2[2];
};

struct vlan_tag {
	__be16 tci;
	__be16 proto;
};

struct ipv6_ext_header {
	__u8 nexthdr;
	__u8 hdrlen;
	__be16 frag_off; /* fragment header only */
};

static __always_inline int is_vlan(__u16 h_proto)
{
	return h_proto == bpf_htons(ETH_P_8021Q) || h_proto == bpf_htons(ETH_P_8021AD) ||
	       h_proto == bpf_htons(ETH_P_8021AD_OLD);
}

/* Ethernet and up to MAX_VLAN_DEPTH tags; returns the inner ethertype
 * (network order) or a negative parse_result. */
static __always_inline int parse_ethernet(struct hdr_cursor *cur, void *data_end, struct packet *pkt)
{
	struct ethhdr *eth = cur->pos;
	if ((void *)(eth + 1) > data_end)
		return -PARSE_BAD_L2;
	cur->pos = eth + 1;
	__u16 h_proto = eth->h_proto;

#pragma unroll
	for (int i = 0; i < MAX_VLAN_DEPTH; i++) {
		if (!is_vlan(h_proto))
			break;
		struct vlan_tag *tag = cur->pos;
		if ((void *)(tag + 1) > data_end)
			return -PARSE_BAD_VLAN;
		pkt->vlan[i] = bpf_ntohs(tag->tci) & 0x0fff;
		pkt->vlan_count = i + 1;
		h_proto = tag->proto;
		cur->pos = tag + 1;
	}
	if (is_vlan(h_proto))
		return -PARSE_BAD_VLAN; /* deeper than we decode */
	return h_proto;
}

static __always_inline int parse_ipv4(struct hdr_cursor *cur, void *data, void *data_end,
				      __u32 frame_len, struct packet *pkt)
{
	struct iphdr *ip = cur->pos;
	if ((void *)(ip + 1) > data_end)
		return PARSE_BAD_L3;
	if (ip->version != 4)
		return PARSE_BAD_L3;
	__u32 hdr_len = ip->ihl * 4;
	if (hdr_len < sizeof(*ip))
		return PARSE_BAD_IHL;
	if (cur->pos + hdr_len > data_end)
		return PARSE_BAD_L3;
	__u32 tot_len = bpf_ntohs(ip->tot_len);
	/* Lengths are judged against the whole frame, which can reach past
	 * the linear data a program can read (multi-buffer XDP, GSO skbs). */
	__u32 avail = frame_len > pkt->l3_offset ? frame_len - pkt->l3_offset : 0;
	if (tot_len < hdr_len || tot_len > avail)
		return PARSE_BAD_IP_LEN;

	pkt->family = FAMILY_IPV4;
	pkt->proto = ip->protocol;
	pkt->l3_len = tot_len;
	__builtin_memcpy(pkt->src, &ip->saddr, 4);
	__builtin_memcpy(pkt->dst, &ip->daddr, 4);
	/* A fragment after the first has no L4 header: addresses only. */
	if (ip->frag_off & bpf_htons(0x1fff))
		pkt->fragment = 1;
	cur->pos += hdr_len;
	return PARSE_IP;
}

static __always_inline int parse_ipv6(struct hdr_cursor *cur, void *data, void *data_end,
				      __u32 frame_len, struct packet *pkt)
{
	struct ipv6hdr *ip6 = cur->pos;
	if ((void *)(ip6 + 1) > data_end)
		return PARSE_BAD_L3;
	if (ip6->version != 6)
		return PARSE_BAD_L3;
	__u32 tot_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	__u32 avail = frame_len > pkt->l3_offset ? frame_len - pkt->l3_offset : 0;
	if (tot_len > avail)
		return PARSE_BAD_IP_LEN;

	pkt->family = FAMILY_IPV6;
	pkt->l3_len = tot_len;
	__builtin_memcpy(pkt->src, &ip6->saddr, 16);
	__builtin_memcpy(pkt->dst, &ip6->daddr, 16);
	void *l3_end = cur->pos + tot_len;
	__u8 nexthdr = ip6->nexthdr;
	cur->pos = ip6 + 1;

	/* Walk a bounded number of extension headers. */
	for (int i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
		struct ipv6_ext_header *ext = cur->pos;
		__u32 len;
		switch (nexthdr) {
		case IPV6_NEXTHDR_HOP:
		case IPV6_NEXTHDR_ROUTING:
		case IPV6_NEXTHDR_DEST:
			if ((void *)(ext + 1) > data_end || (void *)(ext + 1) > l3_end)
				return PARSE_BAD_IPV6_EXT;
			len = (ext->hdrlen + 1) * 8;
			break;
		case IPV6_NEXTHDR_AH:
			if ((void *)(ext + 1) > data_end || (void *)(ext + 1) > l3_end)
				return PARSE_BAD_IPV6_EXT;
			len = (ext->hdrlen + 2) * 4;
			break;
		case IPV6_NEXTHDR_FRAGMENT:
			if ((void *)ext + 8 > data_end || (void *)ext + 8 > l3_end)
				return PARSE_BAD_IPV6_EXT;
			len = 8;
			if (ext->frag_off & bpf_htons(0xfff8))
				pkt->fragment = 1;
			break;
		default:
			pkt->proto = nexthdr;
			return PARSE_IP;
		}
		if (cur->pos + len > l3_end)
			return PARSE_BAD_IPV6_EXT;
		nexthdr = ext->nexthdr;
		cur->pos += len;
		if (pkt->fragment) {
			pkt->proto = nexthdr;
			return PARSE_IP;
		}
	}
	switch (nexthdr) {
	case IPV6_NEXTHDR_HOP:
	case IPV6_NEXTHDR_ROUTING:
	case IPV6_NEXTHDR_DEST:
	case IPV6_NEXTHDR_AH:
	case IPV6_NEXTHDR_FRAGMENT:
		return PARSE_BAD_IPV6_EXT; /* chain longer than we walk */
	}
	pkt->proto = nexthdr;
	return PARSE_IP;
}

/* L4 headers; the cursor sits at the L4 header and l3_end marks the end of
 * the IP datagram (Ethernet padding excluded). */
static __always_inline int parse_l4(struct hdr_cursor *cur, void *data, void *data_end,
				    void *l3_end, struct packet *pkt)
{
	void *l4 = cur->pos;
	__u32 hdr_len;

	switch (pkt->proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = l4;
		if ((void *)(th + 1) > data_end || (void *)(th + 1) > l3_end)
			return PARSE_BAD_L4;
		hdr_len = th->doff * 4;
		if (hdr_len < sizeof(*th))
			return PARSE_BAD_TCP_DOFF;
		if (l4 + hdr_len > l3_end)
			return PARSE_BAD_L4;
		pkt->sport = bpf_ntohs(th->source);
		pkt->dport = bpf_ntohs(th->dest);
		pkt->tcp_flags = ((__u8 *)th)[13];
		pkt->window = bpf_ntohs(th->window);
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = l4;
		if ((void *)(uh + 1) > data_end || (void *)(uh + 1) > l3_end)
			return PARSE_BAD_L4;
		hdr_len = sizeof(*uh);
		pkt->sport = bpf_ntohs(uh->source);
		pkt->dport = bpf_ntohs(uh->dest);
		break;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		__u8 *icmp = l4;
		if ((void *)(icmp + ICMP_HEADER_LEN) > data_end || (void *)(icmp + ICMP_HEADER_LEN) > l3_end)
			return PARSE_BAD_L4;
		hdr_len = ICMP_HEADER_LEN;
		pkt->icmp_type = icmp[0];
		pkt->icmp_code = icmp[1];
		break;
	}
	default:
		/* Other protocols (GRE, ESP, SCTP...) are tracked by address. */
		pkt->payload_len = l3_end - l4;
		return PARSE_IP;
	}
	pkt->has_l4 = 1;
	pkt->l4_offset = l4 - data;
	pkt->payload_len = l3_end - (l4 + hdr_len);
	return PARSE_IP;
}

static __always_inline int parse_packet(void *data, void *data_end, __u32 frame_len,
					struct packet *pkt)
{
	struct hdr_cursor cur = {.pos = data};
	int h_proto = parse_ethernet(&cur, data_end, pkt);
	if (h_proto < 0)
		return -h_proto;

	pkt->l3_offset = cur.pos - data;
	void *l3 = cur.pos;
	int rc;
	if (h_proto == bpf_htons(ETH_P_IP))
		rc = parse_ipv4(&cur, data, data_end, frame_len, pkt);
	else if (h_proto == bpf_htons(ETH_P_IPV6))
		rc = parse_ipv6(&cur, data, data_end, frame_len, pkt);
	else
		return PARSE_NON_IP;
	if (rc != PARSE_IP)
		return rc;
	if (pkt->fragment) {
		pkt->payload_len = l3 + pkt->l3_len - cur.pos;
		return PARSE_IP;
	}
	return parse_l4(&cur, data, data_end, l3 + pkt->l3_len, pkt);
}

#endif

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Packet parsing with a header cursor, after xdp-tools' parsing_helpers.h:
 * each parser reads one header, moves the cursor past it and returns the
 * next protocol, or a negative parse_result saying why the frame is
 * malformed. Every read is bounds-checked against data_end, every loop is
 * bounded. parse_packet() fills struct packet.
 *
 * Two lengths matter: data_end bounds what the program can read, wire_len
 * is the frame's length on the wire. They differ for a replayed capture cut
 * by its snap length (the daemon passes the original length) and for
 * multi-buffer frames; lengths are judged against wire_len, headers are
 * read only where present. */
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
#define ICMP_QUOTE_LEN 128 /* quoted bytes read: IPv4 with options or IPv6, and 4 of L4 */

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
	PARSE_BAD_ENCAP,   /* an encapsulation header truncated or invalid (bpf/decap.h) */
};

struct hdr_cursor {
	void *pos;
};

/* What the datapath needs from a packet; header details for alerts are
 * re-read from the frame at l3_offset/l4_offset only when one fires. */
struct packet {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport; /* host order; ICMP: the type */
	__u16 dport; /* ICMP: the counterpart type, or the code */
	__u16 vlan[MAX_VLAN_DEPTH];
	__u16 l3_offset;
	__u16 l4_offset;   /* 0 when there is no L4 header */
	__u16 window;      /* TCP window, host order */
	__u32 l3_len;      /* IP header + payload, by the IP length field */
	__u32 payload_len; /* L4 payload */
	__u32 wire_len;    /* the frame on the wire */
	__u32 seq;         /* TCP, host order */
	__u32 ack;
	__u8 family;
	__u8 proto;
	__u8 tcp_flags;
	__u8 fragment;     /* a fragment after the first: no L4 header */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 vlan_count;
	__u8 has_l4;
	__u16 segs;        /* segments this packet stands for (a GSO skb on egress), >= 1 */
	__u8 quoted;       /* an ICMP error quoting a TCP/UDP/ICMP packet: q_* hold its flow */
	__u8 q_proto;
	__u16 q_sport;
	__u16 q_dport;
	__u8 q_src[16];
	__u8 q_dst[16];
	__u32 frag_id;     /* IP identification (IPv6: the fragment header's), for joining fragments */
	__u8 first_frag;   /* the first fragment of a fragmented datagram: later ones join its flow */
	__u8 tunneled;     /* decapsulated: the headers parsed are a tunnel's inner ones */
	__u8 pad2[2];
};

struct vlan_tag {
	__be16 tci;
	__be16 proto;
};

struct ipv6_ext_header {
	__u8 nexthdr;
	__u8 hdrlen;
	__be16 frag_off; /* fragment header only */
	__be32 frag_id;  /* fragment header only */
};

static __always_inline int is_vlan(__u16 h_proto)
{
	return h_proto == bpf_htons(ETH_P_8021Q) || h_proto == bpf_htons(ETH_P_8021AD) ||
	       h_proto == bpf_htons(ETH_P_8021AD_OLD);
}

/* Ethernet and up to MAX_VLAN_DEPTH tags; returns the inner ethertype
 * (network order) or a negative parse_result. */
static __always_inline int parse_ethhdr_vlans(struct hdr_cursor *cur, void *data_end, struct packet *pkt)
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

/* The bytes of the frame from l3 on, by the wire length. */
static __always_inline __u32 wire_after(struct packet *pkt, __u32 offset)
{
	return pkt->wire_len > offset ? pkt->wire_len - offset : 0;
}

/* A length field, or when it is 0 the wire's length. Branch-free: a
 * branch here doubles the verifier's states through the rest of the
 * parser. */
static __always_inline __u32 or_wire(__u32 field, __u32 wire)
{
	__u32 is_zero = ((field - 1) >> 31) & 1; /* field < 65536 */
	return field + (wire & -is_zero);
}

/* 1 when x (below 2^31) is 0, without a branch. */
static __always_inline __u8 is_zero(__u32 x)
{
	return ((x - 1) >> 31) & 1;
}

/* IPv4; returns the L4 protocol or a negative parse_result. */
static __always_inline int parse_iphdr(struct hdr_cursor *cur, void *data_end, struct packet *pkt)
{
	struct iphdr *ip = cur->pos;
	if ((void *)(ip + 1) > data_end)
		return -PARSE_BAD_L3;
	if (ip->version != 4)
		return -PARSE_BAD_L3;
	__u32 hdr_len = ip->ihl * 4;
	if (hdr_len < sizeof(*ip))
		return -PARSE_BAD_IHL;
	if (cur->pos + hdr_len > data_end)
		return -PARSE_BAD_L3;
	__u32 tot_len = bpf_ntohs(ip->tot_len);
	__u32 avail = wire_after(pkt, pkt->l3_offset);
	/* Captures taken before segmentation offload carry total length 0:
	 * the frame says how long the datagram is, as Zeek assumes. */
	tot_len = or_wire(tot_len, avail);
	if (tot_len < hdr_len || tot_len > avail)
		return -PARSE_BAD_IP_LEN;

	pkt->family = FAMILY_IPV4;
	pkt->l3_len = tot_len;
	__builtin_memcpy(pkt->src, &ip->saddr, 4);
	__builtin_memcpy(pkt->dst, &ip->daddr, 4);
	/* A fragment after the first has no L4 header: addresses only. */
	__u16 frag = bpf_ntohs(ip->frag_off);
	if (frag & 0x1fff)
		pkt->fragment = 1;
	/* MF without an offset: the first piece, whose ports later ones take.
	 * Branch-free: a branch here doubles the states after it. */
	pkt->first_frag = is_zero((frag & 0x3fff) ^ 0x2000);
	pkt->frag_id = bpf_ntohs(ip->id);
	cur->pos += hdr_len;
	return ip->protocol;
}

/* Is nexthdr an IPv6 extension header the parser walks? */
static __always_inline int ip6_ext_header(__u8 nexthdr)
{
	switch (nexthdr) {
	case IPV6_NEXTHDR_HOP:
	case IPV6_NEXTHDR_ROUTING:
	case IPV6_NEXTHDR_DEST:
	case IPV6_NEXTHDR_AH:
	case IPV6_NEXTHDR_FRAGMENT:
		return 1;
	}
	return 0;
}

/* IPv6's extension headers from the cursor to the datagram's end
 * (l3_end); returns the L4 protocol or a negative parse_result. */
static __always_inline int parse_ip6_ext(struct hdr_cursor *cur, void *data_end, void *l3_end,
					 __u8 nexthdr, struct packet *pkt)
{
	/* Walk a bounded number of extension headers. */
	for (int i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
		struct ipv6_ext_header *ext = cur->pos;
		__u32 len;
		switch (nexthdr) {
		case IPV6_NEXTHDR_HOP:
		case IPV6_NEXTHDR_ROUTING:
		case IPV6_NEXTHDR_DEST:
			if ((void *)(ext + 1) > data_end || (void *)(ext + 1) > l3_end)
				return -PARSE_BAD_IPV6_EXT;
			len = (ext->hdrlen + 1) * 8;
			break;
		case IPV6_NEXTHDR_AH:
			if ((void *)(ext + 1) > data_end || (void *)(ext + 1) > l3_end)
				return -PARSE_BAD_IPV6_EXT;
			len = (ext->hdrlen + 2) * 4;
			break;
		case IPV6_NEXTHDR_FRAGMENT:
			if ((void *)ext + 8 > data_end || (void *)ext + 8 > l3_end)
				return -PARSE_BAD_IPV6_EXT;
			len = 8;
			if (ext->frag_off & bpf_htons(0xfff8))
				pkt->fragment = 1;
			pkt->first_frag = is_zero((__u32)bpf_ntohs(ext->frag_off & bpf_htons(0xfff9)) ^ 1);
			pkt->frag_id = bpf_ntohl(ext->frag_id);
			break;
		default:
			return nexthdr;
		}
		if (cur->pos + len > l3_end)
			return -PARSE_BAD_IPV6_EXT;
		nexthdr = ext->nexthdr;
		cur->pos += len;
		if (pkt->fragment)
			return nexthdr;
	}
	if (ip6_ext_header(nexthdr))
		return -PARSE_BAD_IPV6_EXT; /* chain longer than we walk */
	return nexthdr;
}

/* IPv6, and its extension headers when walk_ext; returns the L4 protocol
 * (without walk_ext, maybe an extension header's) or a negative
 * parse_result. */
static __always_inline int parse_ip6hdr(struct hdr_cursor *cur, void *data_end, struct packet *pkt, int walk_ext)
{
	struct ipv6hdr *ip6 = cur->pos;
	if ((void *)(ip6 + 1) > data_end)
		return -PARSE_BAD_L3;
	if (ip6->version != 6)
		return -PARSE_BAD_L3;
	__u32 avail = wire_after(pkt, pkt->l3_offset);
	/* Payload length 0: a jumbogram or an offloaded segment, the frame says. */
	__u32 tot_len = or_wire(bpf_ntohs(ip6->payload_len), avail - sizeof(*ip6)) + sizeof(*ip6);
	if (tot_len > avail || tot_len < sizeof(*ip6))
		return -PARSE_BAD_IP_LEN;

	pkt->family = FAMILY_IPV6;
	pkt->l3_len = tot_len;
	__builtin_memcpy(pkt->src, &ip6->saddr, 16);
	__builtin_memcpy(pkt->dst, &ip6->daddr, 16);
	void *l3_end = cur->pos + tot_len;
	__u8 nexthdr = ip6->nexthdr;
	cur->pos = ip6 + 1;
	if (!walk_ext)
		return nexthdr;
	return parse_ip6_ext(cur, data_end, l3_end, nexthdr, pkt);
}

/* The type an ICMP message pairs with (echo with echo reply...), or -1 for
 * one-way messages: Zeek's and Suricata's counterparts, so that a request
 * and its reply are one flow, keyed as Community ID keys them. */
static __always_inline int icmp_counterpart(__u8 family, __u8 type)
{
	if (family == FAMILY_IPV4) {
		switch (type) {
		case 8: return 0;   case 0: return 8;   /* echo */
		case 13: return 14; case 14: return 13; /* timestamp */
		case 15: return 16; case 16: return 15; /* information */
		case 10: return 9;  case 9: return 10;  /* router solicitation/advertisement */
		case 17: return 18; case 18: return 17; /* address mask */
		}
		return -1;
	}
	switch (type) {
	case 128: return 129; case 129: return 128; /* echo */
	case 133: return 134; case 134: return 133; /* router solicitation/advertisement */
	case 135: return 136; case 136: return 135; /* neighbor solicitation/advertisement */
	case 130: return 131; case 131: return 130; /* MLD query/report */
	case 139: return 140; case 140: return 139; /* node information */
	case 144: return 145; case 145: return 144; /* home agent address discovery */
	}
	return -1;
}

/* ICMP errors that quote the packet they answer. */
static __always_inline int icmp_is_error(__u8 family, __u8 type)
{
	if (family == FAMILY_IPV4)
		return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
	return type >= 1 && type <= 4;
}

/* An ICMP message's flow key ports: its type and the counterpart type, or
 * its code for one-way messages (as Zeek, Suricata and Community ID key
 * them). For an error, also the flow it quotes: q holds the bytes after
 * the ICMP header (the quoted IP header and the first of its payload). */
static __always_inline void icmp_key(struct packet *pkt, __u8 *q, __u32 qlen)
{
	int cp = icmp_counterpart(pkt->family, pkt->icmp_type);
	pkt->sport = pkt->icmp_type;
	pkt->dport = cp >= 0 ? (__u16)cp : pkt->icmp_code;
	if (!icmp_is_error(pkt->family, pkt->icmp_type))
		return;

	__u8 proto;
	__u32 l4;
	if (pkt->family == FAMILY_IPV4) {
		struct iphdr *ip = (void *)q;
		if (qlen < sizeof(*ip) || ip->version != 4 || ip->ihl < 5 || (ip->frag_off & bpf_htons(0x1fff)))
			return;
		proto = ip->protocol;
		__builtin_memset(pkt->q_src, 0, 16);
		__builtin_memset(pkt->q_dst, 0, 16);
		__builtin_memcpy(pkt->q_src, &ip->saddr, 4);
		__builtin_memcpy(pkt->q_dst, &ip->daddr, 4);
		l4 = ip->ihl * 4;
	} else {
		struct ipv6hdr *ip6 = (void *)q;
		if (qlen < sizeof(*ip6) || ip6->version != 6)
			return;
		proto = ip6->nexthdr; /* extension headers in a quote: not followed */
		__builtin_memcpy(pkt->q_src, &ip6->saddr, 16);
		__builtin_memcpy(pkt->q_dst, &ip6->daddr, 16);
		l4 = sizeof(*ip6);
	}
	if (l4 + 4 > qlen || l4 > ICMP_QUOTE_LEN - 4)
		return;
	__u8 *p4 = q + (l4 & (ICMP_QUOTE_LEN - 1));
	switch (proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		pkt->q_sport = ((__u16)p4[0] << 8) | p4[1];
		pkt->q_dport = ((__u16)p4[2] << 8) | p4[3];
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		cp = icmp_counterpart(pkt->family, p4[0]);
		pkt->q_sport = p4[0];
		pkt->q_dport = cp >= 0 ? (__u16)cp : p4[1];
		break;
	default:
		return;
	}
	pkt->q_proto = proto;
	pkt->quoted = 1;
}

/* L4 headers; the cursor sits at the L4 header and l3_end marks the end of
 * the IP datagram by its length field (Ethernet padding excluded; past
 * data_end when the capture cut the frame). Returns 0 or a negative
 * parse_result. */
static __always_inline int parse_l4(struct hdr_cursor *cur, void *data, void *data_end,
				    void *l3_end, struct packet *pkt)
{
	void *l4 = cur->pos;
	__u32 hdr_len;

	/* Set before the checks: a first fragment too short for its L4
	 * header still makes a (port-less) flow, counted from here. */
	pkt->l4_offset = l4 - data;
	switch (pkt->proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = l4;
		if ((void *)(th + 1) > data_end || (void *)(th + 1) > l3_end)
			return -PARSE_BAD_L4;
		hdr_len = th->doff * 4;
		if (hdr_len < sizeof(*th))
			return -PARSE_BAD_TCP_DOFF;
		if (l4 + hdr_len > l3_end)
			return -PARSE_BAD_L4;
		pkt->sport = bpf_ntohs(th->source);
		pkt->dport = bpf_ntohs(th->dest);
		pkt->tcp_flags = ((__u8 *)th)[13];
		pkt->window = bpf_ntohs(th->window);
		pkt->seq = bpf_ntohl(th->seq);
		pkt->ack = bpf_ntohl(th->ack_seq);
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr *uh = l4;
		if ((void *)(uh + 1) > data_end || (void *)(uh + 1) > l3_end)
			return -PARSE_BAD_L4;
		hdr_len = sizeof(*uh);
		pkt->sport = bpf_ntohs(uh->source);
		pkt->dport = bpf_ntohs(uh->dest);
		break;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		__u8 *icmp = l4;
		if ((void *)(icmp + ICMP_HEADER_LEN) > data_end || (void *)(icmp + ICMP_HEADER_LEN) > l3_end)
			return -PARSE_BAD_L4;
		hdr_len = ICMP_HEADER_LEN;
		pkt->icmp_type = icmp[0];
		pkt->icmp_code = icmp[1];
		/* Their flow key (counterpart type, quoted flow) is
		 * icmp_key()'s, after parsing. */
		break;
	}
	default:
		/* Other protocols (GRE, ESP, SCTP...) are tracked by address. */
		hdr_len = 0;
		break;
	}
	/* A 64-bit difference of pointers, then the header: the compiler
	 * otherwise folds it into 32-bit pointer arithmetic, which the
	 * verifier refuses. */
	long after_l4 = l3_end - l4;
	asm volatile("" : "+r"(after_l4));
	pkt->payload_len = after_l4 - hdr_len;
	pkt->has_l4 = hdr_len != 0;
	return 0;
}

/* The IP header at l3 (h_proto: its ethertype, network order), and
 * IPv6's extension headers when walk_ext. Returns the L4 protocol or a
 * negative parse_result; the cursor is left at the L4 header. */
static __always_inline int parse_l3(struct hdr_cursor *cur, void *data, void *data_end, void *l3,
				    int h_proto, struct packet *pkt, int walk_ext)
{
	cur->pos = l3;
	pkt->l3_offset = l3 - data;
	if (h_proto == bpf_htons(ETH_P_IP))
		return parse_iphdr(cur, data_end, pkt);
	if (h_proto == bpf_htons(ETH_P_IPV6))
		return parse_ip6hdr(cur, data_end, pkt, walk_ext);
	return -PARSE_NON_IP;
}

/* What follows the IP headers (proto, from parse_l3) of the datagram at
 * l3, the cursor at its L4 header. Returns a parse_result. */
static __always_inline int parse_after_l3(struct hdr_cursor *cur, void *data, void *data_end, void *l3,
					  int proto, struct packet *pkt)
{
	if (proto < 0)
		return -proto;
	pkt->proto = proto;
	if (pkt->fragment) {
		pkt->payload_len = l3 + pkt->l3_len - cur->pos;
		return PARSE_IP;
	}
	int rc = parse_l4(cur, data, data_end, l3 + pkt->l3_len, pkt);
	return rc < 0 ? -rc : PARSE_IP;
}

/* The IP datagram at l3 (h_proto: its ethertype, network order) and its
 * L4 header. Returns a parse_result. */
static __always_inline int parse_ip_l4(void *data, void *data_end, void *l3, int h_proto, struct packet *pkt)
{
	struct hdr_cursor cur;
	int proto = parse_l3(&cur, data, data_end, l3, h_proto, pkt, 1);
	return parse_after_l3(&cur, data, data_end, l3, proto, pkt);
}

static __always_inline int parse_packet(void *data, void *data_end, __u32 wire_len, struct packet *pkt)
{
	struct hdr_cursor cur = {.pos = data};
	pkt->wire_len = wire_len;
	int h_proto = parse_ethhdr_vlans(&cur, data_end, pkt);
	if (h_proto < 0)
		return -h_proto;
	return parse_ip_l4(data, data_end, cur.pos, h_proto, pkt);
}

#endif

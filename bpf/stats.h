/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-packet counters in sensor_stats: what was parsed, and why a frame
 * was malformed. */
#ifndef XDPSENSOR_STATS_H
#define XDPSENSOR_STATS_H

#include <linux/in.h>
#include "xdpsensor.h"
#include "parsing.h"

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
	case PARSE_BAD_ENCAP: st->malformed_encap++; break;
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

#endif

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The datapath, written once for two hooks: bpf/xdpsensor.c includes it for
 * XDP (ingress) and for TC (egress, host mode), with these macros defined:
 *   DP_CTX            struct xdp_md or struct __sk_buff
 *   DP(name)          the hook's name for a function (name_xdp, name_tc)
 *   DP_LOAD_BYTES     bpf_xdp_load_bytes or bpf_skb_load_bytes
 *   DP_LEN(ctx)       the whole frame's length
 *   DP_IFINDEX(ctx)   the interface it crosses
 *   DP_PREPARE(ctx)   makes the headers readable (skb: pull them)
 *   DP_AFTER_PARSE    adds what the hook knows beyond the bytes (skb: an
 *                     offloaded VLAN tag, GSO segments)
 *   DP_VERDICT        what the program returns
 * and DP(packet_time) defined. Functions the verifier checks once are
 * global; each hook gets its own copies. */

static __always_inline void DP(fill_packet_fields)(DP_CTX *ctx, struct packet_fields *pf,
					       struct packet *pkt)
{
	__builtin_memcpy(pf->src, pkt->src, 16);
	__builtin_memcpy(pf->dst, pkt->dst, 16);
	pf->sport = pkt->sport;
	pf->dport = pkt->dport;
	pf->vlan[0] = pkt->vlan[0];
	pf->vlan[1] = pkt->vlan[1];
	pf->vlan[2] = pkt->vlan[2];
	pf->family = pkt->family;
	pf->proto = pkt->proto;
	pf->fragment = pkt->fragment;
	pf->tcp_flags = pkt->tcp_flags;
	pf->icmp_type = pkt->icmp_type;
	pf->icmp_code = pkt->icmp_code;
	pf->l3_offset = pkt->l3_offset;
	pf->l4_offset = pkt->l4_offset;

	if (pkt->family == FAMILY_IPV4) {
		struct iphdr ip;
		if (DP_LOAD_BYTES(ctx, pkt->l3_offset, &ip, sizeof(ip)) == 0) {
			pf->ttl = ip.ttl;
			pf->tos = ip.tos;
			pf->ip_hdr_len = ip.ihl * 4;
			pf->ip_id = bpf_ntohs(ip.id);
			pf->ip_len = bpf_ntohs(ip.tot_len);
			__u16 frag = bpf_ntohs(ip.frag_off);
			pf->ip_flags = frag >> 13;
			pf->frag_offset = frag & 0x1fff;
		}
	} else {
		struct ipv6hdr ip6;
		if (DP_LOAD_BYTES(ctx, pkt->l3_offset, &ip6, sizeof(ip6)) == 0) {
			pf->ttl = ip6.hop_limit;
			pf->tos = (ip6.priority << 4) | (ip6.flow_lbl[0] >> 4);
			pf->ip_hdr_len = sizeof(ip6);
			pf->ip_len = sizeof(ip6) + bpf_ntohs(ip6.payload_len);
		}
	}
	if (!pkt->has_l4)
		return;
	if (pkt->proto == IPPROTO_TCP) {
		struct tcphdr th;
		if (DP_LOAD_BYTES(ctx, pkt->l4_offset, &th, sizeof(th)) == 0) {
			pf->seq = bpf_ntohl(th.seq);
			pf->ack = bpf_ntohl(th.ack_seq);
			pf->window = bpf_ntohs(th.window);
			pf->urg_ptr = bpf_ntohs(th.urg_ptr);
			pf->tcp_hdr_len = th.doff * 4;
		}
	}
}

__noinline int DP(emit_alert)(DP_CTX *ctx, struct packet *pkt, struct flow_key *key,
			  struct alert_info *ai)
{
	__u32 zero = 0;
	if (!ctx || !pkt || !key || !ai)
		return 0;
	struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
	if (!st)
		return 0;
	struct alert_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		st->lost_events++;
		return 0;
	}
	ev->type = EVENT_ALERT;
	ev->listed = ai->listed;
	ev->direction = ai->side;
	ev->has_flow = ai->flow_start != 0;
	ev->rule_id = ai->rule_id;
	ev->ts_ns = ai->now;
	ev->flow_start_ns = ai->flow_start;
	ev->generation = ai->generation;
	ev->pad2 = 0;
	__builtin_memcpy(&ev->key, key, sizeof(*key));
	__builtin_memset(&ev->pkt, 0, sizeof(ev->pkt));
	DP(fill_packet_fields)(ctx, &ev->pkt, pkt);
	ev->ifindex = DP_IFINDEX(ctx);

	__u32 frame_len = DP_LEN(ctx);
	ev->frame_len = frame_len;
	ev->cap_len = 0;
	/* A constant size for full snapshots; shorter frames pass a masked
	 * length the verifier can bound (the mask changes nothing below 256). */
	if (frame_len >= ALERT_SNAP_LEN) {
		if (DP_LOAD_BYTES(ctx, 0, ev->data, ALERT_SNAP_LEN) == 0)
			ev->cap_len = ALERT_SNAP_LEN;
	} else {
		__u32 cap = frame_len & (ALERT_SNAP_LEN - 1);
		if (cap > 0 && DP_LOAD_BYTES(ctx, 0, ev->data, cap) == 0)
			ev->cap_len = cap;
	}
	bpf_ringbuf_submit(ev, 0);
	st->alerts++;
	return 1;
}

/* Hand the frame (up to snaplen bytes) to the capture ring. */
__noinline int DP(capture_frame)(DP_CTX *ctx, struct flow_key *key, struct capture_args *ca)
{
	__u32 zero = 0;
	if (!ctx || !key || !ca)
		return 0;
	struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
	struct capture_scratch *sc = bpf_map_lookup_elem(&capture_scratch, &zero);
	if (!st || !sc)
		return 0;
	__u32 frame_len = DP_LEN(ctx);
	__u32 cap = frame_len < ca->snaplen ? frame_len : ca->snaplen;
	cap &= 0x3fff;
	if (cap == 0 || cap > MAX_SNAPLEN)
		return 0;
	if (DP_LOAD_BYTES(ctx, 0, sc->data, cap))
		return 0;
	sc->hdr.ts_ns = ca->now;
	sc->hdr.flow_start_ns = ca->flow_start;
	__builtin_memcpy(&sc->hdr.key, key, sizeof(*key));
	sc->hdr.frame_len = frame_len;
	sc->hdr.cap_len = cap;
	sc->hdr.ifindex = DP_IFINDEX(ctx);
	sc->hdr.listed = ca->listed;
	sc->hdr.direction = ca->side;
	sc->hdr.pad[0] = 0;
	sc->hdr.pad[1] = 0;
	if (bpf_ringbuf_output(&capture, sc, sizeof(sc->hdr) + cap, 0)) {
		st->capture_lost++;
		return 0;
	}
	st->capture_packets++;
	st->capture_bytes += cap;
	return cap;
}

/* Capture this packet of flow f if the mode and the flow's budget say so. */
static __always_inline void DP(maybe_capture)(DP_CTX *ctx, struct sensor_config *cfg,
					  struct sensor_stats *st, struct flow_key *key,
					  struct flow_value *f, __u64 now, __u8 side)
{
	__u8 mode = cfg->capture_mode;
	if (mode == CAPTURE_NONE || (mode == CAPTURE_LISTED && !f->match.listed))
		return;
	__u64 budget = cfg->capture_flow_bytes;
	if (budget && f->captured_bytes >= budget) {
		st->capture_capped++;
		return;
	}
	struct capture_args ca = {
		.now = now,
		.flow_start = f->first_seen_ns,
		.snaplen = cfg->capture_snaplen,
		.listed = f->match.listed,
		.side = side,
	};
	f->captured_bytes += DP(capture_frame)(ctx, key, &ca);
}

/* Fragments after the first carry no ports and join no flow: they are
 * matched on addresses alone, every time. */
static __always_inline void DP(handle_fragment)(DP_CTX *ctx, struct sensor_stats *st,
					    struct sensor_config *cfg, struct packet *pkt, __u32 gen,
					    __u64 now)
{
	struct flow_key key = {};
	struct flow_match fm = {};
	struct alert_info ai = {.now = now, .generation = gen};
	__u8 side = make_flow_key(&key, pkt);

	st->fragments++;
	decide_match(&fm, &key, gen);
	__u8 mode = cfg->capture_mode;
	if (mode == CAPTURE_ALL || (mode == CAPTURE_LISTED && fm.listed)) {
		struct capture_args ca = {.now = now, .snaplen = cfg->capture_snaplen, .listed = fm.listed, .side = side};
		DP(capture_frame)(ctx, &key, &ca);
	}
	ai.side = side;
	ai.rule_id = packet_rule(&fm, side, &ai.listed);
	if (ai.rule_id) {
		st->matches++;
		if (threshold_allows(pkt, ai.rule_id, now))
			DP(emit_alert)(ctx, pkt, &key, &ai);
	}
}

/* Parse the frame into pkt; a global function, verified once. */
__noinline int DP(parse_frame)(DP_CTX *ctx, struct packet *pkt)
{
	if (!ctx || !pkt)
		return PARSE_BAD_L2;
	DP_PREPARE(ctx);
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	int rc = parse_packet(data, data_end, DP_LEN(ctx), pkt);
	pkt->segs = 1;
	DP_AFTER_PARSE(ctx, pkt);
	return rc;
}

/* The datapath proper: everything a packet goes through. */
static __always_inline int DP(process)(DP_CTX *ctx)
{
	__u32 zero = 0;
	__u32 frame_len = DP_LEN(ctx);

	struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
	if (!st)
		return DP_VERDICT;
	st->packets++;
	st->bytes += frame_len;

	struct packet pkt = {};
	int rc = DP(parse_frame)(ctx, &pkt);
	if (rc == PARSE_NON_IP) {
		st->non_ip_packets++;
		st->non_ip_bytes += frame_len;
		return DP_VERDICT;
	}
	if (rc != PARSE_IP) {
		count_malformed(st, rc);
		return DP_VERDICT;
	}
	count_protocol(st, &pkt);

	struct sensor_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return DP_VERDICT;
	__u32 gen = READ_ONCE(cfg->generation);
	__u64 now = DP(packet_time)(ctx);

	if (pkt.fragment) {
		DP(handle_fragment)(ctx, st, cfg, &pkt, gen, now);
		return DP_VERDICT;
	}

	bench_vary(&pkt);
	struct flow_key key = {};
	__u8 side = make_flow_key(&key, &pkt);
	struct alert_info ai = {.now = now, .side = side, .generation = gen};

	struct flow_value *f = bpf_map_lookup_elem(&flows, &key);
	if (!f) {
		struct flow_value *nf = bpf_map_lookup_elem(&flow_scratch, &zero);
		if (!nf)
			return DP_VERDICT;
		__builtin_memset(nf, 0, sizeof(*nf));
		nf->first_seen_ns = now;
		nf->last_seen_ns = now;
		nf->initiator = side;
		nf->first_tcp_flags = pkt.tcp_flags;
		nf->icmp_type = pkt.icmp_type;
		nf->icmp_code = pkt.icmp_code;
		count_direction(&nf->dir[side & 1], &pkt);
		record_history(nf, &pkt, side);
		decide_match(&nf->match, &key, gen);
		ai.rule_id = packet_rule(&nf->match, side, &ai.listed);
		int alert = 0;
		if (ai.rule_id) {
			st->matches++;
			alert = threshold_allows(&pkt, ai.rule_id, now);
			if (alert)
				nf->alerts = 1;
			else
				nf->suppressed = 1;
		}
		DP(maybe_capture)(ctx, cfg, st, &key, nf, now, side);
		__u8 reason = track_close(nf, &pkt, side);
		if (bpf_map_update_elem(&flows, &key, nf, BPF_NOEXIST) == 0) {
			st->flows_new++;
			if (alert) {
				ai.flow_start = now;
				DP(emit_alert)(ctx, &pkt, &key, &ai);
			}
			if (reason)
				emit_flow_closed(&key, nf, reason);
			return DP_VERDICT;
		}
		/* Another CPU created it first: account on its entry. */
		f = bpf_map_lookup_elem(&flows, &key);
		if (!f) {
			st->flow_insert_failed++;
			return DP_VERDICT;
		}
	}

	if (f->match.generation != gen)
		decide_match(&f->match, &key, gen);
	f->last_seen_ns = now;
	count_direction(&f->dir[side & 1], &pkt);
	record_history(f, &pkt, side);
	DP(maybe_capture)(ctx, cfg, st, &key, f, now, side);
	if (f->match.listed) {
		ai.rule_id = packet_rule(&f->match, side, &ai.listed);
		if (ai.rule_id) {
			st->matches++;
			if (threshold_allows(&pkt, ai.rule_id, now)) {
				f->alerts++;
				ai.flow_start = f->first_seen_ns;
				DP(emit_alert)(ctx, &pkt, &key, &ai);
			} else {
				f->suppressed++;
			}
		}
	}
	__u8 reason = track_close(f, &pkt, side);
	if (reason)
		emit_flow_closed(&key, f, reason);
	return DP_VERDICT;
}

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
 * and DP(packet_time), DP(wire_len) and DP(pcap_cnt) defined. Functions the verifier checks once are
 * global; each hook gets its own copies. */

static __always_inline void DP(fill_packet_fields)(DP_CTX *ctx, struct packet_fields *pf,
					       struct packet *pkt)
{
	__builtin_memcpy(pf->src, pkt->src, 16);
	__builtin_memcpy(pf->dst, pkt->dst, 16);
	/* ICMP's "ports" (type, counterpart) key flows; a packet has none. */
	if (pkt->proto != IPPROTO_ICMP && pkt->proto != IPPROTO_ICMPV6) {
		pf->sport = pkt->sport;
		pf->dport = pkt->dport;
	}
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
	ev->pcap_cnt = DP(pcap_cnt)(ctx);
	__builtin_memcpy(&ev->key, key, sizeof(*key));
	__builtin_memset(&ev->pkt, 0, sizeof(ev->pkt));
	DP(fill_packet_fields)(ctx, &ev->pkt, pkt);
	ev->ifindex = DP_IFINDEX(ctx);
	ev->flow_packets[0] = ai->flow_packets[0];
	ev->flow_packets[1] = ai->flow_packets[1];
	ev->flow_bytes[0] = ai->flow_bytes[0];
	ev->flow_bytes[1] = ai->flow_bytes[1];
	ev->initiator = ai->initiator;
	__builtin_memset(ev->pad3, 0, sizeof(ev->pad3));

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

/* Capture this packet of flow f if the mode and the flow's budget say so.
 * The budget counts the flow's frame bytes, both ways: capture starts at a
 * flow's first packet, so they are the bytes captured (whole frames). */
static __always_inline void DP(maybe_capture)(DP_CTX *ctx, struct sensor_config *cfg,
					  struct sensor_stats *st, struct flow_value *f,
					  struct dp_state *s)
{
	__u8 mode = cfg->capture_mode;
	__u8 listed = f->marks & (LISTED_LO | LISTED_HI);
	if (mode == CAPTURE_NONE || (mode == CAPTURE_LISTED && !listed))
		return;
	__u64 budget = cfg->capture_flow_bytes;
	__u64 seen = (__u64)f->dir[0].frame_bytes + f->dir[1].frame_bytes;
	if (budget && seen > budget) {
		st->capture_capped++;
		return;
	}
	struct capture_args ca = {
		.now = s->now,
		.flow_start = f->first_seen_ns,
		.snaplen = cfg->capture_snaplen,
		.listed = listed,
		.side = s->side,
	};
	DP(capture_frame)(ctx, &s->key, &ca);
}

/* IP-only rules (address lists) raise alerts on a flow's first packet in
 * each direction, as Suricata inspects them, or on every packet in
 * ALERT_EVERY_PACKET mode (Snort 2); thresholds apply on top. */
__noinline int DP(inspect)(DP_CTX *ctx, struct flow_value *f, struct dp_state *s)
{
	__u32 zero = 0;
	if (!ctx || !f || !s)
		return 0;
	if (!(f->marks & (LISTED_LO | LISTED_HI)))
		return 0;
	struct sensor_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
	if (!cfg || !st)
		return 0;
	__u8 side = s->side & 1;
	__u8 bit = side == SIDE_LO ? INSPECTED_LO : INSPECTED_HI;
	if (cfg->alert_mode != ALERT_EVERY_PACKET && (f->marks & bit))
		return 0;
	f->marks |= bit;
	/* Listed flows are few: the rules are decided again rather than kept. */
	if (!s->decided) {
		decide_match(&s->md, &s->key, s->gen);
		s->decided = 1;
	}
	struct alert_info ai = {.now = s->now, .side = side, .generation = s->gen, .flow_start = f->first_seen_ns};
	ai.rule_id = packet_rule(&s->md, side, &ai.listed);
	if (!rule_fires(st, &s->pkt, ai.rule_id, s->now))
		return 0;
	ai.initiator = f->state & STATE_INITIATOR_HI ? SIDE_HI : SIDE_LO;
	ai.flow_packets[0] = f->dir[0].packets;
	ai.flow_packets[1] = f->dir[1].packets;
	ai.flow_bytes[0] = f->dir[0].frame_bytes;
	ai.flow_bytes[1] = f->dir[1].frame_bytes;
	f->marks |= MARK_ALERTED;
	DP(emit_alert)(ctx, &s->pkt, &s->key, &ai);
	return 1;
}

/* Everything a flow's packet does to its entry (a table entry, or the
 * scratch entry of a packet the full table had no room for). Returns the
 * FLOW_END_* reason when the packet closes the flow. */
__noinline int DP(account)(DP_CTX *ctx, struct flow_value *f, struct dp_state *s)
{
	__u32 zero = 0;
	if (!ctx || !f || !s)
		return 0;
	struct sensor_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
	if (!cfg || !st)
		return 0;
	refresh_match(f, s);
	touch(&s->key, f, s->now);
	count_packet(f, s);
	DP(inspect)(ctx, f, s);
	DP(maybe_capture)(ctx, cfg, st, f, s);
	return track_close(f, &s->pkt, s->side & 1);
}

/* An ICMP error is counted in the flow it quotes, where Suricata counts
 * it, when that flow is in the table; it travels back toward the quoted
 * packet's sender. Returns 0 when there is no such flow. */
__noinline int DP(count_quoted)(DP_CTX *ctx, struct dp_state *s)
{
	__u32 zero = 0;
	if (!ctx || !s)
		return 0;
	struct sensor_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
	if (!cfg || !st)
		return 0;
	struct packet *pkt = &s->pkt;
	__u8 qside = canonical_key(&s->key, pkt->q_src, pkt->q_dst, pkt->q_sport, pkt->q_dport,
				   pkt->q_proto, pkt->family, s->zone);
	struct flow_value *f = flow_lookup(&s->key);
	if (!f)
		return 0;
	s->side = qside ^ 1;
	s->fresh = 0;
	st->icmp_errors_quoted++;
	refresh_match(f, s);
	touch(&s->key, f, s->now);
	count_volume(&s->key, f, s->side & 1, pkt, s->frame_len);
	DP(inspect)(ctx, f, s);
	DP(maybe_capture)(ctx, cfg, st, f, s);
	return 1;
}

/* Fragments after the first carry no ports and join no flow: they are
 * matched on addresses alone, every time. */
static __always_inline void DP(handle_fragment)(DP_CTX *ctx, struct sensor_stats *st,
					    struct sensor_config *cfg, struct dp_state *s)
{
	struct alert_info ai = {.now = s->now, .generation = s->gen};
	__u8 side = make_flow_key(&s->key, &s->pkt, s->zone);

	st->fragments++;
	decide_match(&s->md, &s->key, s->gen);
	__u8 mode = cfg->capture_mode;
	if (mode == CAPTURE_ALL || (mode == CAPTURE_LISTED && s->md.listed)) {
		struct capture_args ca = {.now = s->now, .snaplen = cfg->capture_snaplen, .listed = s->md.listed, .side = side};
		DP(capture_frame)(ctx, &s->key, &ca);
	}
	ai.side = side;
	ai.rule_id = packet_rule(&s->md, side, &ai.listed);
	if (rule_fires(st, &s->pkt, ai.rule_id, s->now))
		DP(emit_alert)(ctx, &s->pkt, &s->key, &ai);
}

/* Parse the frame into pkt; a global function, verified once. */
__noinline int DP(parse_frame)(DP_CTX *ctx, struct packet *pkt)
{
	if (!ctx || !pkt)
		return PARSE_BAD_L2;
	DP_PREPARE(ctx);
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	int rc = parse_packet(data, data_end, DP(wire_len)(ctx), pkt);
	pkt->segs = 1;
	DP_AFTER_PARSE(ctx, pkt);
	return rc;
}

/* ICMP's flow key and quoted flow, read apart from the parser: ICMP is
 * rare, and its branches would multiply the parser's verifier states. */
__noinline int DP(parse_icmp)(DP_CTX *ctx, struct packet *pkt)
{
	__u8 q[ICMP_QUOTE_LEN] = {};
	if (!ctx || !pkt)
		return 0;
	__u32 off = pkt->l4_offset + ICMP_HEADER_LEN;
	__u32 len = DP_LEN(ctx);
	__u32 qlen = len > off ? len - off : 0;
	if (qlen > ICMP_QUOTE_LEN)
		qlen = ICMP_QUOTE_LEN;
	if (qlen >= 28 && DP_LOAD_BYTES(ctx, off, q, qlen & (ICMP_QUOTE_LEN * 2 - 1)))
		qlen = 0;
	if (qlen < 28)
		qlen = 0;
	icmp_key(pkt, q, qlen);
	return 0;
}

/* The datapath proper: everything a packet goes through. */
static __always_inline int DP(process)(DP_CTX *ctx)
{
	__u32 zero = 0;
	__u32 frame_len = DP_LEN(ctx);

	struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
	struct dp_state *s = bpf_map_lookup_elem(&dp_states, &zero);
	if (!st || !s)
		return DP_VERDICT;
	st->packets++;
	st->bytes += frame_len;

	__builtin_memset(&s->pkt, 0, sizeof(s->pkt));
	int rc = DP(parse_frame)(ctx, &s->pkt);
	if (rc == PARSE_NON_IP) {
		st->non_ip_packets++;
		st->non_ip_bytes += frame_len;
		return DP_VERDICT;
	}
	if (rc != PARSE_IP) {
		count_malformed(st, rc);
		return DP_VERDICT;
	}
	count_protocol(st, &s->pkt);
	if (s->pkt.has_l4 && (s->pkt.proto == IPPROTO_ICMP || s->pkt.proto == IPPROTO_ICMPV6))
		DP(parse_icmp)(ctx, &s->pkt);

	struct sensor_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return DP_VERDICT;
	s->gen = READ_ONCE(cfg->generation);
	s->now = DP(packet_time)(ctx);
	s->frame_len = frame_len;
	s->zone = packet_zone(&s->pkt, st);
	s->fresh = 0;
	s->decided = 0;

	if (s->pkt.fragment) {
		DP(handle_fragment)(ctx, st, cfg, s);
		return DP_VERDICT;
	}
	if (s->pkt.quoted && DP(count_quoted)(ctx, s))
		return DP_VERDICT;

	bench_vary(&s->pkt);
	s->side = make_flow_key(&s->key, &s->pkt, s->zone);

	struct flow_value *f = flow_lookup(&s->key);
	if (f && (f->state & STATE_CLOSED) && pure_syn(&s->pkt)) {
		/* A new connection on a closed tuple, as Zeek and Suricata
		 * see it: the old flow goes out as a record, the entry starts
		 * over. Without ring room the two stay one flow, counted. */
		if (emit_flow_event(&s->key, f, EVENT_FLOW_RECORD, end_reason(f))) {
			flow_start(f, s->side, s->now);
			st->flows_new++;
			if (s->key.family == FAMILY_IPV6)
				st->flows_new_v6++;
			st->flows_reused++;
			s->fresh = 1;
		} else {
			st->flows_merged++;
		}
	}
	if (!f) {
		struct flow_value *nf = bpf_map_lookup_elem(&flow_scratch, &zero);
		if (!nf)
			return DP_VERDICT;
		flow_start(nf, s->side, s->now);
		if (flow_insert(&s->key, nf) == 0) {
			st->flows_new++;
			if (s->key.family == FAMILY_IPV6)
				st->flows_new_v6++;
			s->fresh = 1;
		}
		/* Inserted, or another CPU inserted it first. */
		f = flow_lookup(&s->key);
		if (!f) {
			/* The table is full: this packet is a record of its own. */
			st->flow_table_full++;
			s->fresh = 1;
			DP(account)(ctx, nf, s);
			if (!emit_flow_event(&s->key, nf, EVENT_FLOW_RECORD, FLOW_END_TABLE_FULL))
				st->flow_records_lost++;
			return DP_VERDICT;
		}
	}
	int reason = DP(account)(ctx, f, s);
	if (reason)
		emit_flow_event(&s->key, f, EVENT_FLOW_CLOSED, reason);
	return DP_VERDICT;
}

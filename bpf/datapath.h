/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The datapath, written once for two hooks: bpf/xdpsensor.c includes it for
 * XDP (ingress) and for TC (egress, host mode), with these macros defined:
 *   DP_CTX            struct xdp_md or struct __sk_buff
 *   DP(name)          the hook's name for a function (name_xdp, name_tc)
 *   DP_LOAD_BYTES     bpf_xdp_load_bytes or bpf_skb_load_bytes
 *   DP_LEN(ctx)       the whole frame's length
 *   DP_IFINDEX(ctx)   the interface it crosses
 *   DP_PREPARE(ctx)   makes the headers readable (skb: pull them)
 *   DP_PREPARE_DEEP(ctx) the same for decapsulated headers, deeper in
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
			  struct alert_info *ai, struct packet_tunnel *tun)
{
	__u32 zero = 0;
	if (!ctx || !pkt || !key || !ai || !tun)
		return 0;
	struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
	if (!st)
		return 0;
	struct alert_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		st->lost_events++;
		st->alerts_lost++;
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
	ev->layer = ai->layer;
	__builtin_memset(ev->pad3, 0, sizeof(ev->pad3));
	if (pkt->tunneled)
		__builtin_memcpy(&ev->tunnel, tun, sizeof(ev->tunnel));
	else
		__builtin_memset(&ev->tunnel, 0, sizeof(ev->tunnel));

	/* What the program holds; the wire's length may be more (a replayed
	 * capture cut by its snap length). */
	__u32 frame_len = DP_LEN(ctx);
	ev->frame_len = DP(wire_len)(ctx);
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
	sc->hdr.frame_len = DP(wire_len)(ctx); /* the pcap record's original length */
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
 * flow's first packet, so they are the bytes captured (whole frames).
 * Past 4 GiB a direction's counter has wrapped into the extension, so the
 * sum reads it there; a flow over budget is marked, and its later packets
 * are capped on the mark alone. */
static __always_inline void DP(maybe_capture)(DP_CTX *ctx, struct sensor_config *cfg,
					  struct sensor_stats *st, struct flow_value *f,
					  struct dp_state *s)
{
	__u8 mode = cfg->capture_mode;
	/* Listed by its own addresses or by its tunnel's outer ones: an outer
	 * alert names this flow and looks for this frame. */
	__u8 listed = (f->marks | f->outer_marks) & (LISTED_LO | LISTED_HI);
	if (mode == CAPTURE_NONE || (mode == CAPTURE_LISTED && !listed))
		return;
	__u64 budget = cfg->capture_flow_bytes;
	if (budget) {
		if (!(f->state & STATE_CAPTURE_CAPPED)) {
			__u64 seen = (__u64)f->dir[0].frame_bytes + f->dir[1].frame_bytes;
			if (seen <= budget && (f->state & STATE_EXTRA))
				seen += frame_bytes_hi(&s->key, f);
			if (seen > budget)
				f->state |= STATE_CAPTURE_CAPPED;
		}
		if (f->state & STATE_CAPTURE_CAPPED) {
			st->capture_capped++;
			return;
		}
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
 * ALERT_EVERY_PACKET mode (Snort 2); thresholds apply on top. The layer
 * is the flow's own addresses (LAYER_INNER) or, for a tunneled packet,
 * its innermost tunnel's outer addresses (LAYER_OUTER): either way the
 * alert names the inner flow and carries the tunnel; an outer alert's
 * direction is the outer packet's. */
__noinline int DP(inspect)(DP_CTX *ctx, struct flow_value *f, struct dp_state *s, int layer)
{
	__u32 zero = 0;
	if (!ctx || !f || !s)
		return 0;
	int outer = layer == LAYER_OUTER;
	__u8 *marks = outer ? &f->outer_marks : &f->marks;
	if (!(*marks & (LISTED_LO | LISTED_HI)))
		return 0;
	struct sensor_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
	if (!cfg || !st)
		return 0;
	__u8 side = (outer ? s->oside : s->side) & 1;
	__u8 bit = side == SIDE_LO ? INSPECTED_LO : INSPECTED_HI;
	if (cfg->alert_mode != ALERT_EVERY_PACKET && (*marks & bit))
		return 0;
	/* Listed flows are few: the rules are decided again rather than kept. */
	struct match_decision *md = outer ? &s->omd : &s->md;
	__u8 *decided = outer ? &s->odecided : &s->decided;
	if (!*decided) {
		decide_match(md, outer ? &s->okey : &s->key, s->gen);
		*decided = 1;
	}
	struct alert_info ai = {.now = s->now, .side = s->side & 1, .generation = s->gen,
				.flow_start = f->first_seen_ns, .layer = layer};
	ai.rule_id = packet_rule(md, side, &ai.listed);
	int fires = outer ? outer_rule_fires(st, &s->tun, ai.rule_id, s->now)
			  : rule_fires(st, &s->pkt, ai.rule_id, s->now);
	if (!fires) {
		*marks |= bit; /* inspected: the threshold held it back */
		return 0;
	}
	ai.initiator = f->state & STATE_INITIATOR_HI ? SIDE_HI : SIDE_LO;
	ai.flow_packets[0] = f->dir[0].packets;
	ai.flow_packets[1] = f->dir[1].packets;
	ai.flow_bytes[0] = f->dir[0].frame_bytes;
	ai.flow_bytes[1] = f->dir[1].frame_bytes;
	/* Marked only once the ring took the alert: without room, the
	 * direction's next packet tries again (alerts_lost counts this one),
	 * judged as this one was: the threshold takes its count back. */
	if (!DP(emit_alert)(ctx, &s->pkt, &s->key, &ai, &s->tun)) {
		if (fires == THRESHOLD_COUNTED)
			threshold_refund(outer ? (struct tracked_addrs *)&s->tun : (struct tracked_addrs *)&s->pkt,
					 outer ? s->tun.family : s->pkt.family, ai.rule_id);
		return 0;
	}
	*marks |= bit;
	f->marks |= MARK_ALERTED;
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
	DP(inspect)(ctx, f, s, LAYER_INNER);
	if (s->pkt.tunneled)
		DP(inspect)(ctx, f, s, LAYER_OUTER);
	DP(maybe_capture)(ctx, cfg, st, f, s);
	return track_close(f, &s->pkt, s->side & 1);
}

/* Match a packet on its own addresses, with no flow's once-per-direction
 * inspection: every such packet is judged (thresholds apply). Leaves the
 * packet's key, side and decision in s. Returns the listed bits. */
__noinline int DP(inspect_alone)(DP_CTX *ctx, struct dp_state *s)
{
	__u32 zero = 0;
	if (!ctx || !s)
		return 0;
	struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
	if (!st)
		return 0;
	struct alert_info ai = {.now = s->now, .generation = s->gen};
	s->side = make_flow_key(&s->key, &s->pkt, s->zone);
	decide_match(&s->md, &s->key, s->gen);
	ai.side = s->side;
	ai.rule_id = packet_rule(&s->md, s->side, &ai.listed);
	/* Without ring room the threshold takes its count back, as for a
	 * flow's alert: the next matching packet is judged as this one. */
	int fires = rule_fires(st, &s->pkt, ai.rule_id, s->now);
	if (fires && !DP(emit_alert)(ctx, &s->pkt, &s->key, &ai, &s->tun) && fires == THRESHOLD_COUNTED)
		threshold_refund((struct tracked_addrs *)&s->pkt, s->pkt.family, ai.rule_id);
	return s->md.listed;
}

/* Capture a packet matched on its own (inspect_alone: s holds its key,
 * side and decision) as the mode says: no flow, so no flow budget. */
static __always_inline void DP(capture_alone)(DP_CTX *ctx, struct sensor_config *cfg, struct dp_state *s)
{
	__u8 mode = cfg->capture_mode;
	if (mode == CAPTURE_ALL || (mode == CAPTURE_LISTED && s->md.listed)) {
		struct capture_args ca = {.now = s->now, .snaplen = cfg->capture_snaplen, .listed = s->md.listed, .side = s->side};
		DP(capture_frame)(ctx, &s->key, &ca);
	}
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
	/* From the quoted packet's destination, the error is that end
	 * answering: the flow's listing applies. From a third party (a
	 * router on the path), neither of its addresses is the flow's, so
	 * it is matched on its own addresses, as Suricata's IP-only rules
	 * see the packet: a listed flow must not make the router look
	 * listed. */
	int third_party = __builtin_memcmp(pkt->src, pkt->q_dst, 16) != 0;
	if (!third_party)
		DP(inspect)(ctx, f, s, LAYER_INNER);
	if (pkt->tunneled)
		DP(inspect)(ctx, f, s, LAYER_OUTER);
	if (!third_party) {
		DP(maybe_capture)(ctx, cfg, st, f, s);
		return 1;
	}
	st->icmp_errors_third_party++;
	/* Its frame is captured once: under its own key when its own
	 * addresses are listed, where its alert looks for it, else with the
	 * quoted flow as any of that flow's packets. */
	if (DP(inspect_alone)(ctx, s)) {
		DP(capture_alone)(ctx, cfg, s);
		return 1;
	}
	canonical_key(&s->key, pkt->q_src, pkt->q_dst, pkt->q_sport, pkt->q_dport, pkt->q_proto, pkt->family, s->zone);
	s->side = qside ^ 1;
	DP(maybe_capture)(ctx, cfg, st, f, s);
	return 1;
}

/* Fragments after the first whose first piece was not seen carry no ports
 * and join no flow: they are matched on addresses alone, every time. */
static __always_inline void DP(handle_fragment)(DP_CTX *ctx, struct sensor_config *cfg,
					    struct dp_state *s)
{
	DP(inspect_alone)(ctx, s);
	DP(capture_alone)(ctx, cfg, s);
}

/* Bounds an L4 offset for the verifier, which marks a packet pointer
 * checked against the frame's end only below 64 KiB, its offset
 * included: headers start within 512 bytes, and eight extension headers
 * of at most 2 KiB each follow. */
#define L4_OFFSET_MASK 0x7fff

/* IPv6's extension headers from off, where the IPv6 header at
 * pkt->l3_offset ends; nexthdr is its next header. Returns the L4
 * protocol | its offset << 8, or a negative parse_result. A global
 * function: walked inline, the chain's paths multiplied the L4 parser's
 * verifier states. */
__noinline int DP(parse_ip6_ext)(DP_CTX *ctx, struct packet *pkt, __u32 off, __u32 nexthdr)
{
	if (!ctx || !pkt)
		return -PARSE_BAD_IPV6_EXT;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	/* Masks the verifier can bound; neither changes a real offset (a
	 * datagram is at most 64 KiB past a header at most 512 bytes in). */
	__u32 l3_end = ((__u32)pkt->l3_offset + pkt->l3_len) & 0x3ffff;
	struct hdr_cursor cur = {.pos = data + (off & L4_OFFSET_MASK)};
	int proto = parse_ip6_ext(&cur, data_end, data + l3_end, (__u8)nexthdr, pkt);
	if (proto < 0)
		return proto;
	long l4 = cur.pos - data;
	asm volatile("" : "+r"(l4)); /* a 64-bit difference: the verifier refuses 32-bit pointer arithmetic */
	return proto | (int)(l4 << 8);
}

/* The IP header at off (h_proto its ethertype, network order) and what
 * follows, with the headers readable already: the frame's parser and
 * decap's share it. A global function, verified once for every offset
 * (inlined after each VLAN depth's constant offset, it was verified once
 * for each, two thirds of the program's verifier work). */
__noinline int DP(parse_ip_at)(DP_CTX *ctx, struct packet *pkt, __u32 off, __u32 h_proto)
{
	if (!ctx || !pkt)
		return PARSE_BAD_ENCAP;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	if (off > DECAP_MAX_OFFSET)
		return PARSE_BAD_ENCAP;
	pkt->wire_len = DP(wire_len)(ctx);
	pkt->segs = 1;
	void *l3 = data + off;
	struct hdr_cursor cur;
	int proto = parse_l3(&cur, data, data_end, l3, h_proto, pkt, 0);
	if (proto >= 0 && pkt->family == FAMILY_IPV6 && ip6_ext_header(proto)) {
		long ext = cur.pos - data;
		asm volatile("" : "+r"(ext)); /* as above */
		proto = DP(parse_ip6_ext)(ctx, pkt, ext, proto);
		if (proto >= 0) {
			cur.pos = data + (((__u32)proto >> 8) & L4_OFFSET_MASK);
			proto &= 0xff;
		}
	}
	return parse_after_l3(&cur, data, data_end, l3, proto, pkt);
}

/* Parse the frame into pkt; a global function, verified once. */
__noinline int DP(parse_frame)(DP_CTX *ctx, struct packet *pkt)
{
	if (!ctx || !pkt)
		return PARSE_BAD_L2;
	DP_PREPARE(ctx);
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct hdr_cursor cur = {.pos = data};
	int rc;
	int h_proto = parse_ethhdr_vlans(&cur, data_end, pkt);
	if (h_proto < 0) {
		pkt->wire_len = DP(wire_len)(ctx);
		pkt->segs = 1;
		rc = -h_proto;
	} else {
		rc = DP(parse_ip_at)(ctx, pkt, cur.pos - data, h_proto);
	}
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

/* The parser on the headers decap found, deeper than the frame's. */
__noinline int DP(parse_inner)(DP_CTX *ctx, struct packet *pkt, __u32 off, __u32 h_proto)
{
	if (!ctx || !pkt)
		return PARSE_BAD_ENCAP;
	DP_PREPARE_DEEP(ctx);
	return DP(parse_ip_at)(ctx, pkt, off, h_proto);
}

/* One header of decap's walk: read into the walk's buffer, then stepped
 * over. A global function, verified once: inlined in the walk's loop it
 * was verified for every step and path, over half the program's verifier
 * work (start-up time of every `run` and `replay`). */
__noinline int DP(decap_next)(DP_CTX *ctx, struct decap_walk *w, __u32 vxlan, __u32 geneve)
{
	if (!ctx || !w)
		return DECAP_BAD;
	/* Headers in the linear part are copied in place (a helper call
	 * costs more than the copy); past it, and the frame's last bytes,
	 * through the helper, with a masked length the verifier can bound. */
	__u32 off = w->off;
	if (off > DECAP_MAX_OFFSET)
		return DECAP_BAD;
	__u32 len = DP_LEN(ctx);
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	void *at = data + off;
	__u32 n = len > off ? len - off : 0;
	if (at + DECAP_COPY <= data_end) {
		__builtin_memcpy(w->buf, at, DECAP_COPY);
		n = DECAP_COPY;
	} else if (n >= DECAP_READ) {
		n = DP_LOAD_BYTES(ctx, off, w->buf, DECAP_READ) ? 0 : DECAP_READ;
	} else {
		/* Hidden from the compiler, which would drop the mask. */
		asm volatile("" : "+r"(n));
		n &= DECAP_READ - 1;
		if (n > 0 && DP_LOAD_BYTES(ctx, off, w->buf, n))
			n = 0;
	}
	w->avail = n;
	return decap_step(w, (__u16)vxlan, (__u16)geneve);
}

/* Encapsulations (bpf/decap.h): walk the headers from the frame's start
 * to the innermost IP header, parse from there, and leave the zone's
 * tunnel part and the outer addresses' key in s. Returns a parse_result;
 * rc is the parser's, which stands when there was nothing to decode. */
__noinline int DP(decap)(DP_CTX *ctx, struct dp_state *s, int rc)
{
	__u32 zero = 0;
	if (!ctx || !s)
		return rc;
	struct sensor_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
	if (!cfg || !st)
		return rc;
	__u16 vxlan = cfg->vxlan_port ? cfg->vxlan_port : DEFAULT_VXLAN_PORT;
	__u16 geneve = cfg->geneve_port ? cfg->geneve_port : DEFAULT_GENEVE_PORT;
	struct decap_walk *w = &s->walk;
	__builtin_memset(w, 0, sizeof(*w));
	__u16 eth_type;
	if (DP_LOAD_BYTES(ctx, 12, &eth_type, 2))
		return rc;
	w->off = 14;
	w->ethertype = bpf_ntohs(eth_type);

	int end = DECAP_BAD;
	for (int i = 0; i < DECAP_MAX_STEPS; i++) {
		if (w->off > DECAP_MAX_OFFSET)
			break;
		end = DP(decap_next)(ctx, w, vxlan, geneve);
		if (end != DECAP_MORE)
			break;
	}
	if (end == DECAP_MORE)
		end = w->ip_type ? DECAP_IP : DECAP_BAD; /* deeper than we walk */
	count_decap(st, w->seen);
	switch (end) {
	case DECAP_NON_IP: return PARSE_NON_IP;
	case DECAP_BAD_VLAN: return PARSE_BAD_VLAN;
	case DECAP_BAD: return PARSE_BAD_ENCAP;
	}
	if (!(w->seen & ~SEEN_VLAN) && rc == PARSE_IP)
		return rc; /* not a tunnel after all: the parse stands */

	struct packet *pkt = &s->pkt;
	__builtin_memset(pkt, 0, sizeof(*pkt));
	rc = DP(parse_inner)(ctx, pkt, w->ip_off, bpf_htons(w->ip_type));
	pkt->vlan[0] = w->vlan[0];
	pkt->vlan[1] = w->vlan[1];
	pkt->vlan[2] = w->vlan[2];
	pkt->vlan_count = w->vlan_count;
	DP_AFTER_PARSE(ctx, pkt);
	if (!w->depth)
		return rc;
	pkt->tunneled = 1;
	s->odecided = 0;
	__builtin_memcpy(&s->tun, &w->tun, sizeof(s->tun));
	/* The zone's tunnel part and the outer addresses' key: both in
	 * canonical order, so both directions share them. */
	struct zone_key *zk = &s->zk;
	__builtin_memset(zk, 0, sizeof(*zk));
	s->oside = canonical_key(&s->okey, s->tun.src, s->tun.dst, 0, 0, s->tun.proto, s->tun.family, 0);
	__builtin_memcpy(zk->outer_lo, s->okey.addr_lo, 16);
	__builtin_memcpy(zk->outer_hi, s->okey.addr_hi, 16);
	zk->tunnel = s->tun.kind;
	zk->family = s->tun.family;
	zk->tunnel_id = s->tun.id;
	zk->depth = s->tun.depth;
	zk->proto = s->tun.proto;
	return rc;
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

	struct sensor_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return DP_VERDICT;
	__builtin_memset(&s->pkt, 0, sizeof(s->pkt));
	int rc = DP(parse_frame)(ctx, &s->pkt);
	if (rc == PARSE_NON_IP || (rc == PARSE_IP && may_be_tunnel(&s->pkt, cfg)))
		rc = DP(decap)(ctx, s, rc);
	if (rc == PARSE_BAD_L4 && s->pkt.first_frag) {
		/* A first fragment too short for its L4 header: a flow without
		 * ports, which its later fragments join. */
		rc = PARSE_IP;
		s->pkt.payload_len = s->pkt.l3_offset + s->pkt.l3_len - s->pkt.l4_offset;
	}
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

	s->gen = READ_ONCE(cfg->generation);
	s->now = DP(packet_time)(ctx);
	s->frame_len = frame_len;
	s->zone = packet_zone(s);
	s->fresh = 0;
	s->decided = 0;

	if (s->pkt.fragment) {
		/* A later fragment joins its first fragment's flow, with its
		 * ports; without one it is matched on its own. */
		st->fragments++;
		if (!frag_find(s)) {
			st->fragments_orphaned++;
			DP(handle_fragment)(ctx, cfg, s);
			return DP_VERDICT;
		}
		st->fragments_joined++; /* taken back below if its flow has ended */
	}
	if (s->pkt.quoted && DP(count_quoted)(ctx, s))
		return DP_VERDICT;

	bench_vary(&s->pkt);
	s->side = make_flow_key(&s->key, &s->pkt, s->zone);

	struct flow_value *f = flow_lookup(&s->key);
	if (!f && s->pkt.fragment) {
		/* The first fragment's flow has ended. */
		st->fragments_joined--;
		st->fragments_orphaned++;
		DP(handle_fragment)(ctx, cfg, s);
		return DP_VERDICT;
	}
	/* The tuple's flow ends here and this packet starts it anew: idle
	 * past the flow timeout (where Zeek and Suricata end it, however late
	 * the sweep would have come), or a new connection on a closed tuple
	 * (their TCP reuse). The old flow goes out as a record; without ring
	 * room the two stay one flow, counted. */
	int idle = f && idle_past(f, cfg, s->now);
	int reused = f && !idle && (f->state & STATE_CLOSED) && pure_syn(&s->pkt);
	if (idle || reused) {
		__u32 why = idle && !(f->state & STATE_CLOSED) ? FLOW_END_TIMEOUT : end_reason(f);
		if (emit_flow_event(&s->key, f, EVENT_FLOW_RECORD, why)) {
			flow_start(f, s->side, s->now);
			st->flows_new++;
			if (s->key.family == FAMILY_IPV6)
				st->flows_new_v6++;
			if (reused)
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
	if (s->pkt.first_frag)
		frag_remember(s);
	return DP_VERDICT;
}

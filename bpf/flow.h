/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flow accounting: zones, the flow tables, each flow's per-direction
 * counters, Zeek's history letters and TCP sequence state, and the flow's
 * life: a close hint on FIN/FIN or RST, a new flow for a SYN on a closed
 * tuple, a record of its own for a packet the full table has no room for.
 * Counters in the entry are narrow; what overflows them, and what only
 * few flows need, goes to the flow's extension (flow_extra). */
#ifndef XDPSENSOR_FLOW_H
#define XDPSENSOR_FLOW_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xdpsensor.h"
#include "maps.h"
#include "parsing.h"
#include "flowkey.h"
#include "match.h"
#include "decap.h"

/* The packet being processed and what the datapath decided about it, kept
 * per CPU rather than on the 512-byte stack, and handed to the global
 * functions below (each verified once). */
struct dp_state {
	struct packet pkt;
	struct flow_key key;
	struct match_decision md; /* valid when decided */
	__u64 now;
	__u32 gen;
	__u32 frame_len;          /* as captured: what Suricata counts */
	__u32 zone;
	__u8 side;                /* the sender's */
	__u8 fresh;               /* the packet starts its flow */
	__u8 decided;             /* md was decided for this packet */
	__u8 odecided;            /* omd was decided for this packet */
	struct flow_extra_key ek; /* the extension's key, built here: off the stack */
	/* Tunneled packets (pkt.tunneled): the innermost tunnel, its outer
	 * addresses as a key for the blocklist, and their decision. */
	struct packet_tunnel tun;
	struct flow_key okey;
	struct match_decision omd;
	__u8 oside;               /* the sender's side among the outer addresses */
	__u8 pad2[7];
	struct zone_key zk;       /* the zone being interned */
	struct zone_key last_zk;  /* the CPU's last interned zone and its id: */
	__u32 last_zone;          /* consecutive packets of one tunnel skip the lookup */
	__u32 pad3;
	struct decap_walk walk;   /* bpf/decap.h */
};

/* One dp_state per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dp_state);
} dp_states SEC(".maps");

/* ---- Zones and tables --------------------------------------------------- */

static __always_inline int zone_key_eq(const struct zone_key *a, const struct zone_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	__u32 diff = 0;
#pragma unroll
	for (int i = 0; i < sizeof(*a) / 4; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

/* A zone beyond one VLAN tag: its id from the zones map, interned on
 * first sight (ids above ZONE_MAX_VLAN, handed out in order). A full zones
 * map gives ZONE_OVERFLOW, counted. The key is s->zk: for a tunneled
 * packet decap filled its tunnel part. A global function: verified once. */
__noinline __u32 zone_intern(struct dp_state *s)
{
	__u32 zero = 0;
	if (!s)
		return ZONE_OVERFLOW;
	struct zone_key *zk = &s->zk;
	if (!s->pkt.tunneled)
		__builtin_memset(zk, 0, sizeof(*zk));
	zk->vlan[0] = s->pkt.vlan[0];
	zk->vlan[1] = s->pkt.vlan[1];
	zk->vlan[2] = s->pkt.vlan[2];
	if (s->last_zone && zone_key_eq(zk, &s->last_zk))
		return s->last_zone; /* ids are never reused: the map only grows */
	__u32 *id = bpf_map_lookup_elem(&zones, zk);
	if (id) {
		__builtin_memcpy(&s->last_zk, zk, sizeof(*zk));
		s->last_zone = *id;
		return *id;
	}
	__u32 *last = bpf_map_lookup_elem(&zone_ids, &zero);
	if (!last)
		return ZONE_OVERFLOW;
	__u32 fresh = __sync_add_and_fetch(last, 1) + ZONE_MAX_VLAN;
	if (fresh >= ZONE_OVERFLOW || bpf_map_update_elem(&zones, zk, &fresh, BPF_NOEXIST)) {
		/* Another CPU may have interned it first. */
		id = bpf_map_lookup_elem(&zones, zk);
		if (id)
			return *id;
		struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
		if (st)
			st->zones_full++;
		return ZONE_OVERFLOW;
	}
	return fresh;
}

/* The zone of a packet: untagged is 0, one VLAN tag is its id, a deeper
 * stack or a tunnel is interned. */
static __always_inline __u32 packet_zone(struct dp_state *s)
{
	struct packet *pkt = &s->pkt;
	if (!pkt->tunneled) {
		if (pkt->vlan_count == 0)
			return 0;
		if (pkt->vlan_count == 1)
			return pkt->vlan[0];
	}
	return zone_intern(s);
}

/* A flow's entry, or NULL. The two families' tables are separate calls so
 * that the kernel can inline each lookup. */
static __always_inline struct flow_value *flow_lookup(const struct flow_key *key)
{
	if (key->family == FAMILY_IPV4) {
		struct flow_key_v4 k = {};
		key_v4(&k, key);
		return bpf_map_lookup_elem(&flows_v4, &k);
	}
	struct flow_key_v6 k = {};
	key_v6(&k, key);
	return bpf_map_lookup_elem(&flows_v6, &k);
}

/* Creates a flow's entry; fails when it exists or the table is full. */
static __always_inline int flow_insert(const struct flow_key *key, struct flow_value *v)
{
	if (key->family == FAMILY_IPV4) {
		struct flow_key_v4 k = {};
		key_v4(&k, key);
		return bpf_map_update_elem(&flows_v4, &k, v, BPF_NOEXIST);
	}
	struct flow_key_v6 k = {};
	key_v6(&k, key);
	return bpf_map_update_elem(&flows_v6, &k, v, BPF_NOEXIST);
}


/* ---- The extension ------------------------------------------------------ */

/* The key of the flow's extension, built in the CPU's dp_state. */
static __always_inline struct flow_extra_key *extra_key(const struct flow_key *key, const struct flow_value *f)
{
	__u32 zero = 0;
	struct dp_state *s = bpf_map_lookup_elem(&dp_states, &zero);
	if (!s)
		return NULL;
	__builtin_memcpy(&s->ek.key, key, sizeof(*key));
	s->ek.first_seen_ns = f->first_seen_ns;
	return &s->ek;
}

/* The flow's extension if it has one. */
static __always_inline struct flow_extra *extra_find(const struct flow_key *key, struct flow_value *f)
{
	if (!(f->state & STATE_EXTRA))
		return NULL;
	struct flow_extra_key *ek = extra_key(key, f);
	if (!ek)
		return NULL;
	return bpf_map_lookup_elem(&flow_extras, ek);
}

/* The flow's extension, made on first need; NULL (counted) when the
 * extension map is full. */
static __always_inline struct flow_extra *extra_get(const struct flow_key *key, struct flow_value *f)
{
	__u32 zero = 0;
	struct flow_extra_key *ek = extra_key(key, f);
	if (!ek)
		return NULL;
	struct flow_extra *x = bpf_map_lookup_elem(&flow_extras, ek);
	if (x) {
		f->state |= STATE_EXTRA;
		return x;
	}
	struct flow_extra *fresh = bpf_map_lookup_elem(&extra_scratch, &zero);
	if (!fresh)
		return NULL;
	__builtin_memset(fresh, 0, sizeof(*fresh));
	/* EEXIST: another CPU made it first; the lookup finds it. */
	bpf_map_update_elem(&flow_extras, ek, fresh, BPF_NOEXIST);
	x = bpf_map_lookup_elem(&flow_extras, ek);
	if (!x) {
		struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
		if (st)
			st->flow_extra_full++;
		return NULL;
	}
	f->state |= STATE_EXTRA;
	return x;
}

/* Narrow counters, in flow_extra_dir's order: a carry adds one to the
 * matching *_hi word. */
enum carry_counter {
	CARRY_PACKETS = 0,
	CARRY_IP_BYTES,
	CARRY_FRAME_BYTES,
	CARRY_SEQ_WRAPS,
	CARRY_ACK,
	CARRY_PSH,
	CARRY_SYN,
	CARRY_SYNACK,
	CARRY_FIN,
	CARRY_RST,
	CARRY_URG,
	CARRY_ECE,
	CARRY_CWR,
	CARRY_RXMIT,
	CARRY_ZERO_WIN,
	CARRY_GAPS,
	CARRY_COUNTERS,
};

/* The extension's high word of a narrow counter. The mask is hidden from
 * the compiler, which would drop it after the callers' range checks that
 * the verifier does not carry over. */
static __always_inline __u32 *hi_word(struct flow_extra *x, __u32 side, __u32 counter)
{
	__u32 i = counter;
	asm volatile("" : "+r"(i));
	i &= 15;
	return (__u32 *)&x->dir[side & 1] + i;
}

/* A narrow counter wrapped: add its high part in the extension. Returns 0
 * when there is no extension to be had; the caller then saturates. A
 * global function, verified once: the path is rare. */
__noinline int carry(struct flow_key *key, struct flow_value *f, __u32 side, __u32 counter)
{
	if (!key || !f || counter >= CARRY_COUNTERS)
		return 0;
	struct flow_extra *x = extra_get(key, f);
	if (!x)
		return 0;
	(*hi_word(x, side, counter))++;
	return 1;
}

/* The flow's frame bytes past the narrow counters (both directions, in
 * bytes): what wrapped into the extension. A global function, verified
 * once: only flows with an extension get here. */
__noinline __u64 frame_bytes_hi(struct flow_key *key, struct flow_value *f)
{
	if (!key || !f)
		return 0;
	struct flow_extra *x = extra_find(key, f);
	if (!x)
		return 0;
	return ((__u64)x->dir[0].frame_bytes_hi + x->dir[1].frame_bytes_hi) << 32;
}

/* Count one event in a narrow counter, carrying when it wraps. */
#define COUNT_NARROW(key, f, side, field, counter, max)                        \
	do {                                                                   \
		if (++(f)->dir[side].field == 0 &&                             \
		    !carry(key, f, side, counter))                             \
			(f)->dir[side].field = (max);                          \
	} while (0)

/* Add n to a 32-bit counter, carrying when it wraps. */
#define ADD_32(key, f, side, field, counter, n)                                \
	do {                                                                   \
		__u32 _old = (f)->dir[side].field;                             \
		(f)->dir[side].field = _old + (n);                             \
		if ((f)->dir[side].field < _old &&                             \
		    !carry(key, f, side, counter))                             \
			(f)->dir[side].field = 0xffffffff;                     \
	} while (0)

/* ---- History ------------------------------------------------------------ */

/* A letter past FLOW_HISTORY_HOT goes to the extension; one that finds
 * no room there, or no extension to be had, is counted as lost. */
__noinline int history_spill(struct flow_key *key, struct flow_value *f, __u32 code)
{
	if (!key || !f)
		return 0;
	struct flow_extra *x = extra_get(key, f);
	if (!x) {
		/* The extension map is full (extra_get counted flow_extra_full):
		 * the letter is lost, counted in its sender's direction. */
		struct flow_dir *d = &f->dir[code & HISTORY_SIDE_HI ? 1 : 0];
		if (d->history_dropped != 0xff)
			d->history_dropped++;
		return 0;
	}
	__u32 n = f->history_len;
	if (n < FLOW_HISTORY_HOT || n >= FLOW_HISTORY_HOT + FLOW_HISTORY_EXTRA) {
		x->history_lost++;
		return 0;
	}
	x->history[(n - FLOW_HISTORY_HOT) & 31] = code;
	f->history_len = n + 1;
	return 1;
}

static __always_inline void history_add(struct flow_key *key, struct flow_value *f, __u8 side, __u32 letter)
{
	__u32 code = letter | (side == SIDE_HI ? HISTORY_SIDE_HI : 0);
	__u32 n = f->history_len;
	if (n < FLOW_HISTORY_HOT) {
		f->history |= (__u64)code << (n * 5);
		f->history_len = n + 1;
		return;
	}
	history_spill(key, f, code);
}

static __always_inline __u16 seen_bit(__u8 side, __u32 letter)
{
	return 1u << (letter + (side == SIDE_HI ? 8 : 0));
}

/* Record a letter the first time a side does it. Returns 1 if it was
 * seen before. */
static __always_inline int history_once(struct flow_key *key, struct flow_value *f, __u8 side, __u32 letter)
{
	__u16 bit = seen_bit(side, letter);
	if (f->history_seen & bit)
		return 1;
	f->history_seen |= bit;
	history_add(key, f, side, letter);
	return 0;
}

/* A counted letter of a flow with an extension, whose count may have
 * carried into it: Zeek records it at the 1st, 10th, 100th, 1000th...
 * event, which the narrow counter's low byte alone cannot tell (it is 1
 * again at the 257th). */
__noinline int history_scaled_big(struct flow_key *key, struct flow_value *f, __u32 side, __u32 counter, __u32 letter)
{
	if (!key || !f || counter >= CARRY_COUNTERS)
		return 0;
	struct flow_extra *x = extra_find(key, f);
	if (!x)
		return 0;
	__u32 *hi = hi_word(x, side, counter);
	__u8 *lo = counter == CARRY_RXMIT ? &f->dir[side & 1].rxmit :
		   counter == CARRY_ZERO_WIN ? &f->dir[side & 1].zero_win : &f->dir[side & 1].gaps;
	__u64 n = ((__u64)*hi << 8) | *lo;
	if (n != 1 && n != 10 && n != 100 && n != 1000 && n != 10000 && n != 100000 &&
	    n != 1000000 && n != 10000000)
		return 0;
	__u32 code = letter | (side & 1 ? HISTORY_SIDE_HI : 0);
	__u32 len = f->history_len;
	if (len < FLOW_HISTORY_HOT) {
		f->history |= (__u64)code << (len * 5);
		f->history_len = len + 1;
	} else if (len < FLOW_HISTORY_HOT + FLOW_HISTORY_EXTRA) {
		x->history[(len - FLOW_HISTORY_HOT) & 31] = code;
		f->history_len = len + 1;
	} else {
		x->history_lost++;
	}
	return 1;
}

/* Zeek's logarithmic letters (T, W, G): recorded at the 1st, 10th, 100th...
 * event of a side. Without an extension the narrow counter is the whole
 * count (a wrap that cannot carry saturates it at 255); with one, the
 * low bytes of 1, 10, 100, 1000 (232), 10^4 (16), 10^5 (160), 10^6 (64)
 * and 10^7 (128) are checked against the whole count. */
#define HISTORY_SCALED(key, f, side, field, counter, letter)                          \
	do {                                                                           \
		__u8 _n = ++(f)->dir[side].field;                                      \
		if (_n == 0 && !carry(key, f, side, counter))                          \
			(f)->dir[side].field = 0xff;                                   \
		if (!((f)->state & STATE_EXTRA)) {                                     \
			if (_n == 1 || _n == 10 || _n == 100)                          \
				history_add(key, f, side, letter);                     \
		} else if (_n == 1 || _n == 10 || _n == 100 || _n == 232 || _n == 16 || \
			   _n == 160 || _n == 64 || _n == 128) {                       \
			history_scaled_big(key, f, side, counter, letter);             \
		}                                                                      \
	} while (0)

/* ---- TCP ---------------------------------------------------------------- */

static __always_inline int pure_ack(struct packet *pkt)
{
	return (pkt->tcp_flags & (TCP_ACK | TCP_SYN | TCP_FIN | TCP_RST)) == TCP_ACK && pkt->payload_len == 0;
}

static __always_inline int pure_syn(struct packet *pkt)
{
	return pkt->proto == IPPROTO_TCP && pkt->has_l4 &&
	       (pkt->tcp_flags & (TCP_SYN | TCP_ACK | TCP_FIN | TCP_RST)) == TCP_SYN;
}

static __always_inline void count_flags(struct flow_key *key, struct flow_value *f, __u8 side, struct packet *pkt)
{
	__u8 fl = pkt->tcp_flags;
	f->dir[side].tcp_flags |= fl;
	if (fl & TCP_SYN) {
		if (fl & TCP_ACK)
			COUNT_NARROW(key, f, side, synack, CARRY_SYNACK, 0xff);
		else
			COUNT_NARROW(key, f, side, syn, CARRY_SYN, 0xff);
	} else if (pure_ack(pkt)) {
		COUNT_NARROW(key, f, side, ack, CARRY_ACK, 0xffff);
	}
	if (fl & TCP_FIN)
		COUNT_NARROW(key, f, side, fin, CARRY_FIN, 0xff);
	if (fl & TCP_RST)
		COUNT_NARROW(key, f, side, rst, CARRY_RST, 0xff);
	if (fl & TCP_PSH)
		COUNT_NARROW(key, f, side, psh, CARRY_PSH, 0xffff);
	if (fl & TCP_URG)
		COUNT_NARROW(key, f, side, urg, CARRY_URG, 0xff);
	if (fl & TCP_ECE)
		COUNT_NARROW(key, f, side, ece, CARRY_ECE, 0xff);
	if (fl & TCP_CWR)
		COUNT_NARROW(key, f, side, cwr, CARRY_CWR, 0xff);
}

/* Zeek's update_history: S/H/F/R again when the sequence number differs
 * from the side's last one of that kind, A/D/I/Q once. Called before the
 * sequence state moves past this packet. */
static __always_inline void tcp_history(struct flow_key *key, struct flow_value *f, __u8 side,
					struct packet *pkt, int first)
{
	__u8 fl = pkt->tcp_flags;
	struct flow_dir *d = &f->dir[side];
	int bits = !!(fl & TCP_SYN) + !!(fl & TCP_FIN) + !!(fl & TCP_RST);
	if (bits > 1) {
		if ((fl & TCP_FIN) && (fl & TCP_RST))
			history_once(key, f, side, HIST_INCONSISTENT);
		else
			history_once(key, f, side, HIST_MULTI);
		return;
	}
	if (bits == 1) {
		if (fl & TCP_SYN) {
			__u32 letter = fl & TCP_ACK ? HIST_SYNACK : HIST_SYN;
			if (history_once(key, f, side, letter) && !first && pkt->seq != d->seq_first)
				history_add(key, f, side, letter);
		}
		if (fl & TCP_FIN) {
			/* A FIN's sequence number is at the end of its data. */
			if (history_once(key, f, side, HIST_FIN) && !first &&
			    pkt->seq + pkt->payload_len + 1 != d->seq_next)
				history_add(key, f, side, HIST_FIN);
		}
		if (fl & TCP_RST) {
			if (history_once(key, f, side, HIST_RST) && !first && pkt->seq != d->seq_next)
				history_add(key, f, side, HIST_RST);
		}
		return;
	}
	if (pkt->payload_len)
		history_once(key, f, side, HIST_DATA);
	else if (fl & TCP_ACK)
		history_once(key, f, side, HIST_ACK);
}

/* Sequence state, as Zeek's endpoints keep it: the first and the highest
 * sequence number give the payload size (orig_bytes); payload at or below
 * the highest is a retransmission (T); a segment beyond the highest opens
 * a hole, which is a content gap (G, missed_bytes) once the peer
 * acknowledges it without it being filled. */
#define TOO_LARGE_SEQ_DELTA 1048576

/* A hole in side's stream, remembered in the extension. */
__noinline int hole_open(struct flow_key *key, struct flow_value *f, __u32 side, __u32 start, __u32 end)
{
	if (!key || !f)
		return 0;
	struct flow_extra *x = extra_get(key, f);
	if (!x)
		return 0;
	x->dir[side & 1].hole_start = start;
	x->dir[side & 1].hole_end = end;
	f->marks |= side & 1 ? MARK_HOLE_HI : MARK_HOLE_LO;
	return 1;
}

/* A segment of side's stream: does it fill the front of the hole? */
__noinline int hole_fill(struct flow_key *key, struct flow_value *f, __u32 side, __u32 seq, __u32 end)
{
	if (!key || !f)
		return 0;
	struct flow_extra *x = extra_find(key, f);
	if (!x)
		return 0;
	struct flow_extra_dir *xd = &x->dir[side & 1];
	if ((__s32)(seq - xd->hole_start) <= 0 && (__s32)(end - xd->hole_start) > 0)
		xd->hole_start = (__s32)(end - xd->hole_end) >= 0 ? xd->hole_end : end;
	if ((__s32)(xd->hole_end - xd->hole_start) <= 0)
		f->marks &= ~(side & 1 ? MARK_HOLE_HI : MARK_HOLE_LO);
	return 1;
}

/* The peer acknowledged up to ack: bytes of side's stream it acknowledges
 * that were never seen are a content gap. */
__noinline int gap_check(struct flow_key *key, struct flow_value *f, __u32 side, __u32 ack)
{
	if (!key || !f)
		return 0;
	struct flow_dir *d = &f->dir[side & 1];
	__u32 missed = 0;
	__u8 hole_bit = side & 1 ? MARK_HOLE_HI : MARK_HOLE_LO;
	struct flow_extra *x = NULL;
	if (f->marks & hole_bit) {
		x = extra_find(key, f);
		if (x) {
			struct flow_extra_dir *xd = &x->dir[side & 1];
			if ((__s32)(ack - xd->hole_end) >= 0) {
				missed += xd->hole_end - xd->hole_start;
				f->marks &= ~hole_bit;
			}
		} else {
			f->marks &= ~hole_bit;
		}
	}
	__s32 beyond = (__s32)(ack - d->seq_next);
	if (beyond > 0 && beyond < TOO_LARGE_SEQ_DELTA) {
		missed += beyond;
		d->seq_next = ack;
	}
	if (!missed)
		return 0;
	if (!x)
		x = extra_get(key, f);
	if (x)
		x->dir[side & 1].missed_bytes += missed;
	HISTORY_SCALED(key, f, side & 1, gaps, CARRY_GAPS, HIST_GAP);
	return 1;
}

/* Flags, history and sequence state of a TCP segment. A global function:
 * verified once. */
__noinline int tcp_track(struct flow_value *f, struct dp_state *s, int first)
{
	if (!f || !s)
		return 0;
	struct flow_key *key = &s->key;
	struct packet *pkt = &s->pkt;
	__u8 side = s->side & 1;
	struct flow_dir *d = &f->dir[side];
	__u8 peer = side ^ 1;
	__u8 fl = pkt->tcp_flags;
	__u32 len = pkt->payload_len;

	count_flags(key, f, side, pkt);
	tcp_history(key, f, side, pkt, first);

	/* Zero windows are news unless this side reset or the peer closed. */
	__u8 peer_fin = peer == SIDE_LO ? STATE_FIN_LO : STATE_FIN_HI;
	__u8 own_rst = side == SIDE_LO ? STATE_RST_LO : STATE_RST_HI;
	if (pkt->window == 0 && !(fl & TCP_RST) && !(f->state & (peer_fin | own_rst)))
		HISTORY_SCALED(key, f, side, zero_win, CARRY_ZERO_WIN, HIST_ZEROWIN);

	__u32 end = pkt->seq + len + !!(fl & TCP_SYN) + !!(fl & TCP_FIN);
	if (first) {
		/* Without the SYN, number as though there had been one. */
		d->seq_first = fl & TCP_SYN ? pkt->seq : pkt->seq - 1;
		d->seq_next = end;
	} else {
		__s32 delta = (__s32)(end - d->seq_next);
		if ((fl & (TCP_SYN | TCP_RST)) && (delta > TOO_LARGE_SEQ_DELTA || delta < -TOO_LARGE_SEQ_DELTA)) {
			/* an outlandish SYN or RST: not trusted */
		} else if (delta > 0) {
			__s32 jump = (__s32)(pkt->seq - d->seq_next);
			__u8 hole_bit = side == SIDE_LO ? MARK_HOLE_LO : MARK_HOLE_HI;
			if (jump > 0 && len && !(f->marks & hole_bit))
				hole_open(key, f, side, d->seq_next, pkt->seq);
			/* Wrapping past the first sequence number is 4 GB more. */
			if ((__u32)(end - d->seq_first) < (__u32)(d->seq_next - d->seq_first))
				carry(key, f, side, CARRY_SEQ_WRAPS);
			d->seq_next = end;
		} else if (len) {
			HISTORY_SCALED(key, f, side, rxmit, CARRY_RXMIT, HIST_RXMIT);
			__u8 hole_bit = side == SIDE_LO ? MARK_HOLE_LO : MARK_HOLE_HI;
			if (f->marks & hole_bit)
				hole_fill(key, f, side, pkt->seq, end);
		}
	}
	if ((fl & TCP_ACK) && f->dir[peer].packets)
		gap_check(key, f, peer, pkt->ack);
	return 0;
}

/* ---- Counting ----------------------------------------------------------- */

/* Packets and bytes of side's direction. */
static __always_inline void count_volume(struct flow_key *key, struct flow_value *f, __u8 side,
					 struct packet *pkt, __u32 frame_len)
{
	ADD_32(key, f, side, packets, CARRY_PACKETS, pkt->segs);
	ADD_32(key, f, side, ip_bytes, CARRY_IP_BYTES, pkt->l3_len);
	ADD_32(key, f, side, frame_bytes, CARRY_FRAME_BYTES, frame_len);
}

/* Counts the packet in its sender's direction. */
static __always_inline void count_packet(struct flow_value *f, struct dp_state *s)
{
	struct packet *pkt = &s->pkt;
	__u8 side = s->side & 1;
	/* The side's first packet (counters that wrapped to 0 have bytes). */
	int first = f->dir[side].packets == 0 && f->dir[side].frame_bytes == 0;
	count_volume(&s->key, f, side, pkt, s->frame_len);
	if (pkt->proto == IPPROTO_TCP) {
		if (pkt->has_l4)
			tcp_track(f, s, first);
		return;
	}
	/* Other protocols: payload bytes in a 64-bit counter. */
	__u64 payload = ((__u64)f->dir[side].seq_next << 32 | f->dir[side].seq_first) + pkt->payload_len;
	f->dir[side].seq_first = (__u32)payload;
	f->dir[side].seq_next = payload >> 32;
}

/* The packet clock, relative to the flow's start, in microseconds. */
static __always_inline __u32 since_start_us(struct flow_value *f, __u64 now)
{
	__u64 us = now > f->first_seen_ns ? (now - f->first_seen_ns) / 1000 : 0;
	return us >= 0xffffffff ? 0xffffffff : (__u32)us;
}

static __always_inline void touch(struct flow_key *key, struct flow_value *f, __u64 now)
{
	__u32 us = since_start_us(f, now);
	if (us == 0xffffffff) {
		struct flow_extra *x = extra_get(key, f);
		if (x) {
			x->last_seen_ns = now;
			f->marks |= MARK_LONG;
		}
	}
	f->last_seen_us = us;
	__u8 closed = (f->state & (STATE_FIN_LO | STATE_RST_LO)) && (f->state & (STATE_FIN_HI | STATE_RST_HI));
	if (!closed)
		f->active_us = us;
}

/* Returns the FLOW_END_* reason when this packet closes the flow: both
 * sides sent FIN, or one sent RST. */
static __always_inline __u8 track_close(struct flow_value *f, struct packet *pkt, __u8 side)
{
	if (pkt->proto != IPPROTO_TCP || !pkt->has_l4)
		return 0;
	__u8 fl = pkt->tcp_flags;
	if (fl & TCP_RST)
		f->state |= side == SIDE_LO ? STATE_RST_LO : STATE_RST_HI;
	else if (fl & TCP_FIN)
		f->state |= side == SIDE_LO ? STATE_FIN_LO : STATE_FIN_HI;
	else
		return 0;
	if (f->state & STATE_CLOSED)
		return 0;
	if (f->state & (STATE_RST_LO | STATE_RST_HI)) {
		f->state |= STATE_CLOSED;
		return FLOW_END_RST;
	}
	if ((f->state & (STATE_FIN_LO | STATE_FIN_HI)) == (STATE_FIN_LO | STATE_FIN_HI)) {
		f->state |= STATE_CLOSED;
		return FLOW_END_FIN;
	}
	return 0;
}

/* Whether a packet at now finds f idle past the replay's split time. A
 * flow whose packet clock saturated (MARK_LONG) keeps its last time in the
 * extension: the sweep ends those. */
static __always_inline int idle_past(struct flow_value *f, struct sensor_config *cfg, __u64 now)
{
	__u32 limit = cfg->idle_split_s;
	if (!limit || (f->marks & MARK_LONG))
		return 0;
	__u64 last = f->first_seen_ns + (__u64)f->last_seen_us * 1000;
	return now > last && now - last >= (__u64)limit * 1000000000ULL;
}

static __always_inline __u8 end_reason(struct flow_value *f)
{
	return f->state & (STATE_RST_LO | STATE_RST_HI) ? FLOW_END_RST : FLOW_END_FIN;
}

/* A new flow's entry, before its first packet is counted. */
static __always_inline void flow_start(struct flow_value *f, __u8 side, __u64 now)
{
	__builtin_memset(f, 0, sizeof(*f));
	f->first_seen_ns = now;
	if (side == SIDE_HI)
		f->state = STATE_INITIATOR_HI;
}

/* ---- Blocklist decision ------------------------------------------------- */

/* Decide the flow's match when it starts and again when the blocklist
 * generation moved on. A new decision inspects each direction again. */
__noinline int refresh_match(struct flow_value *f, struct dp_state *s)
{
	if (!f || !s)
		return 0;
	s->decided = 0;
	if (!s->fresh && f->generation == (__u16)s->gen)
		return 0;
	decide_match(&s->md, &s->key, s->gen);
	s->decided = 1;
	f->generation = s->gen;
	f->marks = (f->marks & ~(LISTED_LO | LISTED_HI | INSPECTED_LO | INSPECTED_HI)) | s->md.listed;
	if (s->pkt.tunneled) {
		/* The tunnel's outer addresses are the flow's too (the zone
		 * names them): decided with it. */
		decide_match(&s->omd, &s->okey, s->gen);
		s->odecided = 1;
		f->outer_marks = s->omd.listed;
	}
	return 1;
}

#endif

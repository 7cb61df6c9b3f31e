/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The event ring's producers that need no packet context, and the
 * arguments of those that do (bpf/datapath.h). Each reservation that fails
 * counts in lost_events, beside the ring. */
#ifndef XDPSENSOR_EVENTS_H
#define XDPSENSOR_EVENTS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xdpsensor.h"
#include "maps.h"

/* What an alert needs besides the packet. */
struct alert_info {
	__u64 now;
	__u64 flow_start; /* 0: no flow (a later fragment) */
	__u32 rule_id;
	__u32 generation;
	__u8 side;
	__u8 listed;
	__u8 initiator;   /* the side of the flow's first packet */
	__u8 layer;       /* enum alert_layer */
	__u8 pad[4];
	__u32 flow_packets[2]; /* the flow's counters at the alert */
	__u32 flow_bytes[2];
};

struct capture_args {
	__u64 now;
	__u64 flow_start;
	__u32 snaplen;
	__u8 listed;
	__u8 side;
	__u8 pad[2];
};

/* A close hint or a record for the daemon; returns 1 when the ring took it. */
__noinline int emit_flow_event(struct flow_key *key, struct flow_value *f, __u32 type, __u32 reason)
{
	__u32 zero = 0;
	if (!key || !f)
		return 0;
	struct sensor_stats *st = bpf_map_lookup_elem(&stats, &zero);
	if (!st)
		return 0;
	struct flow_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		st->lost_events++;
		return 0;
	}
	ev->type = type;
	ev->reason = reason;
	ev->family = key->family;
	__builtin_memset(ev->pad, 0, sizeof(ev->pad));
	__builtin_memcpy(&ev->key, key, sizeof(*key));
	__builtin_memcpy(&ev->value, f, sizeof(*f));
	bpf_ringbuf_submit(ev, 0);
	if (type == EVENT_FLOW_CLOSED)
		st->flows_closed++;
	else
		st->flow_records++;
	return 1;
}

#endif

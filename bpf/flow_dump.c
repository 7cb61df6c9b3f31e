// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Flow table dump: one BPF_PROG_TEST_RUN walks a flow table in the kernel
 * (bpf_for_each_map_elem) and hands every entry to userspace through a
 * ring of its own, where BPF_MAP_LOOKUP_BATCH takes a lock and two copies
 * to userspace per hash bucket (~0.5 µs an entry on a VM against ~0.1 µs
 * here). The loader gives it the sensor's own flow tables in place of the
 * two below. A run that fills the ring stops there; the next run skips the
 * entries already handed over. Used where the tables hold still (replay). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xdpsensor.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct bpf_map;

/* Replaced by the sensor's tables at load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct flow_key_v4);
	__type(value, struct flow_value);
} flows_v4 SEC(".maps");

/* Replaced by the sensor's tables at load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct flow_key_v6);
	__type(value, struct flow_value);
} flows_v6 SEC(".maps");

/* Entries handed over, one struct flow_dump_record each; sized by the
 * loader. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} dump_ring SEC(".maps");

/* What a run is asked (family, entries to skip) and what it did. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow_dump_state);
} dump_states SEC(".maps");

static long dump_v4(struct bpf_map *map, struct flow_key_v4 *key, struct flow_value *v, struct flow_dump_state *st)
{
	struct flow_dump_record rec = {.family = FAMILY_IPV4};
	if (st->seen++ < st->skip)
		return 0;
	__builtin_memcpy(rec.key, key, sizeof(*key));
	__builtin_memcpy(&rec.value, v, sizeof(*v));
	if (bpf_ringbuf_output(&dump_ring, &rec, sizeof(rec), BPF_RB_NO_WAKEUP)) {
		st->seen--;
		st->full = 1;
		return 1;
	}
	return 0;
}

static long dump_v6(struct bpf_map *map, struct flow_key_v6 *key, struct flow_value *v, struct flow_dump_state *st)
{
	struct flow_dump_record rec = {.family = FAMILY_IPV6};
	if (st->seen++ < st->skip)
		return 0;
	__builtin_memcpy(rec.key, key, sizeof(*key));
	__builtin_memcpy(&rec.value, v, sizeof(*v));
	if (bpf_ringbuf_output(&dump_ring, &rec, sizeof(rec), BPF_RB_NO_WAKEUP)) {
		st->seen--;
		st->full = 1;
		return 1;
	}
	return 0;
}

SEC("xdp")
int flow_dump(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct flow_dump_state *st = bpf_map_lookup_elem(&dump_states, &zero);
	if (!st)
		return XDP_ABORTED;
	/* The callbacks' context must live on the stack. */
	struct flow_dump_state c = {.family = st->family, .skip = st->skip};
	if (c.family == FAMILY_IPV4)
		bpf_for_each_map_elem(&flows_v4, dump_v4, &c, 0);
	else
		bpf_for_each_map_elem(&flows_v6, dump_v6, &c, 0);
	st->seen = c.seen;
	st->full = c.full;
	return XDP_DROP;
}

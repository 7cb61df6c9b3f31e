// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Replay feeder: lets one BPF_PROG_TEST_RUN (repeat = N) replay N captured
 * frames through the sensor's own, unmodified program. Userspace writes
 * the frames of a batch into an mmapable array; each run of this program
 * takes the next one, writes it and its replay metadata into the test
 * run's packet (one buffer all runs share: each sizes it to its frame)
 * and tail-calls the sensor through a prog array. Same program, same
 * maps, one frame after the other on one CPU, one syscall per batch
 * instead of one per frame. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The largest frame a slot holds. A test run's linear packet must fit its
 * page (4096 bytes less the headroom, the replay metadata and the
 * skb_shared_info tail room: about 3,400 bytes on 6.18); 3072 leaves room
 * for those to grow. Larger frames take the per-frame path. */
#define FEED_FRAME_MAX 3072
#define FEED_SLOTS 1024

/* struct replay_meta of bpf/xdpsensor.c, byte for byte. */
struct feed_meta {
	__u64 ts_ns;
	__u32 wire_len;
	__u32 pcap_cnt;
};

struct feed_slot {
	struct feed_meta meta;
	__u32 len;  /* frame bytes in data */
	__u32 pad;
	__u8 data[FEED_FRAME_MAX];
};

/* Where the batch stands: the next slot to run, and what went wrong. */
struct feed_state {
	__u32 next;
	__u32 bad_len;    /* slots whose length does not fit: skipped (userspace never writes one) */
	__u32 adjust_err; /* the packet could not be sized or written */
	__u32 tail_err;   /* the tail call to the sensor failed */
	__u32 slots;      /* frames in the batch: the feeder runs only while next < slots */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, FEED_SLOTS);
	__type(key, __u32);
	__type(value, struct feed_slot);
} feed_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct feed_state);
} feed_states SEC(".maps");

/* Slot 0: the sensor's XDP program. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} feed_sensor SEC(".maps");

/* Make clang emit BTF for the slot, which only userspace fills. */
const struct feed_slot *const btf_feed_slot __attribute__((unused)) = 0;

SEC("xdp")
int replay_feed(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct feed_state *st = bpf_map_lookup_elem(&feed_states, &zero);
	if (!st)
		return XDP_ABORTED;
	/* Userspace keeps this program attached to an idle interface so that
	 * the kernel's XDP dispatcher need not be rewritten for each test
	 * run: a frame that interface ever saw passes untouched. */
	__u32 i = st->next;
	if (i >= st->slots)
		return XDP_PASS;
	st->next = i + 1;
	struct feed_slot *s = bpf_map_lookup_elem(&feed_slots, &i);
	if (!s)
		return XDP_DROP;
	__u32 len = s->len;
	if (len < 14 || len > FEED_FRAME_MAX) {
		st->bad_len++;
		return XDP_DROP;
	}
	/* The packet is as the last run left it (the template's full size
	 * for the first): size it to this frame. */
	int have = (int)bpf_xdp_get_buff_len(ctx);
	if (bpf_xdp_adjust_tail(ctx, (int)len - have) ||
	    bpf_xdp_store_bytes(ctx, 0, s->data, len)) {
		st->adjust_err++;
		return XDP_DROP;
	}
	void *meta = (void *)(long)ctx->data_meta;
	void *data = (void *)(long)ctx->data;
	if (meta + sizeof(struct feed_meta) > data) {
		st->adjust_err++;
		return XDP_DROP;
	}
	__builtin_memcpy(meta, &s->meta, sizeof(struct feed_meta));
	bpf_tail_call(ctx, &feed_sensor, 0);
	st->tail_err++;
	return XDP_DROP;
}

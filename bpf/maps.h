/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Map definitions. Every map is pinned by name under the sensor's pin
 * directory, so a restarted sensor, the CLI and bpftool all see the same
 * objects. Sizes here are defaults; the loader resizes them from its
 * configuration before creating them. */
#ifndef XDPSENSOR_MAPS_H
#define XDPSENSOR_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xdpsensor.h"

/* Flow tables, one per family (an IPv4 key is 16 bytes, an IPv6 key 40):
 * canonical 5-tuple + zone -> per-direction counters. Plain preallocated
 * hashes, not LRU: the kernel never drops a flow on its own. Userspace
 * removes flows once their records are written; when a table is full, a
 * packet becomes a record of its own through the event ring. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key_v4);
	__type(value, struct flow_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows_v4 SEC(".maps");

/* IPv6 flows, as flows_v4. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct flow_key_v6);
	__type(value, struct flow_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows_v6 SEC(".maps");

/* The rare part of a flow (wrapped counters, a listed flow's rules, stream
 * holes, long flows, long histories), made on first need; not
 * preallocated, so it costs memory only for the flows that use it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct flow_extra_key);
	__type(value, struct flow_extra);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flow_extras SEC(".maps");

/* Scratch space for a new flow extension (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow_extra);
} extra_scratch SEC(".maps");

/* Interned zones (VLAN stacks beyond one tag) -> zone id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct zone_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} zones SEC(".maps");

/* The last zone id handed out (key 0). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} zone_ids SEC(".maps");

/* Scratch space for building a new flow entry. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow_value);
} flow_scratch SEC(".maps");

/* Benchmarks only: a per-CPU sequence that makes every packet a new flow
 * (cfg_bench_new_flows); the production program never touches it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bench_seq SEC(".maps");

/* Event ring: alert and flow-closed events for the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} events SEC(".maps");

/* Per-CPU counters; lost_events beside the ring counts failed reserves. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sensor_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

/* The daemon's counters (struct daemon_stats), for every reader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct daemon_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} daemon_counters SEC(".maps");

/* Blocklist generation, live slot and per-slot sizes. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sensor_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} config SEC(".maps");

/* Rule table: rule id -> gid/sid/rev/msg/classtype and match constraints. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rules SEC(".maps");

/* The blocklist proper lives in per-slot inner maps: userspace fills the
 * idle slot and flips sensor_config.generation, so a packet sees either
 * the old list or the new one, never half of one. */

/* Slot -> exact IPv4 addresses -> rules. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, BLOCKLIST_SLOTS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_HASH);
		__uint(max_entries, 1024);
		__type(key, struct ipv4_addr);
		__type(value, struct blocklist_entry);
	});
} blocklist_v4_slots SEC(".maps");

/* Slot -> exact IPv6 addresses -> rules. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, BLOCKLIST_SLOTS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_HASH);
		__uint(max_entries, 1024);
		__type(key, struct in6_addr);
		__type(value, struct blocklist_entry);
	});
} blocklist_v6_slots SEC(".maps");

/* Slot -> IPv4 CIDR prefixes -> rules and prefix length. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, BLOCKLIST_SLOTS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);
		__uint(map_flags, BPF_F_NO_PREALLOC);
		__uint(max_entries, 1024);
		__type(key, struct lpm_v4_key);
		__type(value, struct prefix_entry);
	});
} blocklist_prefix_v4_slots SEC(".maps");

/* Slot -> IPv6 CIDR prefixes -> rules and prefix length. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, BLOCKLIST_SLOTS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);
		__uint(map_flags, BPF_F_NO_PREALLOC);
		__uint(max_entries, 1024);
		__type(key, struct lpm_v6_key);
		__type(value, struct prefix_entry);
	});
} blocklist_prefix_v6_slots SEC(".maps");

/* Slot -> pre-filter of the exact addresses (both families): a Bloom
 * filter over an array of 64-bit words, two bits per address. Built in
 * userspace and written in bulk; a clear bit skips the hash lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, BLOCKLIST_SLOTS);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_ARRAY);
		__uint(map_flags, BPF_F_INNER_MAP);
		__uint(max_entries, 64);
		__type(key, __u32);
		__type(value, __u64);
	});
} exact_filter_slots SEC(".maps");

/* Pre-filter for the IPv4 prefix tries: one bit per /16 that some prefix
 * covers, 2048 words per slot; a clear bit skips the LPM lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BLOCKLIST_SLOTS * 2048);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} prefix_v4_filter SEC(".maps");

/* Threshold windows per rule and tracked address. A plain hash, sized by
 * the loader: an LRU evicted windows unseen (a storm of sources restarted
 * other sources' windows). A match whose window the full table cannot
 * take alerts, counted in thresholds_full; the daemon removes ended
 * windows, and the kernel restarts an ended one in place. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct threshold_key);
	__type(value, struct threshold_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} thresholds SEC(".maps");

/* Capture ring: variable-length capture_record + frame bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} capture SEC(".maps");

/* Scratch for assembling one capture record (too big for the stack). */
struct capture_scratch {
	struct capture_record hdr;
	__u8 data[MAX_SNAPLEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct capture_scratch);
} capture_scratch SEC(".maps");

/* $HOME_NET / $EXTERNAL_NET membership of IPv4 prefixes (NETVAR_* bits). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct lpm_v4_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} netvars_v4 SEC(".maps");

/* $HOME_NET / $EXTERNAL_NET membership of IPv6 prefixes. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct lpm_v6_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} netvars_v6 SEC(".maps");

#endif

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every struct and constant that both the kernel program and the Go daemon
 * see. Go gets them through bpf2go -type, so this header is the one place
 * their layout is defined. Keep fields naturally aligned: Go mirrors the
 * padding byte for byte.
 */
#ifndef XDPSENSOR_H
#define XDPSENSOR_H

#define MAX_VLAN_DEPTH 3      /* Suricata decodes up to three stacked tags */
#define ALERT_SNAP_LEN 256    /* packet bytes copied into an alert event */
#define RULE_MSG_LEN 160
#define RULE_CLASSTYPE_LEN 48
#define RULE_REFS_LEN 192
#define RULE_SOURCE_LEN 128
#define RULE_SLOT_SHIFT 24    /* rule id = slot << RULE_SLOT_SHIFT | index */
#define BLOCKLIST_SLOTS 2     /* live blocklist + the one being loaded */
#define HISTORY_LEN 28        /* Zeek history letters a flow can hold */
#define MAX_SNAPLEN 9216      /* largest frame the capture ring carries */

/* Canonical sides of a flow key: the endpoint whose (address, port) sorts
 * lower is LO. A packet's direction is the side of its sender. */
enum flow_side {
	SIDE_LO = 0,
	SIDE_HI = 1,
};

enum addr_family {
	FAMILY_IPV4 = 4,
	FAMILY_IPV6 = 6,
};

/* Bits of flow_value.listed and alert_event.listed. */
enum listed_bits {
	LISTED_LO = 1, /* the LO address is on the blocklist */
	LISTED_HI = 2, /* the HI address is on the blocklist */
};

/* Which end of a packet a rule wants its listed address on. */
enum rule_direction {
	RULE_LISTED_SRC = 1, /* [list] any -> any any */
	RULE_LISTED_DST = 2, /* any any -> [list] any */
};

/* Constraint a rule puts on the packet's other (non-listed) address. */
enum rule_other_net {
	NET_ANY = 0,
	NET_HOME = 1,     /* $HOME_NET */
	NET_EXTERNAL = 2, /* $EXTERNAL_NET */
};

/* Bits in the netvars LPM maps. */
enum netvar_bits {
	NETVAR_HOME = 1,
	NETVAR_EXTERNAL = 2,
};

/* How $EXTERNAL_NET is decided, in sensor_config.external_mode. */
enum external_mode {
	EXTERNAL_ANY = 0,      /* every address */
	EXTERNAL_NOT_HOME = 1, /* !$HOME_NET */
	EXTERNAL_LIST = 2,     /* addresses marked NETVAR_EXTERNAL */
};

/* TCP flag bits as on the wire. */
enum tcp_flag_bits {
	TCP_FIN = 0x01,
	TCP_SYN = 0x02,
	TCP_RST = 0x04,
	TCP_PSH = 0x08,
	TCP_ACK = 0x10,
	TCP_URG = 0x20,
	TCP_ECE = 0x40,
	TCP_CWR = 0x80,
};

/* Zeek history letters the kernel records (bit index in history_seen is
 * the enum value, plus 16 for the HI side). */
enum history_letter {
	HIST_SYN = 0,     /* S: SYN without ACK */
	HIST_SYNACK = 1,  /* H: SYN with ACK */
	HIST_ACK = 2,     /* A: pure ACK */
	HIST_DATA = 3,    /* D: payload */
	HIST_FIN = 4,     /* F */
	HIST_RST = 5,     /* R */
	HIST_MULTI = 6,   /* Q: SYN with FIN or RST */
	HIST_ZEROWIN = 7, /* W: zero window, repeated at 10, 100, 1000... */
};

/* flow_value.close_flags */
enum close_bits {
	CLOSE_FIN_LO = 1,
	CLOSE_FIN_HI = 2,
	CLOSE_RST = 4,
};

enum event_type {
	EVENT_ALERT = 1,
	EVENT_FLOW_CLOSED = 2,
};

enum flow_end_reason {
	FLOW_END_FIN = 1, /* both sides sent FIN */
	FLOW_END_RST = 2, /* either side sent RST */
};

/* Flow table key: canonical 5-tuple plus VLAN ids, so both directions of a
 * conversation share one entry. IPv4 addresses fill the first 4 bytes. */
struct flow_key {
	__u8 addr_lo[16];
	__u8 addr_hi[16];
	__u16 port_lo; /* host byte order; 0 for protocols without ports */
	__u16 port_hi;
	__u16 vlan[MAX_VLAN_DEPTH]; /* outermost first, 0 when absent */
	__u8 proto;                 /* IPPROTO_* */
	__u8 family;                /* FAMILY_IPV4 or FAMILY_IPV6 */
};

/* How many packets of one direction carried each TCP flag. syn counts SYN
 * without ACK, synack SYN with ACK, ack "pure" ACKs (ACK without SYN/FIN/RST,
 * no payload); the others count every packet with that flag. */
struct tcp_flag_counts {
	__u32 syn;
	__u32 synack;
	__u32 ack;
	__u32 fin;
	__u32 rst;
	__u32 psh;
	__u32 urg;
	__u32 ece;
	__u32 cwr;
};

/* One direction of a flow, indexed by the sender's flow_side. */
struct flow_direction {
	__u64 packets;
	__u64 bytes;         /* L3 bytes: IP total length, headers included */
	__u64 payload_bytes; /* L4 payload */
	struct tcp_flag_counts flag_counts;
	__u32 zero_windows; /* TCP segments advertising a zero window (RST aside) */
	__u8 tcp_flags;     /* OR of every flag seen */
	__u8 pad[3];
};

/* A flow's blocklist decision, made once per flow and redone when the
 * blocklist generation moves on. Rule ids; 0 means none. */
struct flow_match {
	__u32 lo_as_src; /* rule listing the LO address as a packet source */
	__u32 lo_as_dst; /* ... as a packet destination */
	__u32 hi_as_src;
	__u32 hi_as_dst;
	__u32 generation; /* sensor_config.generation the decision was made for */
	__u8 listed;      /* LISTED_LO | LISTED_HI */
	__u8 pad[3];
};

/* Laid out for the cache: the fields every packet touches come first, each
 * direction's counters next, what only the first packet, an alert or the
 * daemon reads last. With 64K live flows each cache line is a memory miss. */
struct flow_value {
	/* Hot: every packet. */
	__u64 last_seen_ns;   /* packet clock: CLOCK_MONOTONIC live, capture time in replay */
	struct flow_match match;
	__u32 history_seen;   /* one bit per history letter and side */
	__u8 history_len;
	__u8 close_flags;     /* CLOSE_* seen so far */
	__u8 closed;          /* a flow-closed event was emitted */
	__u8 initiator;       /* flow_side that sent the first packet */
	struct flow_direction dir[2]; /* [SIDE_LO], [SIDE_HI] */
	/* Cold: the first packet, alerts, capture, the daemon. */
	__u64 first_seen_ns;
	__u64 captured_bytes; /* frame bytes handed to the capture ring */
	__u32 alerts;         /* alert events emitted for this flow */
	__u32 suppressed;     /* alerts a threshold held back */
	/* Zeek-style history in order of first occurrence: upper case for
	 * the LO side, lower case for HI (userspace turns it to
	 * originator/responder). */
	char history[HISTORY_LEN];
	__u8 first_tcp_flags;
	__u8 icmp_type;       /* of the first ICMP packet */
	__u8 icmp_code;
	__u8 pad;
};

/* Header fields of the packet that raised an alert, decoded by the kernel
 * so that an analyst sees them even when the snapshot is cut short. */
struct packet_fields {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport; /* host byte order */
	__u16 dport;
	__u16 vlan[MAX_VLAN_DEPTH];
	__u8 family;
	__u8 proto;
	__u8 ttl;       /* hop limit for IPv6 */
	__u8 tos;       /* traffic class for IPv6 */
	__u8 ip_hdr_len;
	__u8 ip_flags;  /* IPv4 flags: 0x2 DF, 0x1 MF (Snort order) */
	__u16 ip_id;
	__u16 ip_len;   /* IPv4 total length; IPv6 payload length + 40 */
	__u16 frag_offset; /* in 8-byte units */
	__u8 fragment;  /* 1: a fragment without L4 header (no ports) */
	__u8 tcp_flags;
	__u32 seq;
	__u32 ack;
	__u16 window;
	__u16 urg_ptr;
	__u8 tcp_hdr_len;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 pad;
	__u16 l3_offset; /* offsets in the frame, for userspace decoding */
	__u16 l4_offset;
};

struct alert_event {
	__u8 type;       /* EVENT_ALERT */
	__u8 listed;     /* RULE_LISTED_SRC or RULE_LISTED_DST: which address of this packet is listed */
	__u8 direction;  /* flow_side of the sender */
	__u8 has_flow;   /* 0 for fragments that belong to no flow */
	__u32 rule_id;
	__u64 ts_ns;
	__u64 flow_start_ns; /* first_seen_ns of the flow: with the key it names the flow */
	__u32 generation;    /* blocklist generation of rule_id (ids are reused) */
	__u32 pad2;
	struct flow_key key;
	struct packet_fields pkt;
	__u32 ifindex;
	__u32 frame_len; /* length on the wire */
	__u32 cap_len;   /* bytes of it in data */
	__u8 data[ALERT_SNAP_LEN];
};

struct flow_event {
	__u8 type;   /* EVENT_FLOW_CLOSED */
	__u8 reason; /* FLOW_END_* */
	__u8 pad[6];
	struct flow_key key;
	struct flow_value value;
};

/* An IPv4 address as bytes in network order, so bpftool prints the octets. */
struct ipv4_addr {
	__u8 octets[4];
};

/* capture_mode values */
enum capture_mode {
	CAPTURE_NONE = 0,
	CAPTURE_LISTED = 1, /* every packet of flows touching a listed address */
	CAPTURE_ALL = 2,    /* every packet: content-neutral full capture */
};

/* One captured frame in the capture ring: this header, then cap_len bytes. */
struct capture_record {
	__u64 ts_ns;
	__u64 flow_start_ns; /* 0 when the packet joined no flow */
	struct flow_key key;
	__u32 frame_len;     /* on the wire */
	__u32 cap_len;       /* bytes that follow */
	__u32 ifindex;
	__u8 listed;         /* the flow touches a listed address */
	__u8 direction;      /* flow_side of the sender */
	__u8 pad[2];
};

/* Value of the exact and prefix blocklist maps: the rule that lists the
 * address, per end of the packet the rule wants it on. */
struct blocklist_entry {
	__u32 rule_as_src;
	__u32 rule_as_dst;
};

struct lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Threshold types and tracking, as in Snort's threshold option. */
enum threshold_type {
	THRESHOLD_NONE = 0,
	THRESHOLD_LIMIT = 1,
	THRESHOLD_THRESHOLD = 2,
	THRESHOLD_BOTH = 3,
};

enum threshold_track {
	TRACK_BY_SRC = 1,
	TRACK_BY_DST = 2,
};

/* Rule metadata: what an alert says, and the constraints the kernel checks.
 * It lives in the kernel so that every process (daemon, CLI, bpftool)
 * reads one truth. Rule ids carry their blocklist slot in bits 24+. */
struct rule {
	__u32 gid;
	__u32 sid;
	__u32 rev;
	__u32 priority;     /* 0: from the classtype */
	__u32 generation;   /* blocklist generation that loaded it */
	__u8 direction;     /* RULE_LISTED_SRC | RULE_LISTED_DST */
	__u8 other_net;     /* enum rule_other_net for the other address */
	__u8 threshold_type;  /* enum threshold_type */
	__u8 threshold_track; /* enum threshold_track */
	__u32 threshold_count;
	__u32 threshold_seconds;
	__u64 block_seconds;  /* fwsam duration, 0 = none */
	__u64 expires_unix;   /* seconds since the epoch, 0 = never */
	char msg[RULE_MSG_LEN];
	char classtype[RULE_CLASSTYPE_LEN];
	char references[RULE_REFS_LEN]; /* "type,value" items joined by '|' */
	char source[RULE_SOURCE_LEN];   /* file:line it came from */
};

/* Threshold state: one window per rule and tracked address. */
struct threshold_key {
	__u32 rule_id;
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};

struct threshold_state {
	__u64 window_start_ns;
	__u32 count;
	__u32 pad;
};

/* Blocklist sizes of one slot, so empty maps are never looked up. */
struct slot_counts {
	__u32 exact_v4;
	__u32 exact_v6;
	__u32 prefix_v4;
	__u32 prefix_v6;
	__u32 filter_bits_log2; /* size of the slot's exact-address pre-filter */
};

struct sensor_config {
	/* Bumped on every blocklist change; its low bit picks the live slot.
	 * A reload moves it by one (new slot), an in-place edit by two. */
	__u32 generation;
	__u8 home_net_set;  /* 0: $HOME_NET is any */
	__u8 external_mode; /* enum external_mode */
	__u8 capture_mode;  /* enum capture_mode */
	__u8 pad;
	__u32 capture_snaplen;    /* bytes of each frame to capture, <= MAX_SNAPLEN */
	__u64 capture_flow_bytes; /* per-flow capture budget, 0 = unlimited */
	struct slot_counts slots[BLOCKLIST_SLOTS];
};

/* Per-CPU counters, summed by userspace. Named fields so that bpftool
 * prints them by name. */
struct sensor_stats {
	__u64 packets;
	__u64 bytes;
	__u64 ipv4_packets;
	__u64 ipv6_packets;
	__u64 tcp_packets;
	__u64 tcp_bytes;
	__u64 udp_packets;
	__u64 udp_bytes;
	__u64 icmp_packets;
	__u64 icmp_bytes;
	__u64 icmpv6_packets;
	__u64 icmpv6_bytes;
	__u64 other_ip_packets;  /* IP with another L4 protocol */
	__u64 other_ip_bytes;
	__u64 non_ip_packets;    /* ethertypes other than IPv4/IPv6 */
	__u64 non_ip_bytes;
	__u64 vlan_packets;      /* at least one tag */
	__u64 fragments;         /* IP fragments after the first (no ports) */
	__u64 matches;           /* packets whose addresses matched a rule */
	__u64 alerts;            /* alert events written to the ring */
	__u64 alerts_suppressed; /* matches a rule's threshold held back */
	__u64 flows_new;
	__u64 flows_closed;      /* flow-closed events written */
	__u64 flow_insert_failed;
	__u64 lost_events;       /* event ring reservations that failed */
	__u64 capture_packets;   /* frames handed to the capture ring */
	__u64 capture_bytes;
	__u64 capture_lost;      /* frames the capture ring had no room for */
	__u64 capture_capped;    /* frames past their flow's capture budget */
	__u64 blocklist_lookups; /* flows whose match was (re)decided */
	__u64 malformed_l2;      /* frame shorter than an Ethernet header */
	__u64 malformed_vlan;    /* truncated VLAN tag, or more tags than MAX_VLAN_DEPTH */
	__u64 malformed_l3;      /* IP header truncated or wrong version */
	__u64 malformed_ihl;     /* IPv4 IHL < 5 */
	__u64 malformed_ip_len;  /* IP length beyond the frame or below the header */
	__u64 malformed_ipv6_ext; /* IPv6 extension header truncated or chain too long */
	__u64 malformed_l4;      /* L4 header truncated */
	__u64 malformed_tcp_doff; /* TCP data offset < 5 */
};

/* The daemon's own counters, written by it once per drain round into a
 * pinned map, so that `stats`, bpftool and the metrics read one truth:
 * every record written, and every one that could not be, by reason. */
struct daemon_stats {
	__u64 alerts_written;        /* alert records written */
	__u64 flows_written;         /* flow records written, every reason */
	__u64 flows_timeout;         /* ... idle past the flow timeout */
	__u64 flows_emergency;       /* ... idle past the emergency timeout (table nearly full) */
	__u64 flows_closed_written;  /* ... after FIN/FIN or RST and the linger */
	__u64 flows_shutdown;        /* ... still open when the sensor stopped */
	__u64 flows_from_ring;       /* ... records the kernel sent (a reused tuple, a full table) */
	__u64 stats_written;         /* stats events written */
	__u64 flow_table_entries;    /* gauge: flows in the tables at the last sweep */
	__u64 flow_table_capacity;   /* gauge: flows the tables hold */
	__u64 emergency;             /* gauge: 1 while the tables are above their high-water mark */
	__u64 emergency_entered;     /* times the high-water mark was crossed */
	__u64 export_late_packets;   /* packets that reached a flow between its record and its removal */
	__u64 export_split;          /* flows a race cut in two records */
	__u64 extras_orphaned;       /* flow extensions left behind by a gone flow, removed */
	__u64 output_write_errors;   /* failed writes to an output file */
	__u64 output_records_lost;   /* records an output could not write, summed over outputs */
	__u64 pcap_frames_written;   /* captured frames written to the pcap ring */
	__u64 pcap_bytes_written;
	__u64 pcap_frames_lost;      /* captured frames the daemon could not write (disk full, errors) */
	__u64 ring_records_unknown;  /* event ring records of an unknown type */
};

#endif

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
#define MAX_SNAPLEN 9216      /* largest frame the capture ring carries */
#define MAX_TUNNEL_DEPTH 2    /* tunnels decoded inside one another (VXLAN inside ERSPAN) */
#define DEFAULT_VXLAN_PORT 4789  /* IANA; AWS VPC Traffic Mirroring */
#define DEFAULT_GENEVE_PORT 6081
#define TEREDO_PORT 3544

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

/* Bits of flow_value.marks; LISTED_* also in capture_record.listed. */
enum listed_bits {
	LISTED_LO = 1,     /* the LO address is on the blocklist */
	LISTED_HI = 2,     /* the HI address is on the blocklist */
	INSPECTED_LO = 4,  /* IP-only rules were inspected for LO's packets (once per direction) */
	INSPECTED_HI = 8,
	MARK_LONG = 16,    /* last_seen outgrew last_seen_us: it lives in the extension */
	MARK_HOLE_LO = 32, /* LO's stream has a hole awaiting its ACK (in flow_extra) */
	MARK_HOLE_HI = 64,
	MARK_ALERTED = 128, /* the flow raised an alert */
};

/* Encapsulations the kernel decodes (bpf/decap.h); a zone names the
 * innermost tunnel of its flows. */
enum tunnel_kind {
	TUNNEL_NONE = 0,
	TUNNEL_GRE = 1,        /* GRE carrying IP or Ethernet (key: the GRE key) */
	TUNNEL_ERSPAN_I = 2,   /* ERSPAN type I: GRE 0x88BE without a sequence number */
	TUNNEL_ERSPAN_II = 3,  /* type II (key: the session id) */
	TUNNEL_ERSPAN_III = 4, /* type III, GRE 0x22EB (key: the session id) */
	TUNNEL_VXLAN = 5,      /* key: the VNI */
	TUNNEL_GENEVE = 6,     /* key: the VNI */
	TUNNEL_IPIP = 7,       /* IP in IP: 4in4, 6in4, 4in6, 6in6 */
	TUNNEL_TEREDO = 8,     /* IPv6 in UDP 3544 */
};

/* Which layer of a tunneled packet an alert's listed address is in. */
enum alert_layer {
	LAYER_INNER = 0, /* the packet the flow is keyed on (the only one when not tunneled) */
	LAYER_OUTER = 1, /* the innermost tunnel's outer IP header */
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

/* How often IP-only rules (address lists) raise alerts, in
 * sensor_config.alert_mode. */
enum alert_mode {
	ALERT_PER_DIRECTION = 0, /* the first packet of each flow direction, as Suricata inspects IP-only rules */
	ALERT_EVERY_PACKET = 1,  /* every matching packet, as Snort 2 */
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

/* Zeek history letters the kernel records, as 4-bit codes; a history
 * entry is the code plus HISTORY_SIDE_HI for the HI side. The first eight
 * have a bit in flow_value.history_seen (plus 8 for HI). */
enum history_letter {
	HIST_SYN = 0,     /* S: SYN without ACK (again when its sequence number differs) */
	HIST_SYNACK = 1,  /* H: SYN with ACK (likewise) */
	HIST_ACK = 2,     /* A: pure ACK, once */
	HIST_DATA = 3,    /* D: payload, once */
	HIST_FIN = 4,     /* F (again for a FIN at a new sequence number) */
	HIST_RST = 5,     /* R (again for a RST at a new sequence number) */
	HIST_MULTI = 6,   /* Q: SYN with FIN or RST, once */
	HIST_INCONSISTENT = 7, /* I: FIN with RST, once */
	HIST_ZEROWIN = 8, /* W: zero window, at 1, 10, 100... */
	HIST_RXMIT = 9,   /* T: retransmitted payload, at 1, 10, 100... */
	HIST_GAP = 10,    /* G: content gap (acked, never seen), at 1, 10, 100... */
	HISTORY_SIDE_HI = 16,
};

/* flow_value.state */
enum flow_state_bits {
	STATE_FIN_LO = 1,
	STATE_FIN_HI = 2,
	STATE_RST_LO = 4,
	STATE_RST_HI = 8,
	STATE_CLOSED = 16,       /* both FINs or a RST: a new SYN starts a new flow */
	STATE_INITIATOR_HI = 32, /* the first packet came from HI */
	STATE_EXTRA = 64,        /* the flow has an entry in flow_extra */
	STATE_CAPTURE_CAPPED = 128, /* the flow spent its capture budget: later packets skip capture without summing (kept if the budget later grows) */
};

enum event_type {
	EVENT_ALERT = 1,
	EVENT_FLOW_CLOSED = 2, /* a hint: the flow closed; write it after the linger */
	EVENT_FLOW_RECORD = 3, /* a finished record the table no longer holds: write it now */
};

enum flow_end_reason {
	FLOW_END_FIN = 1,        /* both sides sent FIN */
	FLOW_END_RST = 2,        /* either side sent RST */
	FLOW_END_TABLE_FULL = 3, /* the table had no room: this packet is its own record */
	FLOW_END_TIMEOUT = 4,    /* idle past sensor_config.idle_split_s when its next packet came */
};

/* The widest flow key, used in events and the extension map: canonical
 * 5-tuple plus zone, so both directions share one key. IPv4 addresses
 * fill the first 4 bytes. The flow tables use the compact flow_key_v4 and
 * flow_key_v6 with the same fields. */
struct flow_key {
	__u8 addr_lo[16];
	__u8 addr_hi[16];
	__u16 port_lo; /* host byte order; ICMP: type and counterpart type or code */
	__u16 port_hi;
	__u32 zone;    /* 0: untagged; 1-4095: one VLAN id; more: an interned zone (zones map) */
	__u8 proto;    /* IPPROTO_* */
	__u8 family;   /* FAMILY_IPV4 or FAMILY_IPV6 */
	__u8 pad[6];
};

#define ZONE_BITS 24          /* zone ids fit flow_key_v4.zone_proto's upper bits */
#define ZONE_MAX_VLAN 4095    /* zone ids up to here are a single VLAN id */
#define ZONE_OVERFLOW ((1u << ZONE_BITS) - 1) /* the zones map was full */

/* Flow table keys: 16 bytes for IPv4, 40 for IPv6 (keys are stored
 * rounded to 8). zone_proto is zone << 8 | proto. */
struct flow_key_v4 {
	__u8 addr_lo[4];
	__u8 addr_hi[4];
	__u16 port_lo;
	__u16 port_hi;
	__u32 zone_proto;
};

struct flow_key_v6 {
	__u8 addr_lo[16];
	__u8 addr_hi[16];
	__u16 port_lo;
	__u16 port_hi;
	__u32 zone_proto;
};

/* One direction of a flow, indexed by the sender's flow_side. Counters are
 * the low bits: when one wraps, the kernel carries into the flow's
 * extension (flow_extra_dir), so a record is exact at any size while the
 * common flow stays small. */
struct flow_dir {
	__u32 packets;
	__u32 ip_bytes;    /* IP total length, headers included (Zeek's *_ip_bytes) */
	__u32 frame_bytes; /* whole frames as captured (Suricata's bytes_to*) */
	/* TCP: the first sequence number (the ISN when the SYN was seen, else
	 * one before the first segment) and the highest sequence end seen
	 * (SYN and FIN count one). Other protocols: payload bytes, as
	 * seq_next << 32 | seq_first. */
	__u32 seq_first;
	__u32 seq_next;
	__u16 ack;         /* pure ACKs (no SYN/FIN/RST, no payload) */
	__u16 psh;
	__u8 syn;          /* SYN without ACK */
	__u8 synack;
	__u8 fin;
	__u8 rst;
	__u8 urg;
	__u8 ece;
	__u8 cwr;
	__u8 tcp_flags;    /* OR of every flag seen */
	__u8 rxmit;        /* segments with retransmitted payload (history T) */
	__u8 zero_win;     /* zero-window advertisements (history W) */
	__u8 gaps;         /* content gaps (history G) */
	/* This side's history letters past FLOW_HISTORY_HOT dropped because
	 * no extension could be made for them (the extension map was full,
	 * counted in flow_extra_full); saturates at 255. Letters past the
	 * extension's room are flow_extra.history_lost. */
	__u8 history_dropped;
};

/* A flow table entry: 104 bytes, so that with the hash map's own 48-byte
 * element header, its 16-byte key and its bucket an IPv4 flow costs 184
 * bytes of kernel memory. What is rare lives in flow_extra. */
struct flow_value {
	__u64 first_seen_ns;  /* packet clock: CLOCK_MONOTONIC live, capture time in replay */
	__u32 last_seen_us;   /* since first_seen; saturates (MARK_LONG: see flow_extra) */
	__u32 active_us;      /* since first_seen: the last packet before both sides closed (Zeek's duration end) */
	struct flow_dir dir[2]; /* [SIDE_LO], [SIDE_HI] */
	/* Zeek history in order of occurrence, 5 bits a letter (enum
	 * history_letter, plus HISTORY_SIDE_HI): the first FLOW_HISTORY_HOT
	 * here, the rest in flow_extra. */
	__u64 history;
	__u16 generation;     /* low bits of the blocklist generation the match was decided for */
	__u16 history_seen;   /* bit per once-letter (HIST_SYN..HIST_INCONSISTENT), +8 for HI */
	__u8 state;           /* enum flow_state_bits */
	__u8 marks;           /* enum listed_bits */
	__u8 history_len;     /* letters recorded, hot and extra */
	__u8 outer_marks;     /* tunneled flows: enum listed_bits (LISTED_*, INSPECTED_*) of the tunnel's outer addresses */
};

#define FLOW_HISTORY_HOT 12
#define FLOW_HISTORY_EXTRA 28

/* What does not fit a flow's 104 bytes, kept for the few flows that need
 * it: the high parts of wrapped counters (elephant flows), stream holes,
 * long flows' last packet time, and history past FLOW_HISTORY_HOT
 * letters. Created on first need. A listed flow needs none: its rules are
 * decided again on each direction's first packet, and named by userspace. */
struct flow_extra_dir {
	__u32 packets_hi;     /* in units of 2^32 */
	__u32 ip_bytes_hi;
	__u32 frame_bytes_hi;
	__u32 seq_wraps;      /* the sequence space wrapped past seq_first (TCP) */
	__u32 ack_hi;         /* in units of 2^16 */
	__u32 psh_hi;
	__u32 syn_hi;         /* in units of 2^8 */
	__u32 synack_hi;
	__u32 fin_hi;
	__u32 rst_hi;
	__u32 urg_hi;
	__u32 ece_hi;
	__u32 cwr_hi;
	__u32 rxmit_hi;
	__u32 zero_win_hi;
	__u32 gaps_hi;
	__u32 hole_start;     /* a hole in this side's stream: sequence range not seen yet */
	__u32 hole_end;
	__u64 missed_bytes;   /* bytes of confirmed gaps (Zeek's missed_bytes, per side) */
};

struct flow_extra_key {
	struct flow_key key;
	__u64 first_seen_ns; /* with the key, names one flow: a reused tuple gets its own */
};

struct flow_extra {
	__u64 last_seen_ns;   /* MARK_LONG flows */
	struct flow_extra_dir dir[2];
	__u8 history[FLOW_HISTORY_EXTRA]; /* codes past FLOW_HISTORY_HOT, one a byte */
	__u32 history_lost;   /* letters past both: the flow's history is cut short by this many (and flow_dir.history_dropped) */
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

/* The innermost tunnel a packet came through: its outer IP header (in
 * packet order) and the tunnel's own fields. */
struct packet_tunnel {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport;   /* outer UDP ports (VXLAN, Geneve, Teredo), host order; 0 for IP tunnels */
	__u16 dport;
	__u32 id;      /* VNI, GRE key or ERSPAN session id; 0: none */
	__u8 kind;     /* enum tunnel_kind; TUNNEL_NONE: not tunneled */
	__u8 family;   /* of the outer addresses */
	__u8 proto;    /* outer IP protocol: GRE, UDP, IPIP, IPv6 */
	__u8 depth;    /* tunnels decoded, up to MAX_TUNNEL_DEPTH */
};

struct alert_event {
	__u8 type;       /* EVENT_ALERT */
	__u8 listed;     /* RULE_LISTED_SRC or RULE_LISTED_DST: which address of this packet is listed */
	__u8 direction;  /* flow_side of the sender */
	__u8 has_flow;   /* 0 for packets that belong to no flow */
	__u32 rule_id;
	__u64 ts_ns;
	__u64 flow_start_ns; /* first_seen_ns of the flow: with the key it names the flow */
	__u32 generation;    /* blocklist generation of rule_id (ids are reused) */
	__u32 pcap_cnt;      /* replay: the packet's number in its capture, 0 live */
	struct flow_key key;
	struct packet_fields pkt;
	__u32 ifindex;
	__u32 frame_len; /* length on the wire */
	__u32 cap_len;   /* bytes of it in data */
	/* The flow when the alert fired (Suricata's alert.flow), this packet
	 * counted: packets and frame bytes by side, and who started it. */
	__u32 flow_packets[2];  /* [SIDE_LO], [SIDE_HI]; low 32 bits */
	__u32 flow_bytes[2];
	__u8 initiator;         /* flow_side that sent the flow's first packet */
	__u8 layer;             /* enum alert_layer: where the listed address is */
	__u8 pad3[6];
	struct packet_tunnel tunnel; /* kind TUNNEL_NONE when the packet was not tunneled */
	__u8 data[ALERT_SNAP_LEN];
};

/* A flow the daemon should write: a close hint (EVENT_FLOW_CLOSED) or a
 * record the table does not keep (EVENT_FLOW_RECORD). */
struct flow_event {
	__u8 type;
	__u8 reason; /* FLOW_END_* */
	__u8 family;
	__u8 pad[5];
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
	__u8 listed;         /* the flow, or its tunnel's outer addresses, touch a listed address */
	__u8 direction;      /* flow_side of the sender */
	__u8 pad[2];
};

/* A zone: what besides the 5-tuple tells flows apart: the VLAN stack
 * (tags of every layer, outermost first) and the innermost tunnel, so two
 * tenants' identical inner tuples stay apart. One VLAN id is its own zone
 * id; other zones are interned in the zones map, which userspace reads to
 * name them. The tunnel's outer addresses are in canonical order (lower
 * first) so both directions share the zone; its UDP ports are not part of
 * it (VXLAN's source port varies per inner flow). */
struct zone_key {
	__u16 vlan[MAX_VLAN_DEPTH]; /* outermost first, 0 when absent */
	__u8 tunnel;       /* enum tunnel_kind, TUNNEL_NONE for a plain VLAN stack */
	__u8 family;       /* of the outer addresses */
	__u8 outer_lo[16];
	__u8 outer_hi[16];
	__u32 tunnel_id;   /* VNI, GRE key or ERSPAN session id */
	__u8 depth;        /* tunnels decoded */
	__u8 proto;        /* outer IP protocol */
	__u16 pad;
};

/* Value of the exact blocklist maps: the rule that lists the address,
 * per end of the packet the rule wants it on. */
struct blocklist_entry {
	__u32 rule_as_src;
	__u32 rule_as_dst;
};

/* An enum, not a define, so that Go sees the bound (the Resolver walks
 * as the kernel does). */
enum prefix_walk {
	PREFIX_WALK_MAX = 8, /* listed prefixes tried per address, longest first */
};

/* Value of the prefix tries: the rules of one prefix, as blocklist_entry,
 * and its own length. A lookup one bit shorter than that finds the next
 * enclosing listed prefix: nested prefixes are each tried, longest first,
 * up to PREFIX_WALK_MAX per address. */
struct prefix_entry {
	__u32 rule_as_src;
	__u32 rule_as_dst;
	__u32 prefixlen;
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
	__u8 alert_mode;    /* enum alert_mode */
	__u32 capture_snaplen;    /* bytes of each frame to capture, <= MAX_SNAPLEN */
	__u64 capture_flow_bytes; /* per-flow capture budget, 0 = unlimited */
	struct slot_counts slots[BLOCKLIST_SLOTS];
	__u16 vxlan_port;   /* UDP port decoded as VXLAN; 0: DEFAULT_VXLAN_PORT */
	__u16 geneve_port;  /* UDP port decoded as Geneve; 0: DEFAULT_GENEVE_PORT */
	/* A packet of a flow idle this many seconds starts its tuple anew, the
	 * old flow going out as a record (FLOW_END_TIMEOUT); 0: only the
	 * daemon's sweep ends idle flows. run and replay set their flow
	 * timeout. */
	__u32 idle_split_s;
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
	__u64 alerts_lost;       /* tries at an alert the full event ring refused (also in lost_events); the direction's next packet tries again, so one alert may count more than once */
	__u64 thresholds_full;   /* matches whose threshold window the full thresholds table could not take: alerted, untracked */
	__u64 flows_new;         /* entries created in the flow tables */
	__u64 flows_new_v6;      /* ... of which in the IPv6 table */
	__u64 flows_reused;      /* of those, a SYN on a closed tuple: the old flow went out as a record */
	__u64 flows_closed;      /* close hints written (FIN/FIN or RST) */
	__u64 flow_records;      /* finished records the kernel wrote to the ring (reused tuples, table full) */
	__u64 flow_table_full;   /* packets the table had no room for: each its own record */
	__u64 flow_records_lost; /* records the ring had no room for: flows lost */
	__u64 flows_merged;      /* SYNs on a closed tuple kept in the old flow: no ring room for its record */
	__u64 flow_extra_full;   /* extension entries that could not be made: counters saturated instead */
	__u64 zones_full;        /* packets whose zone could not be interned (ZONE_OVERFLOW) */
	__u64 icmp_errors_quoted; /* ICMP errors counted in the flow they quote */
	__u64 icmp_errors_third_party; /* of those, from neither end of the flow (a router): matched on their own addresses */
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
	/* Encapsulations (bpf/decap.h): packets with at least one such header. */
	__u64 mpls_packets;
	__u64 pppoe_packets;     /* PPPoE sessions */
	__u64 pbb_packets;       /* 802.1ah provider backbone bridging */
	__u64 vntag_packets;
	__u64 etag_packets;      /* 802.1BR */
	__u64 nsh_packets;       /* network service header */
	__u64 gre_packets;       /* GRE carrying IP or Ethernet */
	__u64 erspan_packets;    /* ERSPAN types I-III */
	__u64 vxlan_packets;
	__u64 geneve_packets;
	__u64 ipip_packets;      /* IP in IP: 4in4, 6in4, 4in6, 6in6 */
	__u64 teredo_packets;
	__u64 tunnel_too_deep;   /* tunnels past MAX_TUNNEL_DEPTH: keyed on the last decoded layer */
	__u64 outer_matches;     /* tunneled packets whose outer addresses matched a rule */
	__u64 malformed_encap;   /* encapsulation header truncated or invalid */
	__u64 fragments_joined;  /* later fragments counted in their first fragment's flow */
	__u64 fragments_orphaned; /* later fragments whose first piece was never seen (or aged out) */
	__u64 prefix_walk_cut;   /* flow ends with more enclosing listed prefixes than PREFIX_WALK_MAX left to try: an alert may be missed */
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
	__u64 fleet_spool_dropped;   /* events the full fleet spool could not keep: in the local outputs, not in JetStream */
	__u64 alerts_rule_unknown;   /* alerts whose rule was replaced before they were read: written with a placeholder rule */
	__u64 history_letters_lost;  /* Zeek history letters past the kernel's room, summed over the flows written: their history is cut short by this many */
	__u64 flows_lost_upgrade;    /* open flows of a pinned flow table that no longer fit and was replaced at start-up: never written */
	__u64 events_lost_upgrade;   /* unread records of a replaced event ring (alerts, flow records, close hints) */
	__u64 capture_lost_upgrade;  /* unread frames of a replaced capture ring */
	__u64 flow_rules_unnamed;    /* rules listed flows' records could not name (the blocklist changed before the record was written) */
};

#endif

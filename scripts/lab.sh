#!/usr/bin/env bash
# xdpsensor network-namespace lab.
#
# Builds a tiny, self-contained "site" out of three network namespaces and a
# SPAN port, on documentation address ranges ONLY (RFC 5737 192.0.2.0/24,
# 198.51.100.0/24, 203.0.113.0/24 and RFC 3849 2001:db8::/32). No NIC, no
# internet: every packet stays inside the namespaces made here.
#
#   xs-NAME-in  (inside host)        xs-NAME-gw (router)          xs-NAME-out ("the internet")
#   eth0 192.0.2.10/24  ---veth---  lan0 192.0.2.1/24
#        2001:db8:1::10/64               2001:db8:1::1/64
#                                   wan0 198.51.100.1/24 ---veth---  eth0 198.51.100.20/24 (benign host)
#                                        2001:db8:2::1/64                 2001:db8:2::20/64
#                                     |  tc clsact ingress+egress    lo   203.0.113.66, 2001:db8:3::66
#                                     |  mirred egress mirror             (C&C: nft drops, never answers)
#                                     v                                   203.0.113.67, 2001:db8:3::67
#                                   xsNAMEspgw ---veth--- xsNAMEspan       (IRC server, sends backscatter)
#                                                         (root namespace: where the sensor runs)
#
# Usage: scripts/lab.sh COMMAND [ARGS]   (see `scripts/lab.sh help`)
# NAME is 1-5 characters of [a-z0-9], so that "xsNAMEspgw" stays <= 15 chars
# (IFNAMSIZ) and several labs can run side by side.
#
# Machine-readable output (key=value lines) goes to stdout; progress and
# errors go to stderr.
set -euo pipefail

readonly PROG=${0##*/}

# ---------------------------------------------------------------- addresses
readonly IN_V4=192.0.2.10 GW_IN_V4=192.0.2.1
readonly IN_V6=2001:db8:1::10 GW_IN_V6=2001:db8:1::1
readonly GW_OUT_V4=198.51.100.1 BENIGN_V4=198.51.100.20
readonly GW_OUT_V6=2001:db8:2::1 BENIGN_V6=2001:db8:2::20
readonly CC_V4=203.0.113.66 CC_V6=2001:db8:3::66
readonly IRC_V4=203.0.113.67 IRC_V6=2001:db8:3::67
readonly NET3_V4=203.0.113.0/24 NET3_V6=2001:db8:3::/64
readonly IRC_PORT=6667 BENIGN_PORT=8080

# Fixed, locally administered (02:...) MAC addresses. Each lab is its own L2
# world, so the same MACs in several labs do not clash.
readonly MAC_IN=02:00:00:00:01:10 MAC_GW_LAN=02:00:00:00:01:01
readonly MAC_GW_WAN=02:00:00:00:02:01 MAC_OUT=02:00:00:00:02:20
readonly MAC_SPGW=02:00:00:00:ff:01 MAC_SPAN=02:00:00:00:ff:02

readonly NFT_TABLE=xslab

# Debian packages the lab uses, as "command:package" pairs.
readonly DEPS="ip:iproute2 ss:iproute2 tc:iproute2 nft:nftables ethtool:ethtool \
tcpdump:tcpdump hping3:hping3 ping:iputils-ping python3:python3 timeout:coreutils"

# Cleanup on any exit: background helpers we started, temp dirs, and a
# half-built lab if `up` fails.
BG_PIDS=()
TMP_DIRS=()
UP_NAME=""
on_exit() {
	local rc=$? p
	for p in "${BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${TMP_DIRS[@]}"; do
		rm -rf -- "$p"
	done
	if [[ -n $UP_NAME && $rc -ne 0 ]]; then
		log "up $UP_NAME failed, cleaning up"
		cmd_down || true
	fi
	return "$rc"
}
trap on_exit EXIT

# Sets TMPD to a new temp dir, removed on exit.
make_tmp() {
	TMPD=$(mktemp -d "${TMPDIR:-/tmp}/xslab.XXXXXX")
	TMP_DIRS+=("$TMPD")
}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
	cat <<EOF
usage: $PROG COMMAND [ARGS]

  up NAME [tap]                  build lab NAME (after removing any leftover of it);
                                 "tap": each direction of the uplink on its own port (span_iface in, tap_b_iface out);
                                 prints key=value lines (span_iface=..., inside_ns=..., ...)
  down NAME                      remove lab NAME's namespaces, links and nft table (ok if absent)
  blocklist NAME                 print a Snort rule listing the lab's C&C and IRC addresses
  cc-attempt NAME [v4|v6] [PORT] TCP connect() from the inside host to the silent C&C
                                 (default port $IRC_PORT); exits 0 when it timed out (~3.5 s)
  backscatter NAME [v4|v6] [DPORT]
                                 the IRC server sends one unsolicited SYN-ACK (sport $IRC_PORT)
                                 to the inside host (default dport 1024); checks the RST
  traffic NAME [COUNT]           benign traffic: COUNT pings (v4 and v6, default 3) and one
                                 short TCP exchange with $BENIGN_V4:$BENIGN_PORT
  deps                           apt-get install what the lab needs (only what is missing)

NAME: 1-5 characters of [a-z0-9].
Addresses used: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32 only.
EOF
}

# Re-exec as root through sudo when possible, else fail clearly.
need_root() {
	[[ $EUID -eq 0 ]] && return 0
	if command -v sudo >/dev/null 2>&1; then
		exec sudo -- "$0" "$@"
	fi
	die "must run as root (and sudo is not installed)"
}

check_name() {
	[[ ${1-} =~ ^[a-z0-9]{1,5}$ ]] || die "NAME must be 1-5 characters of [a-z0-9] (got '${1-}')"
}

# Sets the per-lab names from NAME.
set_names() {
	NAME=$1
	NS_IN=xs-$NAME-in
	NS_GW=xs-$NAME-gw
	NS_OUT=xs-$NAME-out
	SPAN=xs${NAME}span # root namespace end: the sensor listens here
	SPGW=xs${NAME}spgw # gw namespace end: tc mirred sends the copies here
	# Tap mode (up NAME tap): a passive tap delivers each direction of the
	# uplink on its own port. SPAN then carries only what comes in from
	# the internet, TAPB only what goes out.
	TAPB=xs${NAME}tapb
	TBGW=xs${NAME}tbgw
}

ns_exists() { [[ -e /run/netns/$1 ]]; }

require_lab() {
	local ns
	for ns in "$NS_IN" "$NS_GW" "$NS_OUT"; do
		ns_exists "$ns" || die "lab '$NAME' is not up (no netns $ns): run '$PROG up $NAME'"
	done
}

# Run a command inside a namespace. nsenter is lighter than `ip netns exec`
# (no /sys remount), which keeps `up` fast.
nsx() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" -- "$@"
}

pick_python() {
	# Prefer Debian's interpreter over any shim earlier in PATH.
	if [[ -x /usr/bin/python3 ]]; then
		PYTHON=/usr/bin/python3
	elif command -v python3 >/dev/null 2>&1; then
		PYTHON=$(command -v python3)
	else
		die "python3 not found: run '$PROG deps'"
	fi
}

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || die "'$c' not found: run '$PROG deps'"
	done
}

# Start `tcpdump ... -w FILE` in the background (optionally inside a netns) and
# wait (bounded) until it really listens. Sets TCPDUMP_PID.
# usage: start_tcpdump NS|"" SECONDS ERRFILE tcpdump-args...
start_tcpdump() {
	local ns=$1 secs=$2 err=$3 i
	shift 3
	if [[ -n $ns ]]; then
		nsenter --net="/run/netns/$ns" -- timeout "$secs" tcpdump "$@" 2>"$err" &
	else
		timeout "$secs" tcpdump "$@" 2>"$err" &
	fi
	TCPDUMP_PID=$!
	BG_PIDS+=("$TCPDUMP_PID")
	for ((i = 0; i < 100; i++)); do # <= 5 s
		grep -q 'listening on' "$err" 2>/dev/null && return 0
		kill -0 "$TCPDUMP_PID" 2>/dev/null || break
		sleep 0.05
	done
	log "tcpdump did not start: $(cat "$err" 2>/dev/null)"
	return 1
}

# ----------------------------------------------------------------- commands

cmd_down() {
	local ns pids i left
	# Processes left in the lab (listeners, captures): TERM, then KILL.
	for ns in "$NS_IN" "$NS_GW" "$NS_OUT"; do
		ns_exists "$ns" || continue
		pids=$(ip netns pids "$ns" 2>/dev/null || true)
		[[ -n $pids ]] || continue
		# shellcheck disable=SC2086 # word splitting of the pid list is wanted
		kill -TERM $pids 2>/dev/null || true
		for ((i = 0; i < 20; i++)); do # <= 1 s
			pids=$(ip netns pids "$ns" 2>/dev/null || true)
			[[ -z $pids ]] && break
			sleep 0.05
		done
		# shellcheck disable=SC2086
		[[ -n $pids ]] && { kill -KILL $pids 2>/dev/null || true; }
	done
	# The span pair is the only link in the root namespace; deleting one end
	# deletes the other. Delete it explicitly (synchronously) rather than
	# waiting for the asynchronous netns cleanup to do it.
	ip link del "$SPAN" 2>/dev/null || true
	ip link del "$TAPB" 2>/dev/null || true
	# The nft table lives in xs-NAME-out and dies with it; the veths inside
	# the namespaces die with them too.
	for ns in "$NS_IN" "$NS_GW" "$NS_OUT"; do
		if ns_exists "$ns"; then
			ip netns del "$ns" 2>/dev/null || true
		fi
	done
	# Bounded wait until nothing of the lab is visible any more.
	for ((i = 0; i < 40; i++)); do # <= 2 s
		left=""
		for ns in "$NS_IN" "$NS_GW" "$NS_OUT"; do
			ns_exists "$ns" && left+=" netns:$ns"
		done
		ip link show dev "$SPAN" >/dev/null 2>&1 && left+=" link:$SPAN"
		ip link show dev "$TAPB" >/dev/null 2>&1 && left+=" link:$TAPB"
		[[ -z $left ]] && return 0
		ip link del "$SPAN" 2>/dev/null || true
		ip link del "$TAPB" 2>/dev/null || true
		sleep 0.05
	done
	log "down $NAME: still present:$left"
	return 1
}

cmd_up() {
	local mode=${1:-span}
	[[ $mode == span || $mode == tap ]] || die "up: mode must be span or tap (got '$mode')"
	need_cmd ip tc nft ethtool nsenter
	cmd_down || die "could not remove the leftovers of lab '$NAME'"

	local ns
	for ns in "$NS_IN" "$NS_GW" "$NS_OUT"; do
		ip netns add "$ns"
	done
	# If anything below fails, leave nothing half-built behind (on_exit).
	UP_NAME=$NAME

	# Per-namespace defaults before any link exists: no DAD (addresses usable
	# at once), no router advertisements / autoconf.
	for ns in "$NS_IN" "$NS_GW" "$NS_OUT"; do
		nsx "$ns" sysctl -q -w \
			net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
			net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
			net.ipv6.conf.default.autoconf=0 >/dev/null
	done

	# Links are created directly inside their namespaces: nothing but the
	# span end ever appears in the root namespace.
	ip -n "$NS_IN" link add eth0 address "$MAC_IN" mtu 1500 type veth \
		peer name lan0 address "$MAC_GW_LAN" mtu 1500 netns "$NS_GW"
	ip -n "$NS_GW" link add wan0 address "$MAC_GW_WAN" mtu 1500 type veth \
		peer name eth0 address "$MAC_OUT" mtu 1500 netns "$NS_OUT"
	ip link add "$SPAN" address "$MAC_SPAN" mtu 1500 type veth \
		peer name "$SPGW" address "$MAC_SPGW" mtu 1500 netns "$NS_GW"

	# The span port must carry ONLY mirrored frames: no IPv6 (no link-local
	# address, so no MLD/RS/DAD), no IPv4 address, no ARP, no multicast, on
	# both ends. Set before the links go up.
	sysctl -q -w "net.ipv6.conf.$SPAN.disable_ipv6=1" >/dev/null
	ip link set dev "$SPAN" arp off multicast off
	nsx "$NS_GW" sysctl -q -w "net.ipv6.conf.$SPGW.disable_ipv6=1" >/dev/null
	ip -n "$NS_GW" link set dev "$SPGW" arp off multicast off
	if [[ $mode == tap ]]; then
		ip link add "$TAPB" address 02:00:00:00:ff:04 mtu 1500 type veth \
			peer name "$TBGW" address 02:00:00:00:ff:03 mtu 1500 netns "$NS_GW"
		sysctl -q -w "net.ipv6.conf.$TAPB.disable_ipv6=1" >/dev/null
		ip link set dev "$TAPB" arp off multicast off
		nsx "$NS_GW" sysctl -q -w "net.ipv6.conf.$TBGW.disable_ipv6=1" >/dev/null
		ip -n "$NS_GW" link set dev "$TBGW" arp off multicast off
		nsx "$NS_GW" ethtool -K "$TBGW" tx off tso off gso off gro off >/dev/null
		ethtool -K "$TAPB" tx off tso off gso off gro off >/dev/null
	fi

	# Wire-sized frames with real checksums. tc mirred sends its copy with
	# dev_queue_xmit() on xsNAMEspgw, so what decides the sensor's view is
	# THAT device's features: without TSO the stack segments any GSO
	# super-packet (a forwarded 64 KB TSO skb, say) in software, and without
	# tx-checksumming it fills in the checksums of CHECKSUM_PARTIAL skbs (with
	# either left on, the sensor sees 64 KB "frames" or bad TCP checksums).
	# The hosts and the router get the same treatment so that what crosses
	# the lab links is wire-like too; GRO off everywhere so no veth merges
	# segments on receive (veth only does GRO in NAPI mode, e.g. with XDP).
	nsx "$NS_IN" ethtool -K eth0 tx off tso off gso off gro off >/dev/null
	nsx "$NS_OUT" ethtool -K eth0 tx off tso off gso off gro off >/dev/null
	nsx "$NS_GW" ethtool -K lan0 tso off gso off gro off >/dev/null
	nsx "$NS_GW" ethtool -K wan0 tso off gso off gro off >/dev/null
	nsx "$NS_GW" ethtool -K "$SPGW" tx off tso off gso off gro off >/dev/null
	ethtool -K "$SPAN" tx off tso off gso off gro off >/dev/null

	# Inside host.
	ip -n "$NS_IN" -batch - <<EOF
link set dev lo up
address add $IN_V4/24 dev eth0
address add $IN_V6/64 dev eth0 nodad
link set dev eth0 up
route add default via $GW_IN_V4
route add default via $GW_IN_V6
EOF

	# Router.
	nsx "$NS_GW" sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null
	ip -n "$NS_GW" -batch - <<EOF
link set dev lo up
address add $GW_IN_V4/24 dev lan0
address add $GW_IN_V6/64 dev lan0 nodad
address add $GW_OUT_V4/24 dev wan0
address add $GW_OUT_V6/64 dev wan0 nodad
link set dev lan0 up
link set dev wan0 up
link set dev $SPGW up
route add $NET3_V4 via $BENIGN_V4
route add $NET3_V6 via $BENIGN_V6
EOF

	# "The internet": the benign host on the link, plus the C&C and IRC
	# servers on lo.
	ip -n "$NS_OUT" -batch - <<EOF
link set dev lo up
address add $BENIGN_V4/24 dev eth0
address add $BENIGN_V6/64 dev eth0 nodad
address add $CC_V4/32 dev lo
address add $CC_V6/128 dev lo nodad
address add $IRC_V4/32 dev lo
address add $IRC_V6/128 dev lo nodad
link set dev eth0 up
route add default via $GW_OUT_V4
route add default via $GW_OUT_V6
EOF
	# The C&C server is "listed but dead": every packet to it is dropped
	# silently (no RST, no ICMP), so a client's SYN is retransmitted.
	nsx "$NS_OUT" nft -f - <<EOF
table inet $NFT_TABLE {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		ip daddr $CC_V4 drop
		ip6 daddr $CC_V6 drop
	}
}
EOF

	# SPAN: copy both directions of the gateway's UPLINK (wan0) to the span
	# veth. Only the uplink: every forwarded packet crosses both lan0 and
	# wan0, so mirroring both links would show each packet twice (once with
	# the original TTL, once decremented). Ingress copies are taken before
	# routing, egress copies after (TTL already decremented), as a switch's
	# SPAN of the uplink port would see them.
	# A u32 match-everything filter (mask 0) rather than matchall: some
	# kernels (this project's VM among them) build cls_u32 but not
	# cls_matchall. "protocol all" makes it see ARP/NDP too.
	local egress_port=$SPGW
	[[ $mode == tap ]] && egress_port=$TBGW
	tc -n "$NS_GW" -batch - <<EOF
qdisc add dev wan0 clsact
filter add dev wan0 ingress protocol all prio 1 u32 match u32 0 0 action mirred egress mirror dev $SPGW
filter add dev wan0 egress protocol all prio 1 u32 match u32 0 0 action mirred egress mirror dev $egress_port
EOF

	ip link set dev "$SPAN" up
	if [[ $mode == tap ]]; then
		ip -n "$NS_GW" link set dev "$TBGW" up
		ip link set dev "$TAPB" up
	fi

	UP_NAME=""
	cat <<EOF
name=$NAME
span_iface=$SPAN
span_mac=$MAC_SPAN
inside_ns=$NS_IN
gw_ns=$NS_GW
out_ns=$NS_OUT
inside_v4=$IN_V4
inside_v6=$IN_V6
gw_v4=$GW_IN_V4
gw_v6=$GW_IN_V6
benign_v4=$BENIGN_V4
benign_v6=$BENIGN_V6
cc_v4=$CC_V4
cc_v6=$CC_V6
irc_v4=$IRC_V4
irc_v6=$IRC_V6
irc_port=$IRC_PORT
EOF
	[[ $mode == tap ]] && echo "tap_b_iface=$TAPB"
	return 0
}

cmd_blocklist() {
	cat <<EOF
# xdpsensor lab $NAME: Known Bot C&C servers (Bleeding-Edge botcc style).
# Generated by scripts/lab.sh blocklist $NAME; documentation addresses only.
alert ip \$HOME_NET any -> [$CC_V4,$IRC_V4,$CC_V6,$IRC_V6] any (msg:"XDPSENSOR LAB Known Bot C&C Server Traffic"; reference:url,www.shadowserver.org; classtype:trojan-activity; sid:9000001; rev:1;)
EOF
}

family_arg() {
	case ${1:-v4} in
	v4 | 4) FAM=v4 ;;
	v6 | 6) FAM=v6 ;;
	*) die "family must be v4 or v6 (got '$1')" ;;
	esac
}

port_arg() {
	if [[ ! $1 =~ ^[0-9]{1,5}$ ]] || ((10#$1 < 1 || 10#$1 > 65535)); then
		die "bad port '$1'"
	fi
}

cmd_cc_attempt() {
	local port=${2:-$IRC_PORT} dst rc
	family_arg "${1:-v4}"
	port_arg "$port"
	require_lab
	if [[ $FAM == v4 ]]; then dst=$CC_V4; else dst=$CC_V6; fi
	log "cc-attempt: $NAME inside -> $dst port $port (expect SYN retransmissions, no answer)"
	# A real connect() from the inside host's kernel. The C&C never answers,
	# so the kernel sends its SYN at t=0, 1 s and 3 s; we give up at 3.5 s.
	rc=0
	# shellcheck disable=SC2016 # $1/$2 expand in the inner bash
	nsx "$NS_IN" timeout 3.5 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$dst" "$port" 2>/dev/null || rc=$?
	case $rc in
	124)
		printf 'cc_attempt=timeout\ncc_dst=%s\ncc_port=%s\n' "$dst" "$port"
		;;
	0) die "cc-attempt: connection to $dst:$port unexpectedly succeeded" ;;
	*) die "cc-attempt: connect to $dst:$port failed at once (rc=$rc): expected a silent timeout" ;;
	esac
}

# Sends one TCP segment from a raw socket, for families/tools hping3 lacks.
# argv: family src dst sport dport flags
readonly PY_TCP_RAW='
import random, socket, struct, sys
fam, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
sport, dport, flags = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6], 0)
af = socket.AF_INET6 if fam == "v6" else socket.AF_INET
hdr = struct.pack("!HHIIBBHHH", sport, dport, random.getrandbits(32),
                  random.getrandbits(32), 5 << 4, flags, 64240, 0, 0)
pseudo = socket.inet_pton(af, src) + socket.inet_pton(af, dst)
if af == socket.AF_INET6:
    pseudo += struct.pack("!I3xB", len(hdr), socket.IPPROTO_TCP)
else:
    pseudo += struct.pack("!xBH", socket.IPPROTO_TCP, len(hdr))
data = pseudo + hdr
s = sum((data[i] << 8) + data[i + 1] for i in range(0, len(data), 2))
while s >> 16:
    s = (s & 0xFFFF) + (s >> 16)
hdr = hdr[:16] + struct.pack("!H", ~s & 0xFFFF) + hdr[18:]
sk = socket.socket(af, socket.SOCK_RAW, socket.IPPROTO_TCP)
sk.bind((src, 0))
sk.sendto(hdr, (dst, 0))
sk.close()
'

cmd_backscatter() {
	local dport=${2:-1024} src dst filter tmp rc=0 n
	family_arg "${1:-v4}"
	port_arg "$dport"
	require_lab
	need_cmd tcpdump
	if [[ $FAM == v4 ]]; then
		src=$IRC_V4 dst=$IN_V4
		# libpcap can index TCP flags over IPv4 only.
		filter="ip and tcp and src host $dst and src port $dport and dst host $src and dst port $IRC_PORT and tcp[tcpflags] & tcp-rst != 0"
	else
		src=$IRC_V6 dst=$IN_V6
		# IPv6 without extension headers: TCP flags at byte 40+13.
		filter="ip6 and tcp and src host $dst and src port $dport and dst host $src and dst port $IRC_PORT and ip6[53] & 0x04 != 0"
	fi
	make_tmp
	tmp=$TMPD
	log "backscatter: $NAME $src:$IRC_PORT -> $dst:$dport SYN-ACK (expect a RST back)"

	# Watch the inside host's link for its RST (exits after the first one).
	start_tcpdump "$NS_IN" 8 "$tmp/err" --immediate-mode -p -n -U -c 1 -i eth0 -w "$tmp/rst.pcap" "$filter" ||
		die "backscatter: could not start tcpdump in $NS_IN"
	local tpid=$TCPDUMP_PID

	if [[ $FAM == v4 ]] && command -v hping3 >/dev/null 2>&1; then
		# One SYN+ACK (-S -A) from fixed source port 6667 (-s, -k keeps it)
		# to dport (-p), source address 203.0.113.67 (-a, the out host's own
		# lo address). hping3 waits ~1 s for replies after its last packet.
		nsx "$NS_OUT" timeout 5 hping3 -q -c 1 -S -A -s "$IRC_PORT" -k -p "$dport" \
			-a "$src" "$dst" >/dev/null 2>&1 || rc=$?
		# hping3 exits 1 when it saw no reply; the RST check below decides.
		[[ $rc -le 1 ]] || log "hping3 exited $rc"
	else
		pick_python
		nsx "$NS_OUT" timeout 5 "$PYTHON" -c "$PY_TCP_RAW" "$FAM" "$src" "$dst" \
			"$IRC_PORT" "$dport" 0x12 || rc=$?
		[[ $rc -eq 0 ]] || log "raw SYN-ACK sender exited $rc"
	fi

	# Bounded: tcpdump is under `timeout 8` and exits on its first packet.
	for ((n = 0; n < 60; n++)); do # <= 3 s
		kill -0 "$tpid" 2>/dev/null || break
		sleep 0.05
	done
	kill -TERM "$tpid" 2>/dev/null || true
	wait "$tpid" 2>/dev/null || true
	n=$(tcpdump -r "$tmp/rst.pcap" -n 2>/dev/null | wc -l)
	if ((n >= 1)); then
		printf 'synack_src=%s:%s\nsynack_dst=%s:%s\nrst_seen=%d\n' "$src" "$IRC_PORT" "$dst" "$dport" "$n"
	else
		die "backscatter: no RST from $dst:$dport seen in $NS_IN"
	fi
}

readonly PY_SERVER='
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host, port))
ls.listen(1)
ls.settimeout(5)
c, _ = ls.accept()
c.settimeout(3)
buf = b""
while not buf.endswith(b"\n") and len(buf) < 4096:
    d = c.recv(4096)
    if not d:
        break
    buf += d
c.sendall(b"hello from benign " + buf)
c.shutdown(socket.SHUT_WR)
while c.recv(4096):
    pass
c.close()
'

cmd_traffic() {
	local count=${1:-3} spid reply i rc=0
	if [[ ! $count =~ ^[0-9]{1,3}$ ]] || ((10#$count < 1)); then
		die "COUNT must be 1-999 (got '$count')"
	fi
	count=$((10#$count))
	require_lab
	need_cmd ping ss
	pick_python
	log "traffic: $NAME $count pings to $BENIGN_V4 and $BENIGN_V6, one TCP exchange with $BENIGN_V4:$BENIGN_PORT"

	nsx "$NS_IN" timeout $((count + 3)) ping -q -n -c "$count" -i 0.2 -W 1 "$BENIGN_V4" >/dev/null ||
		die "traffic: ping $BENIGN_V4 failed"
	nsx "$NS_IN" timeout $((count + 3)) ping -q -n -c "$count" -i 0.2 -W 1 "$BENIGN_V6" >/dev/null ||
		die "traffic: ping $BENIGN_V6 failed"

	# One complete TCP exchange: listener in the out ns (accepts one client,
	# reads a line, answers a line, closes), client from the inside host.
	nsx "$NS_OUT" timeout 8 "$PYTHON" -c "$PY_SERVER" "$BENIGN_V4" "$BENIGN_PORT" &
	spid=$!
	BG_PIDS+=("$spid")
	for ((i = 0; i < 60; i++)); do # <= 3 s
		[[ -n $(nsx "$NS_OUT" ss -Hltn "sport = :$BENIGN_PORT" 2>/dev/null) ]] && break
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.05
	done
	# shellcheck disable=SC2016 # $1/$2/$line expand in the inner bash
	reply=$(nsx "$NS_IN" timeout 5 bash -c '
		exec 3<>"/dev/tcp/$1/$2" || exit 1
		printf "hello from inside\n" >&3
		IFS= read -r -t 3 line <&3 || exit 2
		exec 3>&- 3<&-
		printf "%s\n" "$line"' _ "$BENIGN_V4" "$BENIGN_PORT") || rc=$?
	# The server closes by itself once the client has; bounded by timeout 8.
	for ((i = 0; i < 60; i++)); do # <= 3 s
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.05
	done
	kill "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
	[[ $rc -eq 0 && $reply == "hello from benign hello from inside" ]] ||
		die "traffic: TCP exchange with $BENIGN_V4:$BENIGN_PORT failed (rc=$rc, reply='$reply')"
	printf 'ping_v4=%d\nping_v6=%d\ntcp_exchange=ok\n' "$count" "$count"
}

cmd_deps() {
	local pair cmd pkg missing=()
	for pair in $DEPS; do
		cmd=${pair%%:*} pkg=${pair#*:}
		command -v "$cmd" >/dev/null 2>&1 && continue
		[[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
	done
	# nsenter is in util-linux, which Debian always has.
	if ((${#missing[@]} == 0)); then
		log "deps: all present"
		return 0
	fi
	need_cmd apt-get
	log "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
		timeout 300 apt-get update -qq >/dev/null
		timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

main() {
	local cmd=${1-}
	case $cmd in
	"" | -h | --help | help)
		usage
		return 0
		;;
	blocklist)
		# Only prints text: no root needed.
		check_name "${2-}"
		set_names "$2"
		cmd_blocklist
		return 0
		;;
	up | down | cc-attempt | backscatter | traffic | deps) ;;
	*)
		usage >&2
		die "unknown command '$cmd'"
		;;
	esac
	need_root "$@"
	if [[ $cmd == deps ]]; then
		cmd_deps
		return
	fi
	check_name "${2-}"
	set_names "$2"
	shift 2
	case $cmd in
	up) cmd_up "$@" ;;
	down) cmd_down ;;
	cc-attempt) cmd_cc_attempt "$@" ;;
	backscatter) cmd_backscatter "$@" ;;
	traffic) cmd_traffic "$@" ;;
	esac
}

main "$@"

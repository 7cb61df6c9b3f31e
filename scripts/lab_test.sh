#!/usr/bin/env bash
# Self-test of scripts/lab.sh: builds a lab with a unique name, captures the
# SPAN port from the root namespace while the stories run (C&C attempt v4+v6,
# backscatter v4+v6, benign traffic), checks the capture packet by packet,
# then tears the lab down and checks nothing is left.
#
# usage: scripts/lab_test.sh            (as root; LAB_NAME=xxxxx to pick the name)
# Needs what `scripts/lab.sh deps` installs. Exits non-zero on any failure and
# always removes its lab (trap).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB=$HERE/lab.sh
PROG=${0##*/}

if [[ $EUID -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then
		exec sudo -- "$0" "$@"
	fi
	echo "$PROG: must run as root (and sudo is not installed)" >&2
	exit 1
fi

for c in ip tc nft ethtool tcpdump hping3 ping python3 timeout; do
	if ! command -v "$c" >/dev/null 2>&1; then
		echo "$PROG: '$c' not found: run 'scripts/lab.sh deps' first" >&2
		exit 1
	fi
done

NAME=${LAB_NAME:-$(printf 't%04d' $(($$ % 10000)))}
PINGS=3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/xslabtest.XXXXXX")
PCAP=$TMP/span.pcap
CAP_PID=""
PASS=0
FAIL=0

cleanup() {
	local rc=$?
	if [[ -n $CAP_PID ]]; then
		kill -TERM "$CAP_PID" 2>/dev/null || true
		wait "$CAP_PID" 2>/dev/null || true
	fi
	"$LAB" down "$NAME" >/dev/null 2>&1 || true
	rm -rf -- "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s: %s\n' "$PROG" "$*"; }
ok() {
	PASS=$((PASS + 1))
	say "ok   $*"
}
bad() {
	FAIL=$((FAIL + 1))
	say "FAIL $*"
}
fatal() {
	bad "$*"
	say "$PASS passed, $FAIL failed"
	exit 1
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# count FILTER: packets in the capture matching a pcap filter.
count() {
	tcpdump -r "$PCAP" -nn -tt "$1" 2>/dev/null | grep -cE '^[0-9]+\.[0-9]+ ' || true
}

# expect DESC OP WANT FILTER   (OP: eq, ge)
expect() {
	local desc=$1 op=$2 want=$3 filter=$4 got
	got=$(count "$filter")
	local pass=0
	case $op in
	eq) ((got == want)) && pass=1 ;;
	ge) ((got >= want)) && pass=1 ;;
	*) fatal "expect: bad op $op" ;;
	esac
	if ((pass)); then
		ok "$desc ($got)"
	else
		bad "$desc: got $got, want $op $want  [filter: $filter]"
	fi
}

# ------------------------------------------------------------------ up
say "lab name: $NAME"
t0=$(now_ms)
"$LAB" up "$NAME" >"$TMP/up.out" || fatal "lab.sh up $NAME failed"
t1=$(now_ms)
UP_MS=$((t1 - t0))
# `up` again on the same name must first remove the leftover and succeed.
"$LAB" up "$NAME" >"$TMP/up.out" || fatal "second lab.sh up $NAME failed"
t2=$(now_ms)
REUP_MS=$((t2 - t1))

declare -A K
while IFS='=' read -r k v; do
	[[ -n $k ]] && K[$k]=$v
done <"$TMP/up.out"
for k in span_iface inside_ns gw_ns out_ns inside_v4 cc_v4 irc_v4 benign_v4 inside_v6 cc_v6 irc_v6 span_mac; do
	[[ -n ${K[$k]-} ]] || fatal "up output lacks $k="
done
SPAN=${K[span_iface]}
[[ $SPAN == "xs${NAME}span" ]] || bad "span_iface=$SPAN, want xs${NAME}span"
if ((UP_MS < 3000 && REUP_MS < 3000)); then
	ok "up took ${UP_MS} ms, re-up ${REUP_MS} ms (< 3 s)"
else
	bad "up too slow: ${UP_MS} ms, re-up ${REUP_MS} ms"
fi

# Sanity of the addressing before the stories.
IN=${K[inside_v4]} CC=${K[cc_v4]} IRC=${K[irc_v4]} BEN=${K[benign_v4]}
IN6=${K[inside_v6]} CC6=${K[cc_v6]} IRC6=${K[irc_v6]} BEN6=${K[benign_v6]}
SPGW_MAC=02:00:00:00:ff:01

bl=$("$LAB" blocklist "$NAME")
if [[ $bl == *"alert ip \$HOME_NET any -> [$CC,$IRC,$CC6,$IRC6] any"* && $bl == *"sid:9000001;"* ]]; then
	ok "blocklist lists $CC $IRC $CC6 $IRC6"
else
	bad "blocklist output unexpected: $bl"
fi

# -------------------------------------------------------------- capture
# --immediate-mode: without it libpcap's TPACKET_V3 block timeout holds the
# last ~1 s of packets, which a stopped capture would lose.
timeout 60 tcpdump --immediate-mode -p -n -U -i "$SPAN" -w "$PCAP" 2>"$TMP/cap.err" &
CAP_PID=$!
for ((i = 0; i < 100; i++)); do # <= 5 s
	grep -q 'listening on' "$TMP/cap.err" 2>/dev/null && break
	kill -0 "$CAP_PID" 2>/dev/null || break
	sleep 0.05
done
grep -q 'listening on' "$TMP/cap.err" || fatal "capture on $SPAN did not start: $(cat "$TMP/cap.err")"

# --------------------------------------------------------------- stories
run() {
	local out
	if out=$("$LAB" "$@" 2>"$TMP/err"); then
		ok "lab.sh $* -> $(tr '\n' ' ' <<<"$out")"
	else
		bad "lab.sh $* failed: $(cat "$TMP/err")"
	fi
}
run cc-attempt "$NAME" v4
run cc-attempt "$NAME" v6
run backscatter "$NAME" v4
run backscatter "$NAME" v6 1025
run traffic "$NAME" "$PINGS"

# Bulk transfer from a sender with TSO/GSO/tx-checksum offloads ON (as a
# host with a real NIC would have): the span port must still deliver
# wire-sized frames with valid checksums (the lab turns these offloads off on
# the mirror's veth, where it matters).
BULK=300000
OUTNS=/run/netns/${K[out_ns]}
INNS=/run/netns/${K[inside_ns]}
nsenter --net="$OUTNS" ethtool -K eth0 tx on tso on gso on >/dev/null
nsenter --net="$OUTNS" timeout 10 python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 8081)); s.listen(1); s.settimeout(5)
c, _ = s.accept(); c.sendall(b"x" * int(sys.argv[2])); c.close()' "$BEN" "$BULK" &
BULK_PID=$!
for ((i = 0; i < 60; i++)); do # <= 3 s
	[[ -n $(nsenter --net="$OUTNS" ss -Hltn 'sport = :8081') ]] && break
	sleep 0.05
done
# shellcheck disable=SC2016 # $1 expands in the inner bash
got=$(nsenter --net="$INNS" timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/8081" && cat <&3 | wc -c' _ "$BEN" || true)
wait "$BULK_PID" 2>/dev/null || true
if [[ $got -eq $BULK ]]; then ok "bulk transfer of $BULK bytes from a TSO sender"; else bad "bulk transfer: got '$got' bytes, want $BULK"; fi

sleep 0.3
kill -TERM "$CAP_PID" 2>/dev/null || true
wait "$CAP_PID" 2>/dev/null || true
CAP_PID=""
[[ -s $PCAP ]] || fatal "empty capture"
say "captured $(count '') frames on $SPAN"

# ------------------------------------------------------------ assertions
SYN_ONLY='tcp[tcpflags] & (tcp-syn|tcp-ack|tcp-rst) == tcp-syn'
SYNACK='tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)'
RST='tcp[tcpflags] & tcp-rst != 0'
# IPv6 (no extension headers): TCP flags at ip6[40+13].
SYN6='ip6[53] & 0x16 == 0x02'
SYNACK6='ip6[53] & 0x12 == 0x12'
RST6='ip6[53] & 0x04 != 0'
PAYLOAD='(ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2)) > 0'

# Story 1: C&C attempt.
expect "v4 C&C SYNs $IN -> $CC:6667" ge 2 "ip and src host $IN and dst host $CC and tcp dst port 6667 and $SYN_ONLY"
expect "v4 nothing from the C&C $CC" eq 0 "src host $CC"
expect "v6 C&C SYNs $IN6 -> [$CC6]:6667" ge 2 "ip6 and src host $IN6 and dst host $CC6 and tcp dst port 6667 and $SYN6"
expect "v6 nothing from the C&C $CC6" eq 0 "src host $CC6"
expect "no ICMP unreachable" eq 0 "icmp and icmp[icmptype] == icmp-unreach"
expect "no ICMPv6 unreachable" eq 0 "icmp6 and ip6[40] == 1"
# Each SYN retransmission exactly once: distinct IP IDs, as many as SYNs.
syns=$(count "ip and src host $IN and dst host $CC and $SYN_ONLY")
ids=$(tcpdump -r "$PCAP" -nn -v "ip and src host $IN and dst host $CC and $SYN_ONLY" 2>/dev/null |
	grep -oE '\bid [0-9]+' | sort -u | wc -l)
if [[ $syns -ge 2 && $ids -eq $syns ]]; then
	ok "C&C SYNs have $ids distinct IP IDs for $syns SYNs (no duplicates)"
else
	bad "C&C SYNs: $syns SYNs but $ids distinct IP IDs"
fi

# Story 2: backscatter.
expect "v4 SYN-ACK $IRC:6667 -> $IN:1024" eq 1 "ip and src host $IRC and src port 6667 and dst host $IN and dst port 1024 and $SYNACK"
expect "v4 one packet in all from $IRC" eq 1 "src host $IRC"
expect "v4 RST $IN:1024 -> $IRC:6667" eq 1 "ip and src host $IN and src port 1024 and dst host $IRC and dst port 6667 and $RST"
expect "v6 SYN-ACK [$IRC6]:6667 -> [$IN6]:1025" eq 1 "ip6 and src host $IRC6 and src port 6667 and dst host $IN6 and dst port 1025 and $SYNACK6"
expect "v6 RST [$IN6]:1025 -> [$IRC6]:6667" eq 1 "ip6 and src host $IN6 and src port 1025 and dst host $IRC6 and dst port 6667 and $RST6"

# Benign traffic.
expect "v4 echo requests $IN -> $BEN" eq "$PINGS" "icmp and icmp[icmptype] == icmp-echo and src host $IN and dst host $BEN"
expect "v4 echo replies $BEN -> $IN" eq "$PINGS" "icmp and icmp[icmptype] == icmp-echoreply and src host $BEN and dst host $IN"
expect "v6 echo requests $IN6 -> $BEN6" eq "$PINGS" "icmp6 and ip6[40] == 128 and src host $IN6 and dst host $BEN6"
expect "v6 echo replies $BEN6 -> $IN6" eq "$PINGS" "icmp6 and ip6[40] == 129 and src host $BEN6 and dst host $IN6"
expect "benign SYN $IN -> $BEN:8080" eq 1 "ip and src host $IN and dst host $BEN and tcp dst port 8080 and $SYN_ONLY"
expect "benign SYN-ACK $BEN:8080 -> $IN" eq 1 "ip and src host $BEN and tcp src port 8080 and dst host $IN and $SYNACK"
expect "benign data $IN -> $BEN:8080" ge 1 "ip and src host $IN and dst host $BEN and tcp dst port 8080 and $PAYLOAD"
expect "benign data $BEN:8080 -> $IN" ge 1 "ip and src host $BEN and tcp src port 8080 and dst host $IN and $PAYLOAD"
expect "benign FIN both ways" eq 2 "ip and host $IN and host $BEN and tcp port 8080 and tcp[tcpflags] & tcp-fin != 0"

# Only the uplink is mirrored: inside packets are seen after forwarding
# (TTL/hop limit 63), never with their original 64 from the inside link.
expect "inside v4 packets all forwarded (ttl 63)" eq 0 "ip and src host $IN and ip[8] != 63"
expect "inside v6 packets all forwarded (hlim 63)" eq 0 "ip6 and src host $IN6 and ip6[7] != 63"
# The root namespace emits nothing onto the span port, nor does the gw on
# its span end.
expect "no frame from the span port's own MACs" eq 0 "ether src ${K[span_mac]} or ether src $SPGW_MAC"
maxlen=$(tcpdump -r "$PCAP" -nn -e 2>/dev/null | grep -oE ', length [0-9]+:' | grep -oE '[0-9]+' | sort -n | tail -1)
if [[ -n $maxlen && $maxlen -le 1514 ]]; then
	ok "largest frame on the span port is $maxlen bytes (wire-sized, <= 1514)"
else
	bad "largest frame on the span port is '$maxlen' bytes (> 1514: GSO super-frames mirrored?)"
fi
expect "bulk data frames seen" ge 200 "ip and src host $BEN and tcp src port 8081 and $PAYLOAD"
badsum=$(tcpdump -r "$PCAP" -nn -v 2>/dev/null | grep -cE 'incorrect|bad cksum' || true)
if [[ $badsum -eq 0 ]]; then ok "all checksums in the capture correct"; else bad "$badsum packets with bad checksums"; fi
# No duplicated TCP/ICMP packet anywhere (TTL and hop limit masked out: a
# copy from a second link would differ only there).
dups=$(tcpdump -r "$PCAP" -nn -v -t 'tcp or icmp or (icmp6 and (ip6[40] == 128 or ip6[40] == 129))' 2>/dev/null |
	awk '/^[^ \t]/ { if (rec != "") print rec; rec = $0; next } { rec = rec " " $0 } END { if (rec != "") print rec }' |
	sed -E 's/(ttl|hlim) [0-9]+, //' | sort | uniq -d | wc -l)
if [[ $dups -eq 0 ]]; then
	ok "no duplicated TCP/ICMP packet in the capture"
else
	bad "$dups duplicated packets in the capture"
fi

# ------------------------------------------------------------------ down
t0=$(now_ms)
"$LAB" down "$NAME" || bad "lab.sh down $NAME failed"
t1=$(now_ms)
DOWN_MS=$((t1 - t0))
"$LAB" down "$NAME" || bad "second lab.sh down $NAME (nothing left) failed"
if ((DOWN_MS < 3000)); then ok "down took ${DOWN_MS} ms"; else bad "down too slow: ${DOWN_MS} ms"; fi
left_ns=$(ip netns list | grep -cE "^xs-$NAME-(in|gw|out)( |$)" || true)
left_links=$(ip -o link show | grep -c "xs$NAME" || true)
if [[ $left_ns -eq 0 && $left_links -eq 0 ]]; then
	ok "nothing left of lab $NAME (namespaces, links)"
else
	bad "left after down: $left_ns namespaces, $left_links links"
fi

say "timings: up=${UP_MS}ms re-up=${REUP_MS}ms down=${DOWN_MS}ms"
say "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]

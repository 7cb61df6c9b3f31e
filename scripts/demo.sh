#!/usr/bin/env bash
# The sensor's main job on the built-in lab: bring the lab up, run
# xdpsensor on its SPAN port with a blocklist naming lab addresses, replay
# both seed stories live, print the alerts and flow records, tear down.
# shellcheck disable=SC2154 # the LAB_* variables come from `lab.sh up` through eval
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || exec scripts/as-root.sh "$0" "$@"

NAME=${DEMO_NAME:-demo}
BIN=${XDPSENSOR:-bin/xdpsensor}
OUT=${DEMO_OUT:-demo-out}
PIN=/sys/fs/bpf/xdpsensor-$NAME
SENSOR_PID=""

cleanup() {
	if [ -n "$SENSOR_PID" ] && kill -TERM "$SENSOR_PID" 2>/dev/null; then
		wait "$SENSOR_PID" 2>/dev/null || true
	fi
	scripts/lab.sh down "$NAME" || true
	rm -rf "$PIN"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Lab: inside host 192.0.2.10, gateway, outside hosts; SPAN port mirrors the uplink"
eval "$(scripts/lab.sh up "$NAME" | sed 's/^/LAB_/')"
rm -rf "$OUT" && mkdir -p "$OUT"
scripts/lab.sh blocklist "$NAME" >"$OUT/lab.rules"
cat "$OUT/lab.rules"

step "Sensor: xdpsensor run on $LAB_span_iface (monitor port)"
"$BIN" run --pin-dir "$PIN" --iface "$LAB_span_iface" --monitor-port \
	--blocklist "$OUT/lab.rules" --home-net "[192.0.2.0/24,2001:db8:1::/64]" \
	--out "$OUT" --flow-timeout 30s 2>"$OUT/sensor.log" &
SENSOR_PID=$!
for _ in $(seq 100); do
	ip -details link show "$LAB_span_iface" | grep -q 'prog/xdp' && break
	kill -0 "$SENSOR_PID" 2>/dev/null || { cat "$OUT/sensor.log"; exit 1; }
	sleep 0.1
done
cat "$OUT/sensor.log"

step "Story 1 (bot-cc.txt): the inside host phones home to a listed C&C that never answers"
scripts/lab.sh cc-attempt "$NAME" v4 6667
scripts/lab.sh cc-attempt "$NAME" v6 6667

step "Story 2 (backscatter-detected.txt): a listed IRC server sends an unsolicited SYN-ACK; the inside host answers RST"
scripts/lab.sh backscatter "$NAME" v4 1024
scripts/lab.sh backscatter "$NAME" v6 3072

step "Benign traffic: pings and a short TCP exchange (no alerts)"
scripts/lab.sh traffic "$NAME" 2

step "xdpsensor stats (kernel counters, read from the pinned maps)"
"$BIN" stats --pin-dir "$PIN" | grep -Ev ' 0$'

step "xdpsensor flows (the kernel flow table right now)"
"$BIN" flows --pin-dir "$PIN"

step "Stopping the sensor (SIGTERM): open flows are written as records"
kill -TERM "$SENSOR_PID"
wait "$SENSOR_PID" || true
SENSOR_PID=""
tail -n 2 "$OUT/sensor.log"

step "Alerts ($OUT/eve.json)"
jq -r 'select(.event_type=="alert") |
  "\(.timestamp)  [\(.alert.gid):\(.alert.signature_id):\(.alert.rev)] \(.alert.signature)  \(.src_ip):\(.src_port) -> \(.dest_ip):\(.dest_port)  (listed: \(.xdpsensor_listed))"' "$OUT/eve.json"

step "Flow records ($OUT/eve.json), TCP only: who started it, packets each way, TCP flag counts, label"
jq -r 'select(.event_type=="flow" and .proto=="TCP") |
  "\(.src_ip)\(if .src_port then ":\(.src_port)" else "" end) -> \(.dest_ip)\(if .dest_port then ":\(.dest_port)" else "" end)  \(.proto)  pkts \(.flow.pkts_toserver)/\(.flow.pkts_toclient)  bytes \(.flow.bytes_toserver)/\(.flow.bytes_toclient)  end=\(.flow.xdpsensor_end)  alerted=\(.flow.alerted)  \(.flow.xdpsensor_label // "") \(.flow.xdpsensor_label_note // "")" +
  (if .tcp then "\n      toserver \(.tcp.flag_counts.toserver | to_entries | map(select(.value>0) | "\(.key)=\(.value)") | join(" "))   toclient \(.tcp.flag_counts.toclient | to_entries | map(select(.value>0) | "\(.key)=\(.value)") | join(" ") | if . == "" then "(nothing)" else . end)" else "" end)' "$OUT/eve.json"

step "Session view, Sguil/SANCP style (xdpsensor sessions --label backscatter)"
"$BIN" sessions --dir "$OUT" --label backscatter

step "Zeek conn.log: conn_state and history (^hR: the SYN-ACK came first, our side reset)"
awk -F'\t' '/^#fields/ {for (i = 2; i <= NF; i++) col[$i] = i - 1; next} /^#/ {next}
  {printf "%-16s %-6s -> %-16s %-6s %-6s %-6s %s\n", $col["id.orig_h"], $col["id.orig_p"], $col["id.resp_h"], $col["id.resp_p"], $col["conn_state"], $col["history"], $col["xdpsensor_label"]}' "$OUT/conn.log" |
	grep -v -- ' -$' || true

step "Full content: every packet of the listed flows, from the first (xdpsensor carve --host $LAB_irc_v4)"
"$BIN" carve --dir "$OUT" --host "$LAB_irc_v4" -w - | tcpdump -nn -r - 2>/dev/null

step "Snort's alert.fast"
cat "$OUT/alert.fast"

cat <<MSG

Read it as the seeds do:
 - the C&C attempts: SYNs only toward the listed server (syn=N), nothing back, no payload: unanswered, nothing exfiltrated;
 - the backscatter: the listed server's SYN-ACK came first (it is the "client"), our RST answered it: no conspiracy.
Everything is in $OUT/: eve.json, alert.fast, alert.full, conn.log, pcap/ (the capture ring), sensor.log.
MSG

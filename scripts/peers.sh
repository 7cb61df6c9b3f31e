#!/usr/bin/env bash
# Installs the tools make bench compares xdpsensor with (Argus, softflowd,
# pmacct's pmacctd; tcpdump and nftables come with scripts/bootstrap.sh)
# from Debian's packages, without starting their services or enabling them
# at boot: each sniffs a default interface, and the benchmarks run them
# themselves, on the lab's namespaces only. Does nothing when all are there.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || exec "$(dirname "$0")/as-root.sh" "$0" "$@"

PEERS="argus:argus-server ra:argus-client softflowd:softflowd softflowctl:softflowd pmacctd:pmacct"
missing=()
for pair in $PEERS; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

# policy-rc.d is what invoke-rc.d and deb-systemd-invoke ask before
# starting a service: 101 says no. Ours only while we install.
policy=/usr/sbin/policy-rc.d
ours=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	ours=1
fi
cleanup() { if [ -n "$ours" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

echo "peers: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Not at boot either.
for svc in argus softflowd pmacctd nfacctd sfacctd uacctd; do
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable "$svc.service" >/dev/null 2>&1 || true
	fi
	update-rc.d "$svc" disable >/dev/null 2>&1 || true
done

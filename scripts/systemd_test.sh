#!/usr/bin/env bash
# Checks the systemd unit and the installer:
#   - install.sh into a temporary DESTDIR: every file there, with its mode;
#     an existing configuration kept; PREFIX rewrites ExecStart;
#   - `systemd-analyze verify` on the installed unit, which must print
#     nothing. verify insists that ExecStart's binary exists: as root the
#     check runs in a private mount namespace where the DESTDIR's bin/ is
#     bind-mounted over /usr/local/bin, so the unit is verified exactly as
#     installed and nothing on this machine changes; without root it
#     verifies a copy whose ExecStart names the DESTDIR's binary instead.
#   - the logrotate snippet with `logrotate --debug` when logrotate is
#     installed. (`make check` runs shellcheck on every script.)
#
# usage: scripts/systemd_test.sh       (BIN=path/to/xdpsensor to skip the build)
# Exits non-zero on any failure.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(dirname "$HERE")
PROG=${0##*/}
export PATH=/usr/local/go/bin:$PATH

passed=0
failed=0
ok() {
	echo "ok   $*"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL $*" >&2
	failed=$((failed + 1))
}

command -v systemd-analyze >/dev/null 2>&1 || {
	echo "$PROG: systemd-analyze not found (apt-get install systemd)" >&2
	exit 1
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

BIN=${BIN:-}
if [[ -z $BIN ]]; then
	BIN=$TMP/xdpsensor
	if ! (cd "$TOP" && go build -o "$BIN" ./cmd/xdpsensor); then
		echo "$PROG: go build failed" >&2
		exit 1
	fi
fi

mode() { stat -c %a "$1"; }

# expect_file PATH MODE: the file exists with that mode.
expect_file() {
	if [[ ! -f $1 ]]; then
		fail "$1 not installed"
	elif [[ $(mode "$1") != "$2" ]]; then
		fail "$1 has mode $(mode "$1"), want $2"
	else
		ok "$1 ($2)"
	fi
}

# --- install into a DESTDIR ---------------------------------------------
D=$TMP/root
if out=$(DESTDIR=$D BIN=$BIN "$HERE/install.sh" 2>&1); then
	ok "install.sh DESTDIR=$D"
else
	fail "install.sh DESTDIR=$D: $out"
fi
expect_file "$D/usr/local/bin/xdpsensor" 755
expect_file "$D/etc/systemd/system/xdpsensor.service" 644
expect_file "$D/etc/xdpsensor/xdpsensor.yaml" 640
expect_file "$D/etc/logrotate.d/xdpsensor" 644
if cmp -s "$BIN" "$D/usr/local/bin/xdpsensor"; then ok "binary copied"; else fail "installed binary differs from $BIN"; fi
if cmp -s "$HERE/xdpsensor.service" "$D/etc/systemd/system/xdpsensor.service"; then
	ok "default PREFIX installs the unit unchanged"
else
	fail "the unit installed with the default PREFIX differs from scripts/xdpsensor.service"
fi
if cmp -s "$HERE/xdpsensor.yaml" "$D/etc/xdpsensor/xdpsensor.yaml"; then ok "sample config installed"; else fail "config differs from the sample"; fi
if grep -q 'systemctl reload xdpsensor' "$D/etc/logrotate.d/xdpsensor"; then ok "logrotate reloads the daemon"; else fail "logrotate snippet has no reload"; fi
if [[ -z $(find "$D" -name '*.new' -o -name '.xdpsensor.new') ]]; then ok "no temporary files left"; else fail "temporary files left: $(find "$D" -name '*.new')"; fi

# An existing configuration is the admin's: a second install keeps it.
echo "# edited" >>"$D/etc/xdpsensor/xdpsensor.yaml"
if DESTDIR=$D BIN=$BIN "$HERE/install.sh" >/dev/null 2>&1 && tail -n1 "$D/etc/xdpsensor/xdpsensor.yaml" | grep -qx '# edited'; then
	ok "reinstall keeps the existing config"
else
	fail "reinstall replaced /etc/xdpsensor/xdpsensor.yaml"
fi

# PREFIX moves the binary and ExecStart with it.
P=$TMP/prefix
if DESTDIR=$P PREFIX=/opt/xdpsensor BIN=$BIN "$HERE/install.sh" >/dev/null 2>&1 &&
	[[ -x $P/opt/xdpsensor/bin/xdpsensor ]] &&
	grep -qx 'ExecStart=/opt/xdpsensor/bin/xdpsensor run --config /etc/xdpsensor/xdpsensor.yaml' "$P/etc/systemd/system/xdpsensor.service"; then
	ok "PREFIX=/opt/xdpsensor"
else
	fail "PREFIX=/opt/xdpsensor: binary or ExecStart not moved"
fi

# Without a binary it says what to do.
if out=$(DESTDIR=$TMP/nobin BIN=$TMP/missing "$HERE/install.sh" 2>&1); then
	fail "install.sh without a binary succeeded"
elif [[ $out == *"build it first"* ]]; then
	ok "install.sh without a binary fails clearly"
else
	fail "install.sh without a binary: $out"
fi

# --- systemd-analyze verify -------------------------------------------------
unit=$D/etc/systemd/system/xdpsensor.service
if [[ $EUID -eq 0 ]] && command -v unshare >/dev/null 2>&1; then
	how="as installed (DESTDIR bin/ over /usr/local/bin in a private mount namespace)"
	# shellcheck disable=SC2016 # $1 and $2 are the inner shell's
	out=$(unshare --mount --propagation private -- sh -c 'mount --bind "$1" /usr/local/bin && exec systemd-analyze verify "$2"' \
		sh "$D/usr/local/bin" "$unit" 2>&1)
	rc=$?
else
	how="with ExecStart pointing into DESTDIR (not root)"
	mkdir -p "$TMP/verify"
	sed "s|^ExecStart=/usr/local/bin/xdpsensor|ExecStart=$D/usr/local/bin/xdpsensor|" "$unit" >"$TMP/verify/xdpsensor.service"
	out=$(systemd-analyze verify "$TMP/verify/xdpsensor.service" 2>&1)
	rc=$?
fi
if [[ $rc -eq 0 && -z $out ]]; then
	ok "systemd-analyze verify $how"
else
	fail "systemd-analyze verify $how (exit $rc):"$'\n'"$out"
fi

# The unit's promises.
# shellcheck disable=SC2016 # $MAINPID is systemd's
for want in \
	'ExecStart=/usr/local/bin/xdpsensor run --config /etc/xdpsensor/xdpsensor.yaml' \
	'ExecReload=/bin/kill -HUP $MAINPID' \
	'CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_NET_ADMIN' \
	'AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_NET_ADMIN' \
	'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' 'NoNewPrivileges=yes' \
	'ReadWritePaths=/sys/fs/bpf /var/log/xdpsensor' 'StateDirectory=xdpsensor' 'LogsDirectory=xdpsensor' \
	'RuntimeDirectory=xdpsensor' 'RuntimeDirectoryPreserve=yes' \
	'Restart=on-failure' 'KillSignal=SIGTERM'; do
	if grep -qxF -- "$want" "$unit"; then ok "unit: $want"; else fail "unit lacks: $want"; fi
done

# --- optional tools ---------------------------------------------------------
if command -v logrotate >/dev/null 2>&1; then
	if out=$(logrotate --debug --state "$TMP/logrotate.state" "$D/etc/logrotate.d/xdpsensor" 2>&1) && [[ $out != *error:* ]]; then
		ok "logrotate --debug accepts the snippet"
	else
		fail "logrotate --debug:"$'\n'"$out"
	fi
else
	echo "skip logrotate check (logrotate not installed)"
fi

echo "$PROG: $passed passed, $failed failed"
[[ $failed -eq 0 ]]

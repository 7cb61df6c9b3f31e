#!/usr/bin/env bash
# Installs xdpsensor as a systemd service:
#   $PREFIX/bin/xdpsensor                     the binary (built beforehand:
#                                             go build -o bin/xdpsensor ./cmd/xdpsensor)
#   $UNITDIR/xdpsensor.service                the unit (ExecStart points at $PREFIX/bin)
#   /etc/xdpsensor/xdpsensor.yaml             the sample configuration, only
#                                             when none is there yet
#   /etc/logrotate.d/xdpsensor                daily rotation of the outputs,
#                                             then `systemctl reload xdpsensor`
# every path under $DESTDIR when set (staging, packaging, tests); without
# DESTDIR it also runs `systemctl daemon-reload` where systemd runs.
#
# usage: [DESTDIR=/tmp/stage] [PREFIX=/usr/local] [UNITDIR=/etc/systemd/system]
#        [BIN=bin/xdpsensor] scripts/install.sh
# Needs root unless DESTDIR is writable by the caller. Idempotent.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(dirname "$HERE")
PROG=${0##*/}

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
UNITDIR=${UNITDIR:-/etc/systemd/system}
SYSCONFDIR=${SYSCONFDIR:-/etc}
BIN=${BIN:-$TOP/bin/xdpsensor}

die() {
	echo "$PROG: $*" >&2
	exit 1
}

case $PREFIX in
/*) ;;
*) die "PREFIX=$PREFIX: want an absolute path" ;;
esac
[[ -x $BIN ]] || die "$BIN not found: build it first (make build, or go build -o bin/xdpsensor ./cmd/xdpsensor)"
if [[ -n $DESTDIR ]]; then
	DESTDIR=${DESTDIR%/}
	mkdir -p "$DESTDIR"
	DESTDIR=$(cd "$DESTDIR" && pwd)
fi

bindir=$PREFIX/bin
confdir=$SYSCONFDIR/xdpsensor
config=$confdir/xdpsensor.yaml

say() { echo "  $*"; }

# The binary: a temporary name then rename, so a running daemon's file is
# replaced, not overwritten in place.
install -d -m 0755 "$DESTDIR$bindir"
install -m 0755 "$BIN" "$DESTDIR$bindir/.xdpsensor.new"
mv -f "$DESTDIR$bindir/.xdpsensor.new" "$DESTDIR$bindir/xdpsensor"
say "$bindir/xdpsensor"

# The unit, pointing at this PREFIX and configuration.
install -d -m 0755 "$DESTDIR$UNITDIR"
sed -e "s|/usr/local/bin/xdpsensor|$bindir/xdpsensor|g" \
	-e "s|/etc/xdpsensor/xdpsensor.yaml|$config|g" \
	"$HERE/xdpsensor.service" >"$DESTDIR$UNITDIR/xdpsensor.service.new"
chmod 0644 "$DESTDIR$UNITDIR/xdpsensor.service.new"
mv -f "$DESTDIR$UNITDIR/xdpsensor.service.new" "$DESTDIR$UNITDIR/xdpsensor.service"
say "$UNITDIR/xdpsensor.service"

# The configuration: never over an existing one (it is the admin's).
install -d -m 0755 "$DESTDIR$confdir"
if [[ -e $DESTDIR$config ]]; then
	say "$config kept (the sample is $HERE/xdpsensor.yaml)"
else
	install -m 0640 "$HERE/xdpsensor.yaml" "$DESTDIR$config"
	say "$config (a sample: set iface and blocklist)"
fi

# Log rotation: the daemon reopens its files on SIGHUP (systemctl reload).
install -d -m 0755 "$DESTDIR$SYSCONFDIR/logrotate.d"
cat >"$DESTDIR$SYSCONFDIR/logrotate.d/xdpsensor.new" <<'EOF'
# xdpsensor outputs (installed by xdpsensor's scripts/install.sh). The
# capture ring files under pcap/ are rotated by the daemon itself.
/var/log/xdpsensor/*.json /var/log/xdpsensor/*.log /var/log/xdpsensor/alert.fast /var/log/xdpsensor/alert.full {
	daily
	rotate 14
	compress
	delaycompress
	missingok
	notifempty
	sharedscripts
	create 0640 root root
	postrotate
		systemctl reload xdpsensor >/dev/null 2>&1 || true
	endscript
}
EOF
chmod 0644 "$DESTDIR$SYSCONFDIR/logrotate.d/xdpsensor.new"
mv -f "$DESTDIR$SYSCONFDIR/logrotate.d/xdpsensor.new" "$DESTDIR$SYSCONFDIR/logrotate.d/xdpsensor"
say "$SYSCONFDIR/logrotate.d/xdpsensor"

if [[ -z $DESTDIR && -d /run/systemd/system ]]; then
	systemctl daemon-reload
	cat <<EOF
installed. Edit $config (iface, blocklist), then:
  systemctl enable --now xdpsensor
  journalctl -u xdpsensor -f
EOF
else
	echo "installed under ${DESTDIR:-/}"
fi

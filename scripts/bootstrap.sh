#!/usr/bin/env bash
# Installs what building, testing and the demo need on a fresh Debian
# machine: Debian packages (only those missing) and a Go toolchain new
# enough for go.mod (from the Go module proxy when the system has none).
# Safe to run again: it does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	exec scripts/as-root.sh "$0" "$@"
fi

# command:package pairs. clang-19/llvm-19/libbpf-dev rebuild the BPF object
# (make generate, and the CI check that it is up to date); bpftool is what
# operators inspect the maps with; chromium is the headless browser the
# console's test drives; nats-server (JetStream) is what the fleet tests
# publish to; capinfos (Wireshark's) is what the pcap ring's numbers are
# checked against; the rest runs the lab.
PACKAGES="clang-19:clang-19 llvm-strip-19:llvm-19 bpftool:bpftool ip:iproute2 tc:iproute2 nft:nftables \
ethtool:ethtool tcpdump:tcpdump hping3:hping3 ping:iputils-ping python3:python3 jq:jq curl:curl \
unzip:unzip git:git make:make gcc:gcc shellcheck:shellcheck logrotate:logrotate \
systemd-analyze:systemd chromium:chromium nats-server:nats-server capinfos:wireshark-common"
missing=()
for pair in $PACKAGES; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[ -f /usr/include/bpf/bpf_helpers.h ] || missing+=(libbpf-dev)
[ -d /usr/include/"$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)"/asm ] || missing+=(linux-libc-dev)
if [ ${#missing[@]} -gt 0 ]; then
	echo "bootstrap: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Go: go.mod's go line is the minimum; fetch a toolchain from the module
# proxy when there is no go or it is older.
need=$(sed -n 's/^go \([0-9.]*\)$/\1/p' go.mod)
GO_VERSION=1.26.8
have_go() {
	local go=$1 v
	v=$("$go" env GOVERSION 2>/dev/null) || return 1
	v=${v#go}
	[ "$(printf '%s\n%s\n' "$need" "$v" | sort -V | head -n1)" = "$need" ]
}
if ! command -v go >/dev/null 2>&1 || ! have_go go; then
	if [ -x /usr/local/go/bin/go ] && have_go /usr/local/go/bin/go; then
		:
	else
		arch=$(dpkg --print-architecture)
		url="https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go${GO_VERSION}.linux-${arch}.zip"
		echo "bootstrap: installing Go ${GO_VERSION} from ${url}" >&2
		tmp=$(mktemp -d)
		trap 'rm -rf "$tmp"' EXIT
		curl -fsSL -o "$tmp/go.zip" "$url"
		unzip -q "$tmp/go.zip" -d "$tmp"
		rm -rf /usr/local/go
		mv "$tmp/golang.org/toolchain@v0.0.1-go${GO_VERSION}.linux-${arch}" /usr/local/go
		chmod -R a+rX /usr/local/go
		chmod +x /usr/local/go/bin/* /usr/local/go/pkg/tool/*/* 2>/dev/null || true
	fi
	echo "bootstrap: Go is /usr/local/go/bin/go: put /usr/local/go/bin on your PATH" >&2
fi

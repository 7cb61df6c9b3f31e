#!/usr/bin/env bash
# Runs a command as root: directly when we are root, through sudo otherwise
# (keeping PATH so the same Go is used). BPF, XDP and network namespaces all
# need root.
set -euo pipefail
if [ "$(id -u)" -eq 0 ]; then
	exec "$@"
fi
if command -v sudo >/dev/null 2>&1; then
	exec sudo --preserve-env=PATH,GOPATH,GOCACHE,GOMODCACHE,GOFLAGS,GOTOOLCHAIN "$@"
fi
echo "$0: $* needs root and sudo is not installed: run it as root" >&2
exit 1

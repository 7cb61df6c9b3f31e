#!/usr/bin/env bash
# Refreshes the console's charting library, uPlot (MIT), from the npm
# registry: its minified browser build, stylesheet and licence are copied
# into userspace/console/assets/vendor/ and embedded in the binary with
# go:embed, so that go build needs neither npm nor a CDN. Run it by hand
# to move to another version, then commit the files it wrote.
#
#   scripts/vendor-uplot.sh            # the version pinned below
#   scripts/vendor-uplot.sh 1.6.33     # another one
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:-1.6.32}
dest=userspace/console/assets/vendor
command -v npm >/dev/null 2>&1 || { echo "vendor-uplot: needs npm (Debian: apt-get install npm)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# npm pack fetches the registry's tarball and checks it against the
# registry's integrity hash; --json reports that hash for the record.
(cd "$tmp" && npm pack --json "uplot@$version" >pack.json)
integrity=$(sed -n 's/.*"integrity": *"\([^"]*\)".*/\1/p' "$tmp/pack.json" | head -n1)
tar -xzf "$tmp/uplot-$version.tgz" -C "$tmp"

mkdir -p "$dest"
install -m 0644 "$tmp/package/dist/uPlot.iife.min.js" "$dest/uPlot.iife.min.js"
install -m 0644 "$tmp/package/dist/uPlot.min.css" "$dest/uPlot.min.css"
install -m 0644 "$tmp/package/LICENSE" "$dest/uPlot.LICENSE"
printf 'uplot %s from the npm registry (dist/uPlot.iife.min.js, dist/uPlot.min.css, LICENSE)\nintegrity %s\nrefresh: scripts/vendor-uplot.sh [VERSION]\n' \
	"$version" "$integrity" >"$dest/uPlot.VERSION"
echo "vendor-uplot: uplot $version -> $dest" >&2

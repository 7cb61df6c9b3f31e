#!/usr/bin/env bash
# make bench: every benchmark, then one markdown table in BENCHMARKS.md.
# Root: the benchmarks load BPF programs and build network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || exec scripts/as-root.sh "$0" "$@"
COUNT=${BENCH_COUNT:-3}
scripts/peers.sh # Argus, softflowd, pmacctd: what an analyst would run instead
out=$(mktemp)
trap 'rm -f "$out"' EXIT
{
	go test -run '^$' -bench 'Floor|Sensor|Memory|RingDrain|FirstTouch' -benchtime 5x -count "$COUNT" ./bench
	go test -run '^$' -bench 'Live' -benchtime 1x -count "$COUNT" ./bench
	go test -run '^$' -bench 'Offline|ReplayStartup' -benchtime 1x -count "$COUNT" ./bench
	go test -run '^$' -bench 'Sweep|FlowRecords|Storm' -benchtime 1x -count "$COUNT" ./bench
	go test -run '^$' -bench 'Replay|CaptureToDisk' -benchtime 2x -count "$COUNT" ./bench
	go test -run '^$' -bench 'BlocklistLoadMillion' -benchtime 2x -count "$COUNT" ./cmd/xdpsensor
	go test -run '^$' -bench 'RingWrite' -count "$COUNT" ./userspace/capture
	go test -run '^$' -bench 'Fleet' -benchtime 3x -count "$COUNT" ./bench
} 2>&1 | grep -E '^(Benchmark|ok|FAIL|---)' | tee "$out"
go run ./bench/report "$out" >BENCHMARKS.md
cat BENCHMARKS.md

#!/usr/bin/env bash
# Builds release binaries, runs the benchmark once per WASM isolation mode and prints medians
# with the ratios against the targets (issue 2) and the throwaway prototype measured on this
# stack (shared/stack-notes.md: 0.77 ms p50, 4,300 jobs/s). Extra arguments go to insitu-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product insitu >/dev/null
swift build -c release --product insitu-wasm-runner >/dev/null
swift build -c release --product insitu-bench >/dev/null
for isolation in in-process process; do
  out=$(.build/release/insitu-bench --isolation "$isolation" "$@")
  echo "$out"
  p50=$(awk '/latency_p50_ms/ {print $2}' <<<"$out")
  tput=$(awk '/throughput_jobs_per_s/ {print $2}' <<<"$out")
  awk -v p50="$p50" -v tput="$tput" -v mode="$isolation" 'BEGIN {
    printf "[%s] p50 latency %.3f ms = %.1fx the 1 ms target, %.1fx the 0.77 ms prototype\n", mode, p50, p50/1.0, p50/0.77
    printf "[%s] throughput %d jobs/s = %.3fx the 5000/s target, %.3fx the 4300/s prototype\n", mode, tput, tput/5000, tput/4300
  }'
done

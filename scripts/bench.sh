#!/usr/bin/env bash
# Builds release binaries, runs the benchmark once and prints its medians with the ratios against
# the targets (issue 2) and the throwaway prototype measured on this stack (shared/stack-notes.md).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product insitu >/dev/null
swift build -c release --product insitu-wasm-runner >/dev/null
swift build -c release --product insitu-bench >/dev/null
out=$(.build/release/insitu-bench "$@")
echo "$out"
p50=$(awk '/latency_p50_ms/ {print $2}' <<<"$out")
tput=$(awk '/throughput_jobs_per_s/ {print $2}' <<<"$out")
awk -v p50="$p50" -v tput="$tput" 'BEGIN {
  printf "p50 latency: %.3f ms = %.1fx the 1 ms target, %.1fx the 0.77 ms prototype\n", p50, p50/1.0, p50/0.77
  printf "throughput: %d jobs/s = %.2fx the 5000/s target, %.2fx the 4300/s prototype\n", tput, tput/5000, tput/4300
}'

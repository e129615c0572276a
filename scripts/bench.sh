#!/usr/bin/env bash
# Two benchmarks, release builds:
#
#   scripts/bench.sh [args]            submit→result latency and throughput on a real local cluster,
#                                      once per WASM isolation mode, with the ratios against the
#                                      targets (issue 2) and the throwaway prototype measured on
#                                      this stack (shared/stack-notes.md: 0.77 ms p50, 4,300 jobs/s).
#                                      Then the same for a trivial process job (/bin/true) in the
#                                      bubblewrap sandbox and unsandboxed (issue 7), when bwrap is
#                                      installed. Extra arguments go to insitu-bench.
#   scripts/bench.sh scheduler [args]  placements per second of the scheduler alone against 10,000
#                                      synthetic nodes (snapshot API and index API), with the ratios
#                                      against the target of 20,000 dataset-pinned placements/s
#                                      (issue 6, item 9). Extra arguments go to insitu-scheduler-bench
#                                      (--nodes N, --runs N).
#   scripts/bench.sh sql [args]        the SQL engine's GROUP BY over the 2,000,000-row patients CSV
#                                      in rows/s: through the executor (a runner process per run),
#                                      as a job on a local cluster, and the core in process, with
#                                      the ratio against the target of 1,000,000 rows/s (issue 7).
#                                      Extra arguments go to `insitu-bench sql` (--rows N, --runs N).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "sql" ]]; then
  shift
  swift build -c release --product insitu >/dev/null
  swift build -c release --product insitu-sql-runner >/dev/null
  swift build -c release --product insitu-bench >/dev/null
  out=$(.build/release/insitu-bench sql "$@")
  echo "$out"
  awk -v target=1000000 '/_rows_per_s/ {
    printf "[%s] %d rows/s = %.2fx the %d rows/s target\n", $1, $2, $2/target, target
  }' <<<"$out"
  exit 0
fi

if [[ "${1:-}" == "scheduler" ]]; then
  shift
  swift build -c release --product insitu-scheduler-bench >/dev/null
  out=$(.build/release/insitu-scheduler-bench "$@")
  echo "$out"
  awk -v target=20000 '
    /_placements_per_s/ {
      split($1, part, "_")
      rate[part[2] "_" part[3]] = $2
      printf "[%s, %s API] %d placements/s = %.2fx the %d/s target\n", part[2], part[3], $2, $2/target, target
    }
    END {
      split("pinned batch100 ops", workloads, " ")
      for (i = 1; i <= 3; i++) {
        w = workloads[i]
        if ((w "_index") in rate && rate[w "_snapshot"] > 0)
          printf "[%s] index API / snapshot API = %.1fx\n", w, rate[w "_index"] / rate[w "_snapshot"]
      }
    }' <<<"$out"
  exit 0
fi

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
if command -v bwrap >/dev/null; then
  for engine in process process-unsandboxed; do
    out=$(.build/release/insitu-bench --engine "$engine" "$@")
    echo "$out"
    awk -v mode="$engine" '/latency_p50_ms/ {printf "[%s] p50 submit→result of /bin/true %.3f ms\n", mode, $2}' <<<"$out"
  done
else
  echo "[process] skipped: bwrap is not installed (apt-get install bubblewrap)"
fi

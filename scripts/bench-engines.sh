#!/usr/bin/env bash
# The engines side by side, in one run, release builds (issue 7, item 7):
#
#   1. the demo's scan (count per condition) over a 2,000,000-row patients CSV: native C (gcc -O2),
#      wasmtime, WasmKit, each checked against the generated counts; ratios to native;
#      then how long each wasm runtime takes to stop a spinning guest (cancel, as `job stop` does,
#      and a 300 ms timeout), from the stop to the run's return;
#   2. submit→result p50 of a trivial job on a real local cluster, per engine and runtime.
#
#   scripts/bench-engines.sh [--rows N] [--runs N] [--latency-jobs N]
#
# wasmtime needs INSITU_WASMTIME_LIB (.ci/run installs it under .build/wasmtime-venv; this script
# uses that one when the variable is unset). Engines that are not available are reported skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=2000000 runs=3 latency_jobs=200
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --latency-jobs) latency_jobs=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "${INSITU_WASMTIME_LIB:-}" ]; then
  INSITU_WASMTIME_LIB=$(ls "$PWD"/.build/wasmtime-venv/lib/python3*/site-packages/wasmtime/linux-x86_64/_libwasmtime.so 2>/dev/null || true)
  export INSITU_WASMTIME_LIB
fi

for product in insitu insitu-wasm-runner insitu-bench insitu-engine-bench; do
  swift build -c release --product "$product" >/dev/null
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/data" "$work/native-out"
gcc -O2 -o "$work/count_conditions" \
  -DINPUT_PATH="\"$work/data/patients.csv\"" -DOUTPUT_PATH="\"$work/native-out/counts.json\"" \
  examples/count-conditions/count_conditions.c

echo "== scan of $rows rows (median of $runs runs, after one warm-up run per runtime)"
scan=$(.build/release/insitu-engine-bench --data "$work/data" --rows "$rows" --runs "$runs" --native "$work/count_conditions")
echo "$scan"
awk '
  /^scan_native_s/ { native = $2 }
  /^scan_[a-z]+_s [0-9.]+$/ { time[$1] = $2 }
  /^rows/ { rows = $2 }
  END {
    for (name in time) {
      engine = substr(name, 6, length(name) - 7)
      printf "[scan] %-9s %8.3f s  %6.1f%% of native speed  %6.2f M rows/s\n", engine, time[name], 100 * native / time[name], rows / time[name] / 1e6
    }
  }' <<<"$scan" | sort
awk '/^stop_/ { printf "[stop] %-28s %7.1f ms\n", substr($1, 6), $2 }' <<<"$scan"

echo "== submit→result of a trivial job, p50 over $latency_jobs jobs (one node, loopback)"
trivial() {
  local label=$1; shift
  local out
  if ! out=$(.build/release/insitu-bench --jobs 0 --latency-jobs "$latency_jobs" "$@" 2>&1); then
    echo "[trivial] $label: failed: $(tail -3 <<<"$out")"
    return
  fi
  awk -v label="$label" '/latency_p50_ms/ { p50 = $2 } /latency_p99_ms/ { p99 = $2 }
    END { printf "[trivial] %-28s p50 %7.2f ms  p99 %7.2f ms\n", label, p50, p99 }' <<<"$out"
}
if [ -n "$INSITU_WASMTIME_LIB" ]; then
  trivial "wasm, wasmtime in-process" --runtime wasmtime
else
  echo "[trivial] wasm, wasmtime: skipped (no INSITU_WASMTIME_LIB)"
fi
trivial "wasm, WasmKit in-process" --runtime wasmkit --isolation in-process
trivial "wasm, WasmKit runner process" --runtime wasmkit --isolation process
trivial "process (/bin/true)" --engine process

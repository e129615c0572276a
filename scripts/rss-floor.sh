#!/usr/bin/env bash
# The floor under the daemons' idle memory (issue 9, item 5): the smallest programs built on the
# libraries the daemons use, linked the way scripts/build-static.sh links `insitu` (release, Swift
# runtime and Foundation static, lld, no exported symbols, packed relocations; not its
# profile-guided function order), measured the way scripts/measure-rss.sh measures the daemons:
#
#   scripts/rss-floor.sh [RUNS]
#
# Probes (scripts/rss-floor/Sources): floor-hello (the Swift runtime alone), floor-foundation
# (+ Foundation), floor-nio (+ SwiftNIO, one connection), floor-server (Hummingbird with one route
# and a WebSocket endpoint, the orchestrator's floor) and floor-client (AsyncHTTPClient and a
# WebSocket held open to floor-server, the agent's floor). Each is started, waited for until it is
# ready, left idle for IDLE_SECONDS (default 5), and its VmRSS read from /proc/PID/status.
# The build has its own scratch path (scripts/rss-floor/.build); a cold one takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/rss-floor"
runs=${1:-3}
idle=${IDLE_SECONDS:-5}
command -v curl >/dev/null || { echo "rss-floor: needs curl (apt-get install curl)" >&2; exit 2; }
# The link is the one scripts/build-static.sh uses, less its profile-guided function order.
flags=(-c release --static-swift-stdlib -Xswiftc -use-ld=lld -Xlinker --no-export-dynamic -Xlinker -z -Xlinker pack-relative-relocs)
probes=(floor-hello floor-foundation floor-nio floor-server floor-client)
swift build "${flags[@]}" >&2
bin=$(swift build "${flags[@]}" --show-bin-path)

work=$(mktemp -d)
pids=()
stop() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
trap 'stop; rm -rf "$work"' EXIT

measure_name=rss-floor
source ../lib/measure.sh
said_ready() { grep -q '^ready' "$1"; }
answers() { [ "$(curl -s "http://127.0.0.1:$1/health")" = ok ]; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-4s %-18s %s\n' run probe "MB (total anon file)"
for run in $(seq 1 "$runs"); do
  for probe in floor-hello floor-foundation floor-nio; do
    out="$work/$probe-$run.out"
    "$bin/$probe" >"$out" 2>&1 &
    pids=($!)
    wait_for said_ready "$out"
    sleep "$idle"
    read -r total anon file <<<"$(rss "${pids[0]}")"
    printf '%-4s %-18s %s %s %s\n' "$run" "$probe" "$total" "$anon" "$file" | tee -a "$work/all"
    stop
  done
  port=$(free_port)
  "$bin/floor-server" "$port" >"$work/server-$run.out" 2>&1 &
  server=$!
  wait_for answers "$port"
  "$bin/floor-client" "$port" >"$work/client-$run.out" 2>&1 &
  client=$!
  pids=("$client" "$server")
  wait_for said_ready "$work/client-$run.out"
  sleep "$idle"
  for pair in "floor-server $server" "floor-client $client"; do
    read -r probe pid <<<"$pair"
    read -r total anon file <<<"$(rss "$pid")"
    printf '%-4s %-18s %s %s %s\n' "$run" "$probe" "$total" "$anon" "$file" | tee -a "$work/all"
  done
  stop
done
echo "medians of $runs runs (MB, total / anon / file):"
for probe in "${probes[@]}"; do
  printf '  %-18s %s / %s / %s\n' "$probe" \
    "$(awk -v p="$probe" '$2==p{print $3}' "$work/all" | median 1)" \
    "$(awk -v p="$probe" '$2==p{print $4}' "$work/all" | median 1)" \
    "$(awk -v p="$probe" '$2==p{print $5}' "$work/all" | median 1)"
done

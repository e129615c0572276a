#!/usr/bin/env bash
# Idle memory and start-up time of the two daemons (issue 9, item 5), as a user runs them:
#
#   scripts/measure-rss.sh [BIN_DIR] [RUNS]
#
# BIN_DIR holds `insitu` and its runners (default .build/debug; .build/release, or
# .build/static/release from scripts/build-static.sh). Each run starts a `--dev` orchestrator on a
# free port, measures the time from its start until `/v1/health/ready` answers 200, starts an agent
# with one dataset pointing at it, measures the time until `insitu node list` shows the node
# connected, lets both idle for IDLE_SECONDS (default 5), and reads VmRSS (with its anonymous and
# file-backed parts) from /proc/PID/status. It prints one line per run and the medians.
# Targets: orchestrator <= 20 MB and agent <= 10 MB idle, ready <= 0.2 s after start.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cd "${1:-.build/debug}" && pwd)
runs=${2:-3}
idle=${IDLE_SECONDS:-5}
[ -x "$bin/insitu" ] || { echo "measure-rss: no insitu executable in $bin: build it first (swift build, or scripts/build-static.sh)" >&2; exit 2; }
command -v curl >/dev/null || { echo "measure-rss: needs curl (apt-get install curl)" >&2; exit 2; }

work=$(mktemp -d)
orchestrator_pid=""
agent_pid=""
stop() {
  for pid in $agent_pid $orchestrator_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  agent_pid=""
  orchestrator_pid=""
}
trap 'stop; rm -rf "$work"' EXIT

now() { date +%s.%N; }
measure_name=measure-rss
source scripts/lib/measure.sh
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/health/ready")" = 200 ]; }
connected() {
  "$bin/insitu" node list --api "http://127.0.0.1:$port" -o json 2>/dev/null |
    python3 -c 'import json,sys; nodes=json.load(sys.stdin); nodes=nodes.get("nodes", nodes) if isinstance(nodes, dict) else nodes; sys.exit(0 if any(n.get("name")=="rss-node" and n.get("liveness")=="connected" for n in nodes) else 1)'
}

echo "binaries: $bin ($(ldd "$bin/insitu" | grep -cE 'libswiftCore|libFoundation') Swift runtime/Foundation libraries loaded dynamically)"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-4s %-10s %-26s %-10s %-26s\n' run ready_s "orchestrator MB (anon/file)" agent_s "agent MB (anon/file)"
for run in $(seq 1 "$runs"); do
  dir="$work/run-$run"
  mkdir -p "$dir/data/patients"
  echo "id,age" > "$dir/data/patients/patients.csv"
  port=$(free_port)
  cat > "$dir/agent.yaml" <<YAML
name: rss-node
orchestrator: http://127.0.0.1:$port
data_dir: $dir/agent
datasets:
  - name: patients
    path: $dir/data/patients
YAML
  start=$(now)
  "$bin/insitu" orchestrator --dev --port "$port" --data-dir "$dir/orchestrator" >"$dir/orchestrator.out" 2>"$dir/orchestrator.err" &
  orchestrator_pid=$!
  wait_for ready
  ready_s=$(awk -v a="$(now)" -v b="$start" 'BEGIN{printf "%.3f", a-b}')
  start=$(now)
  "$bin/insitu" agent --config "$dir/agent.yaml" >"$dir/agent.out" 2>"$dir/agent.err" &
  agent_pid=$!
  wait_for connected
  agent_s=$(awk -v a="$(now)" -v b="$start" 'BEGIN{printf "%.3f", a-b}')
  sleep "$idle"  # idle on purpose: the figure wanted is the resident size of a daemon at rest
  read -r o_total o_anon o_file <<<"$(rss "$orchestrator_pid")"
  read -r a_total a_anon a_file <<<"$(rss "$agent_pid")"
  printf '%-4s %-10.3f %-26s %-10.3f %-26s\n' "$run" "$ready_s" "$o_total ($o_anon/$o_file)" "$agent_s" "$a_total ($a_anon/$a_file)"
  echo "$ready_s $o_total $o_anon $o_file $agent_s $a_total $a_anon $a_file" >>"$work/figures"
  stop
done
col() { awk -v c="$1" '{print $c}' "$work/figures" | median; }
echo "median of $runs: ready $(col 1) s; orchestrator $(col 2) MB (anon $(col 3), file $(col 4)); agent connected $(col 5) s; agent $(col 6) MB (anon $(col 7), file $(col 8))"
echo "targets: ready <= 0.2 s; orchestrator <= 20 MB; agent <= 10 MB"

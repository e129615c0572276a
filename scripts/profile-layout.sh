#!/usr/bin/env bash
# Records which functions the two daemons run while starting and idling, in the order
# `ld.lld --symbol-ordering-file` takes (issue 9, item 5; used by scripts/build-static.sh):
#
#   scripts/profile-layout.sh INSITU ORDER_FILE
#
# Runs a `--dev` orchestrator and one agent with one dataset, both under valgrind's callgrind,
# waits until the orchestrator is ready and the agent connected, makes the calls a user makes
# first (node list, job list), lets both idle through several heartbeats, stops them with SIGTERM
# (their graceful shutdown) and writes every function either ran to ORDER_FILE: those both ran
# first, then the agent's own, then the orchestrator's own. Linking in that order packs the code a
# daemon keeps using into few pages; otherwise it is spread through the whole 38 MB of code and
# the kernel maps each 64 KB around every page that runs (docs/PERFORMANCE.md, "Lean binaries").
# callgrind slows the programs about 50 times, so the waits here are long.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: scripts/profile-layout.sh INSITU ORDER_FILE" >&2; exit 2; }
insitu=$(readlink -f "$1")
order_file=$2
idle=${PROFILE_IDLE_SECONDS:-15}
command -v valgrind >/dev/null || { echo "profile-layout: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
command -v curl >/dev/null || { echo "profile-layout: needs curl (apt-get install curl)" >&2; exit 2; }

measure_name=profile-layout
wait_seconds=300
wait_poll=0.2
source "$(dirname "$0")/lib/measure.sh"

work=$(mktemp -d)
pids=()
stop() {
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
trap 'stop; rm -rf "$work"' EXIT

# valgrind cannot read the DWARF 5 the toolchain writes ("possibly corrupted debuginfo"); the
# symbol table is all this needs. The runners beside INSITU come along (the agent looks for them).
cp "$(dirname "$insitu")"/insitu-*-runner "$work/" 2>/dev/null || true
strip --strip-debug -o "$work/insitu" "$insitu"
port=$(free_port)
mkdir -p "$work/data/patients"
echo "id,age" >"$work/data/patients/patients.csv"
cat >"$work/agent.yaml" <<YAML
name: layout-node
orchestrator: http://127.0.0.1:$port
data_dir: $work/agent
datasets:
  - name: patients
    path: $work/data/patients
YAML

ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/health/ready")" = 200 ]; }
connected() { "$insitu" node list --api "http://127.0.0.1:$port" --no-headers 2>/dev/null | grep -q 'layout-node.*connected'; }
trace() { exec valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/$1.callgrind" "$work/insitu" "${@:2}"; }

trace orchestrator orchestrator --dev --port "$port" --data-dir "$work/orchestrator" >"$work/orchestrator.log" 2>&1 &
orchestrator=$!
pids=("$orchestrator")
wait_for ready
trace agent agent --config "$work/agent.yaml" >"$work/agent.log" 2>&1 &
agent=$!
pids=("$agent" "$orchestrator")
wait_for connected
"$insitu" node list --api "http://127.0.0.1:$port" >/dev/null
"$insitu" job list --api "http://127.0.0.1:$port" >/dev/null
sleep "$idle"  # on purpose: the idle loops (heartbeats, liveness checks) are what is being recorded
stop

names() { grep -oE '^c?fn=\([0-9]+\) .*' "$1" | sed -E 's/^c?fn=\([0-9]+\) //' | awk '!seen[$0]++'; }
for role in orchestrator agent; do
  [ -s "$work/$role.callgrind" ] || { echo "profile-layout: callgrind wrote no profile for the $role" >&2; tail -5 "$work/$role.log" >&2; exit 1; }
  names "$work/$role.callgrind" >"$work/$role.functions"
done
awk 'FILENAME==ARGV[1]{o[$0]=1; next} ($0 in o)' "$work/orchestrator.functions" "$work/agent.functions" >"$work/order"
awk 'FILENAME==ARGV[1]{o[$0]=1; next} !($0 in o)' "$work/orchestrator.functions" "$work/agent.functions" >>"$work/order"
awk 'FILENAME==ARGV[1]{a[$0]=1; next} !($0 in a)' "$work/agent.functions" "$work/orchestrator.functions" >>"$work/order"
mv "$work/order" "$order_file"
echo "profile-layout: $(wc -l <"$order_file") functions ($(wc -l <"$work/orchestrator.functions") run by the orchestrator, $(wc -l <"$work/agent.functions") by the agent) into $order_file"

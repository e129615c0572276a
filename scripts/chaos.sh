#!/usr/bin/env bash
# Chaos on real processes (issue 6, item 11): runs ChaosTests against real `insitu` processes,
# the agents in their own network namespaces, and prints the measured figures.
#
#   scripts/chaos.sh           the CI version: 2,000 jobs over about 60 s of faults (< 5 minutes)
#   scripts/chaos.sh --soak    a longer run: 20,000 jobs over 10 minutes of faults (override with
#                              INSITU_CHAOS_JOBS and INSITU_CHAOS_BURST_SECONDS)
#
# Needs root, iproute2 (`ip netns`), python3 (scripts/chaos_relay.py) and nftables (packet loss,
# when the kernel has no netem). Whatever happens, the namespaces it made are deleted: ChaosTests
# cleans up after itself, and this script also removes namespaces of runs that were killed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--soak" ]; then
  export INSITU_CHAOS_JOBS="${INSITU_CHAOS_JOBS:-20000}"
  export INSITU_CHAOS_BURST_SECONDS="${INSITU_CHAOS_BURST_SECONDS:-600}"
elif [ -n "${1:-}" ]; then
  echo "usage: scripts/chaos.sh [--soak]" >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "scripts/chaos.sh needs root (network namespaces); run it with sudo" >&2
  exit 1
fi
export INSITU_CHAOS=1
export INSITU_CHAOS_REPORT="${INSITU_CHAOS_REPORT:-$PWD/.build/chaos-report.txt}"

# Namespaces named insitu-chaos-PID-* whose PID is gone belong to runs that were killed.
cleanup() {
  for ns in $(ip netns list | awk '/^insitu-chaos-/ {print $1}'); do
    pid=${ns#insitu-chaos-}; pid=${pid%%-*}
    if ! kill -0 "$pid" 2>/dev/null; then
      # Processes left in it (agents, runners, the slow link's relay) would keep it alive.
      for leftover in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$leftover" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT
cleanup

swift build --build-tests
swift test --skip-build --filter ChaosTests
echo "figures: $INSITU_CHAOS_REPORT"
cat "$INSITU_CHAOS_REPORT"

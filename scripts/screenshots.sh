#!/usr/bin/env bash
# Screenshots of the dashboard's main pages for the docs (docs/screenshots/{jobs,job,job-placement,nodes}.png):
# a demo cluster (`insitu demo --keep-running`: an orchestrator with --dev and three nodes that ran
# the demo's job), two more jobs (one completed, one that no node can take), then headless
# Chromium at 1280x900. Run after `swift build`; INSITU names another insitu binary.
set -euo pipefail
cd "$(dirname "$0")/.."
insitu=${INSITU:-.build/debug/insitu}
chromium=$(command -v chromium || command -v chromium-headless-shell || true)
[ -n "$chromium" ] || { echo "chromium is not installed (apt-get install chromium)" >&2; exit 1; }
out=docs/screenshots
mkdir -p "$out"

work=$(mktemp -d)
"$insitu" demo --dir "$work/demo" --keep-running > "$work/demo.log" 2>&1 &
demo=$!
trap 'kill "$demo" 2>/dev/null || true; wait "$demo" 2>/dev/null || true; rm -rf "$work"' EXIT

for _ in $(seq 1 1200); do
  grep -q "Cluster still running at" "$work/demo.log" && break
  kill -0 "$demo" 2>/dev/null || { cat "$work/demo.log" >&2; exit 1; }
  sleep 0.1
done
api=$(sed -n 's/^Cluster still running at \([^;]*\);.*/\1/p' "$work/demo.log")
[ -n "$api" ] || { echo "the demo did not start:" >&2; cat "$work/demo.log" >&2; exit 1; }

# The demo's job, once more, as a finished job with results on every node.
"$insitu" job run examples/jobs/count-conditions.yaml --wait --api "$api" > /dev/null
# A job no node can take: it waits with each node's reason.
cat > "$work/genomes.yaml" <<SPEC
version: v1
name: align-genomes
inputs:
  - dataset: genomes
    target: /data
engine: {type: wasm, module: $PWD/examples/count-conditions/count_conditions.wasm}
queueTimeout: 10m
SPEC
queued=$("$insitu" job run "$work/genomes.yaml" --api "$api" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobID"])')
job=$("$insitu" job list --api "$api" -o json | python3 -c 'import json,sys; print(next(j["id"] for j in json.load(sys.stdin) if j["state"] == "completed"))')

shoot() {
  "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,900 \
    --virtual-time-budget=2000 --screenshot="$out/$1.png" "$api$2" 2> /dev/null
  echo "$out/$1.png: $api$2"
}
shoot jobs /ui/jobs
shoot job "/ui/jobs/$job"
shoot job-placement "/ui/jobs/$queued"
shoot nodes /ui/nodes

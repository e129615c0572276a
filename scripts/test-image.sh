#!/usr/bin/env bash
# Builds the OCI image (deploy/Containerfile) from the static build and starts it with podman, as
# a user would, and checks the orchestrator inside answers (issue 9, item 6):
#   - `/v1/health/ready` over TLS through a published port, verified against the cluster CA the
#     orchestrator wrote into its volume (a bind mount here);
#   - it runs as the image's unprivileged user (65532), not root;
#   - `podman stop` (SIGTERM) ends it within 10 s with exit code 0.
#
#   scripts/test-image.sh [BIN_DIR]    (default .build/static: run scripts/build-static.sh first)
#
# Skips with a message, exiting 0, where podman or runc is missing; fails otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/static}
# runc: crun, podman's default, refuses hybrid-cgroup hosts (as the container engine's tests).
runtime=/usr/sbin/runc
if ! command -v podman >/dev/null || [ ! -x "$runtime" ]; then
  echo "skipped: image test (podman or $runtime missing: apt-get install podman runc)"
  exit 0
fi
podman=(podman --runtime "$runtime")
tag=localhost/insitu-test:$$
name=insitu-image-test-$$
data=$(mktemp -d)
cleanup() {
  "${podman[@]}" rm --force --time 0 "$name" >/dev/null 2>&1 || true
  "${podman[@]}" rmi --force "$tag" >/dev/null 2>&1 || true
  rm -rf "$data"
}
trap cleanup EXIT

scripts/build-image.sh "$tag" "$bin"
# The volume's owner is the image's user, as a named volume would be.
chown 65532:65532 "$data"
chmod 0700 "$data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Explicit rlimits: podman's default nofile is above the hard limit some hosts allow (this one's
# is 20,000), and runc then refuses to start the container.
"${podman[@]}" run --detach --name "$name" --publish "127.0.0.1:$port:4646" --volume "$data:/var/lib/insitu" \
  --read-only --cap-drop all --security-opt no-new-privileges --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 "$tag" >/dev/null

fail() {
  echo "FAILED: $*" >&2
  echo "--- container log:" >&2
  "${podman[@]}" logs "$name" >&2 || true
  exit 1
}
# Waits on what a load balancer waits on: the readiness route answering 200 over verified TLS.
deadline=$(( $(date +%s) + 60 ))
until [ -f "$data/tls/ca.crt" ] &&
  [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$data/tls/ca.crt" "https://localhost:$port/v1/health/ready")" = 200 ]; do
  [ "$("${podman[@]}" inspect --format '{{.State.Running}}' "$name")" = true ] || fail "the container exited"
  [ "$(date +%s)" -lt "$deadline" ] || fail "/v1/health/ready did not answer 200 within 60 s"
  sleep 0.1
done
health=$(curl -s --cacert "$data/tls/ca.crt" "https://localhost:$port/v1/health")
[ "$health" = '{"status":"ok"}' ] || grep -q '"ok"' <<<"$health" || fail "/v1/health answered $health"
echo "ok: /v1/health from the container: $health"
user=$("${podman[@]}" top "$name" user huser | awk 'NR==2{print $1}')
[ "$user" = 65532 ] || [ "$user" = insitu ] || fail "the orchestrator runs as $user, not the image's user 65532"
echo "ok: runs as $user"
started=$(date +%s)
"${podman[@]}" stop --time 10 "$name" >/dev/null
code=$("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"
echo "ok: stopped by SIGTERM in $(( $(date +%s) - started )) s with exit code 0"

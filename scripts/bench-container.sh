#!/usr/bin/env bash
# Submit→result latency of a trivial container job (issue 7, item 7): one orchestrator and one
# node on loopback (insitu-bench), the node's container engine a private podman service with
# runc, the job `true` in an image imported offline from busybox-static. Needs root, podman,
# runc and busybox-static. Extra arguments go to insitu-bench (e.g. --latency-jobs 50).
#
#   scripts/bench-container.sh             release build
#   CONFIG=debug scripts/bench-container.sh
set -euo pipefail
cd "$(dirname "$0")/.."
config=${CONFIG:-release}
swift build -c "$config" --product insitu >/dev/null
swift build -c "$config" --product insitu-bench >/dev/null

dir=$(mktemp -d)
service=
cleanup() {
  [ -n "$service" ] && kill "$service" 2>/dev/null && wait "$service" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

image=localhost/insitu-bench-busybox:1
mkdir -p "$dir/rootfs/bin" "$dir/rootfs/tmp"
cp /usr/bin/busybox "$dir/rootfs/bin/busybox"
for applet in $(/usr/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dir/rootfs/bin/$applet"
done
tar -C "$dir/rootfs" -cf "$dir/rootfs.tar" .
podman import "$dir/rootfs.tar" "$image" >/dev/null

# In its own directory: conmon inherits the working directory and may write files there.
(cd "$dir" && exec podman --runtime /usr/sbin/runc system service --time=0 "unix://$dir/podman.sock" >"$dir/podman.log" 2>&1) &
service=$!
for _ in $(seq 100); do
  curl -sf --unix-socket "$dir/podman.sock" http://d/v1.41/_ping >/dev/null 2>&1 && break
  sleep 0.1
done

# Arguments given first win (insitu-bench reads the first occurrence of an option).
".build/$config/insitu-bench" "$@" --engine container --container-socket "$dir/podman.sock" --container-image "$image" \
  --warmup 3 --latency-jobs 30 --jobs 0 | grep -v throughput

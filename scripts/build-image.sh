#!/usr/bin/env bash
# Builds the OCI image of deploy/Containerfile from the static build (issue 9, item 6):
#
#   scripts/build-image.sh [TAG] [BIN_DIR]     (defaults: localhost/insitu:latest, .build/static)
#
# Run scripts/build-static.sh first. Stages a root file system (the three executables, the shared
# C libraries they load as `ldd` lists them, the dynamic loader, CA certificates, passwd/group for
# the image's user, an empty /tmp) and builds FROM scratch with podman; no registry is contacted.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-localhost/insitu:latest}
bin=${2:-.build/static}
command -v podman >/dev/null || { echo "build-image: needs podman (apt-get install podman)" >&2; exit 2; }
for product in insitu insitu-wasm-runner insitu-sql-runner; do
  [ -x "$bin/$product" ] || { echo "build-image: no $bin/$product: run scripts/build-static.sh first" >&2; exit 2; }
done

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
rootfs=$context/rootfs
mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc/ssl/certs" "$rootfs/tmp" "$context/state/insitu" "$context/state/insitu-agent"
chmod 1777 "$rootfs/tmp"
for product in insitu insitu-wasm-runner insitu-sql-runner; do
  install -m 0755 "$bin/$product" "$rootfs/usr/local/bin/$product"
  # Every shared library, at the path the loader looks for it, and the loader itself.
  ldd "$bin/$product" | awk '/=> \//{print $3} /^\t\//{print $1}' | while read -r library; do
    mkdir -p "$rootfs$(dirname "$library")"
    cp -L "$library" "$rootfs$library"
  done
done
# TLS to module hosts and orchestrators with public certificates.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
fi
printf 'root:x:0:0:root:/root:/sbin/nologin\ninsitu:x:65532:65532:insitu:/var/lib/insitu:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\ninsitu:x:65532:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
# Name resolution from /etc/hosts then DNS (the container engine writes both files).
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
chmod 0700 "$context/state/insitu" "$context/state/insitu-agent"
cp deploy/Containerfile "$context/Containerfile"
podman build --quiet --tag "$tag" --file "$context/Containerfile" "$context" >/dev/null
echo "built $tag: $(podman image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.1f MB", $1/1048576}'), $(find "$rootfs" -type f | wc -l) files"

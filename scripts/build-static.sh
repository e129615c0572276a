#!/usr/bin/env bash
# Builds the release `insitu` with the Swift runtime and Foundation linked in, and its two runners
# the same way, into one directory (issue 9, item 5):
#
#   scripts/build-static.sh [OUT_DIR]      (default .build/static)
#
# `insitu agent` finds insitu-wasm-runner and insitu-sql-runner beside its own executable, so the
# three are built with the same flags and copied together; install them into one directory (e.g.
# /usr/local/bin). The build has its own scratch path (.build-static) so it does not replace the
# dynamically linked release build that scripts/bench.sh uses.
#
# What stays dynamic: the C libraries of the system (glibc's libc, libm and the dynamic loader,
# libstdc++ and libgcc_s, which the Swift runtime needs, and libsqlite3 and libz); the script
# lists them. A fully static executable is not possible with this toolchain alone: it needs the
# Static Linux SDK (musl), which is not installed (`swift sdk list`); docs/OPERATIONS.md, "Static
# build", says more. The container image (deploy/Containerfile) copies these libraries in.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.build/static}
scratch=.build-static
flags=(-c release --static-swift-stdlib --scratch-path "$scratch")
for product in insitu insitu-wasm-runner insitu-sql-runner; do
  swift build "${flags[@]}" --product "$product"
done
bin=$(swift build "${flags[@]}" --show-bin-path)
mkdir -p "$out"
for product in insitu insitu-wasm-runner insitu-sql-runner; do
  cp "$bin/$product" "$out/$product"
  strip "$out/$product"
done
echo "built into $out:"
for product in insitu insitu-wasm-runner insitu-sql-runner; do
  printf '  %-20s %6s MB, needs: %s\n' "$product" "$(( $(stat -c %s "$out/$product") / 1048576 ))" \
    "$(ldd "$out/$product" | awk '/=>/{print $1} !/=>/{print $1}' | grep -v '^linux-vdso' | xargs)"
done
if ldd "$out/insitu" | grep -qE 'libswiftCore|libFoundation'; then
  echo "build-static: $out/insitu still loads the Swift runtime or Foundation dynamically" >&2
  exit 1
fi

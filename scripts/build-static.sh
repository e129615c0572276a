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
# The link is shaped for a small resident set (docs/PERFORMANCE.md, "Lean binaries"):
# - ld.lld with --no-export-dynamic: the toolchain's static-stdlib arguments export every symbol,
#   and the dynamic loader then reads a 5 MB dynamic symbol table at every start.
# - -z pack-relative-relocs: the 3.8 MB of load-time relocations become a compact RELR table
#   (glibc 2.36 or newer, which Debian 12 has, reads it).
# - a profile-guided function order: the executable is linked once, both daemons are run under
#   callgrind (scripts/profile-layout.sh, needs valgrind), and it is linked again with the
#   functions they ran first and together. Every function gets its own section
#   (-function-sections) so that the linker can move it alone. INSITU_PROFILE_LAYOUT=0 skips the
#   profile and links in the default order (the same program, with a larger resident set).
# The copies are stripped of debug information only: the symbol table stays (it is not loaded, so
# it costs no memory) so that crash backtraces still name functions.
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
profile=${INSITU_PROFILE_LAYOUT:-1}
mkdir -p "$scratch"
order="$PWD/$scratch/function-order.txt"
# The ordering file is read at link time from a fixed path, so relinking with a new profile
# changes no build flag and recompiles nothing.
[ -f "$order" ] || : >"$order"
if [ "$profile" != 0 ] && ! command -v valgrind >/dev/null; then
  echo "build-static: the profile-guided layout needs valgrind (apt-get install valgrind); INSITU_PROFILE_LAYOUT=0 builds without it" >&2
  exit 2
fi
flags=(-c release --static-swift-stdlib --scratch-path "$scratch"
  -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections
  -Xswiftc -use-ld=lld
  -Xlinker --no-export-dynamic
  -Xlinker -z -Xlinker pack-relative-relocs
  -Xlinker "--symbol-ordering-file=$order" -Xlinker --no-warn-symbol-ordering)
products=(insitu insitu-wasm-runner insitu-sql-runner)
build() {
  for product in "${products[@]}"; do
    swift build "${flags[@]}" --product "$product"
  done
}
bin=$(swift build "${flags[@]}" --show-bin-path)
# SwiftPM does not track the ordering file, so a link in a new order is asked for by removing the
# executable.
if [ "$profile" = 0 ] && [ -s "$order" ]; then
  : >"$order"
  rm -f "$bin/insitu"
fi
build
if [ "$profile" != 0 ]; then
  scripts/profile-layout.sh "$bin/insitu" "$order.new"
  mv "$order.new" "$order"
  rm -f "$bin/insitu"
  swift build "${flags[@]}" --product insitu
fi
mkdir -p "$out"
for product in "${products[@]}"; do
  cp "$bin/$product" "$out/$product"
  strip --strip-debug "$out/$product"
done
echo "built into $out:"
for product in "${products[@]}"; do
  printf '  %-20s %6s MB, needs: %s\n' "$product" "$(( $(stat -c %s "$out/$product") / 1048576 ))" \
    "$(ldd "$out/$product" | awk '/=>/{print $1} !/=>/{print $1}' | grep -v '^linux-vdso' | xargs)"
done
if ldd "$out/insitu" | grep -qE 'libswiftCore|libFoundation'; then
  echo "build-static: $out/insitu still loads the Swift runtime or Foundation dynamically" >&2
  exit 1
fi

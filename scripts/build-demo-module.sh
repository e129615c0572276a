#!/bin/sh
# Rebuilds examples/count-conditions/count_conditions.wasm from count_conditions.c.
#
# Needs Debian's wasi-libc and the wasm32 compiler-rt builtins:
#   apt-get install -y wasi-libc libclang-rt-16-dev-wasm32
# and a clang with the WebAssembly target (the Swift toolchain's own clang works; override with CC=).
# The output is reproducible for a given toolchain: no debug info, no build paths, no timestamps.
# The .wasm is committed: CI does not rebuild it.
set -eu
cd "$(dirname "$0")/../examples/count-conditions"
CC="${CC:-clang}"
BUILTINS="${BUILTINS:-/usr/lib/llvm-16/lib/clang/16/lib/wasi/libclang_rt.builtins-wasm32.a}"
[ -f "$BUILTINS" ] || { echo "missing $BUILTINS: apt-get install -y libclang-rt-16-dev-wasm32" >&2; exit 1; }
[ -f /usr/lib/wasm32-wasi/libc.a ] || { echo "missing wasi-libc: apt-get install -y wasi-libc" >&2; exit 1; }
# wasm32-wasi (not wasm32-wasip1): Debian's sysroot is laid out for that triple.
"$CC" --target=wasm32-wasi --sysroot=/usr -O2 -g0 -nodefaultlibs \
    -ffile-prefix-map="$PWD"=. -Wl,--strip-all \
    -o count_conditions.wasm count_conditions.c -lc "$BUILTINS"
sha256sum count_conditions.wasm

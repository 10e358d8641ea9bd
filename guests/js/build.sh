#!/usr/bin/env bash
# Build the wasmjobs JS guest (QuickJS-NG + guests/js/main.c) as a WASI
# preview-1 reactor module, from the QuickJS-NG sources that the crate
# registry package rquickjs-sys bundles (pinned in source/Cargo.lock).
#
#   guests/js/build.sh [OUT_FILE]      (default: guests/js/out/wasmjobs-js.wasm)
#
# Needs Debian's clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32 (scripts/setup
# installs them). Results are cached outside the clone, keyed by the hash of every
# input (this script, main.c, the pinned source's lock file, the compiler's version):
#   ${WASMJOBS_CACHE_DIR:-$XDG_CACHE_HOME/wasmjobs}/guests/js/<key>/wasmjobs-js.wasm
# Nothing is downloaded but the pinned crate, by name, from the crate registry.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${1:-$HERE/out/wasmjobs-js.wasm}"
CC="${WASMJOBS_CLANG:-clang-19}"
CACHE_ROOT="${WASMJOBS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmjobs}"

missing=()
command -v "$CC" >/dev/null || missing+=(clang-19)
command -v wasm-ld-19 >/dev/null || command -v wasm-ld >/dev/null || missing+=(lld-19)
[ -f /usr/include/wasm32-wasi/stdio.h ] || missing+=(wasi-libc)
ls /usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 || missing+=(libclang-rt-19-dev-wasm32)
if [ ${#missing[@]} -gt 0 ]; then
  echo "guests/js/build.sh: missing build tools; install them with: apt-get install ${missing[*]}" >&2
  exit 1
fi

key="$( { cat "$HERE/build.sh" "$HERE/main.c" "$HERE/node/prelude.js" "$HERE/node/net.js" "$HERE/source/Cargo.lock"; "$CC" --version | head -1; } | sha256sum | cut -c1-16)"
CACHED="$CACHE_ROOT/guests/js/$key/wasmjobs-js.wasm"

if [ ! -f "$CACHED" ]; then
  # The pinned source, through cargo (the crate registry) only.
  cargo fetch --locked --manifest-path "$HERE/source/Cargo.toml" >&2
  VER="$(grep -A1 '^name = "rquickjs-sys"' "$HERE/source/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p')"
  SRC="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"rquickjs-sys-$VER"/quickjs 2>/dev/null | head -1)"
  [ -f "$SRC/quickjs.h" ] || { echo "guests/js/build.sh: QuickJS source not found at $SRC" >&2; exit 1; }
  echo "building the JS guest from $SRC (QuickJS-NG $(grep -E 'define QJS_VERSION_(MAJOR|MINOR|PATCH)' "$SRC/quickjs.h" | awk '{print $3}' | paste -sd.))" >&2

  WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
  CFLAGS=(--target=wasm32-wasi -O2 -g0 -funsigned-char -D_GNU_SOURCE
          -D_WASI_EMULATED_PROCESS_CLOCKS -D_WASI_EMULATED_SIGNAL
          -Wno-implicit-fallthrough -Wno-sign-compare -Wno-unused-parameter
          -Wno-unused-but-set-variable -Wno-c23-extensions -I"$SRC" --embed-dir="$HERE")
  objs=()
  for f in "$SRC/dtoa.c" "$SRC/libregexp.c" "$SRC/libunicode.c" "$SRC/quickjs.c" "$SRC/quickjs-libc.c" "$HERE/main.c"; do
    o="$WORK/$(basename "${f%.c}").o"
    "$CC" "${CFLAGS[@]}" -c "$f" -o "$o" &
    objs+=("$o")
  done
  wait
  for o in "${objs[@]}"; do [ -f "$o" ] || { echo "guests/js/build.sh: compile failed" >&2; exit 1; }; done
  # 8 MiB shadow stack placed first, so that an overflow traps instead of
  # corrupting the heap.
  # A reactor: wasmjobs pre-initialises it (wizer-initialize) and calls
  # wasmjobs-run on each run's fresh instance of the result.
  "$CC" --target=wasm32-wasi -mexec-model=reactor -O2 -o "$WORK/wasmjobs-js.wasm" "${objs[@]}" \
    -Wl,--stack-first -Wl,-z,stack-size=8388608 -Wl,--strip-debug \
    -lwasi-emulated-process-clocks -lwasi-emulated-signal -lm
  mkdir -p "$(dirname "$CACHED")"
  mv "$WORK/wasmjobs-js.wasm" "$CACHED.tmp.$$" && mv "$CACHED.tmp.$$" "$CACHED"
fi

mkdir -p "$(dirname "$OUT")"
cp "$CACHED" "$OUT.tmp.$$" && mv "$OUT.tmp.$$" "$OUT"
echo "$OUT"

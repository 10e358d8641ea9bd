#!/usr/bin/env bash
# Installs what building wasmjobs needs on a fresh Debian machine: the
# C toolchain for the WebAssembly guests (Debian's clang-19, lld-19, llvm-19,
# wasi-libc, compiler-rt for wasm32), what building CPython needs (a native
# C compiler and make, tcl for SQLite's amalgamation, xz and bzip2 to unpack
# sources), the interpreters native jobs run with (php-cli, a JDK, python3)
# and the Rust target pinned in rust-toolchain.toml.
# With --test, also what the tests need: Chromium and chromedriver (the
# dashboard is tested in a real browser), curl (WebJobs' client flow, and
# native jobs' network) and openssl (the network tests' TLS server).
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
for_tests=0
[ "${1:-}" = "--test" ] && for_tests=1

need=()
for p in clang-19 lld-19 llvm-19 wasi-libc libclang-rt-19-dev-wasm32 build-essential tcl xz-utils bzip2; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
# Native jobs and their tests: php-cli and a JDK (the escape battery builds
# a jar), python3 and node for native .py and .js runs. Checked by binary:
# a host may have them from elsewhere.
command -v php >/dev/null 2>&1 || need+=(php-cli)
{ command -v javac && command -v jar; } >/dev/null 2>&1 || need+=(default-jdk-headless)
[ -x /usr/bin/python3 ] || need+=(python3)
command -v node >/dev/null 2>&1 || need+=(nodejs)
if [ "$for_tests" = 1 ]; then
  [ -x /usr/bin/chromium ] || need+=(chromium)
  [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
  [ -x /usr/bin/curl ] || need+=(curl)
  # The network tests make a TLS server their own CA signed, and run PHP's
  # curl.
  command -v openssl >/dev/null 2>&1 || need+=(openssl)
  php -m 2>/dev/null | grep -qx curl || need+=(php-curl)
  # The cluster tests start a throw-away PostgreSQL server (scripts/pg.sh).
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
fi
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  rustup target add wasm32-wasip1 >&2 || echo "setup: warning: could not add the wasm32-wasip1 Rust target (not needed to build the guests)" >&2
fi

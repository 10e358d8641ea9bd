#!/usr/bin/env bash
# The test command: installs what is missing (Chromium for the dashboard
# test and PostgreSQL for the cluster tests included), builds everything
# (the JS and Python guests included, cached by input hash), checks
# formatting and lints, and runs the unit and integration tests against the
# real binary, guests, browser and a throw-away PostgreSQL server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
# Tests that need a tool (Chromium, curl) must run, not skip, here.
export WASMJOBS_TEST_STRICT=1
. scripts/env.sh
# Hosts use the guest just built, whatever is installed (install-guests).
WASMJOBS_PYTHON_GUEST="$(guests/python/build.sh)"
export WASMJOBS_PYTHON_GUEST
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
# Compile and pre-initialise the guests once, before tests run in parallel.
cargo run --locked --quiet -- --root "$(mktemp -d)" prepare
log="$(mktemp)"
# A throw-away PostgreSQL server on a loopback port for the cluster tests,
# stopped and deleted when the tests end.
pg_dir="$(mktemp -d /tmp/wasmjobs-pg.XXXXXX)"
trap 'scripts/pg.sh stop "$pg_dir"; rm -f "$log"' EXIT
pg_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
WASMJOBS_TEST_DATABASE_URL="$(scripts/pg.sh start "$pg_dir" "$pg_port")"
export WASMJOBS_TEST_DATABASE_URL
# Every test binary runs even after one fails, so one run names all failures.
cargo test --locked --no-fail-fast --lib --bins --tests 2>&1 | tee "$log"
# One closing line for the whole suite.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f; exit (f > 0 || p == 0) }' "$log"

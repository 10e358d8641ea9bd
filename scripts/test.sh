#!/usr/bin/env bash
# The test command: installs what is missing, builds everything (the JS
# guest included, cached by input hash), checks formatting and lints, and
# runs the unit and integration tests against the real binary and guest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked

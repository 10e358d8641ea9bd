# Sourced by the scripts: keeps build artifacts and caches outside the clone,
# so that a fresh clone on the same machine reuses them (cargo's own
# fingerprints and the guest build's input hashes decide what is stale).
WASMJOBS_CACHE_DIR="${WASMJOBS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmjobs}"
export WASMJOBS_CACHE_DIR
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$WASMJOBS_CACHE_DIR/target}"

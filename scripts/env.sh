# Sourced by the scripts: keeps build artifacts and caches outside the clone,
# so that a fresh clone on the same machine reuses them (cargo's own
# fingerprints and the guest build's input hashes decide what is stale).
# (HOME from the password database when the environment has none.)
if [ -z "${HOME:-}" ]; then HOME="$(getent passwd "$(id -u)" | cut -d: -f6)"; export HOME; fi
WASMJOBS_CACHE_DIR="${WASMJOBS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmjobs}"
export WASMJOBS_CACHE_DIR
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$WASMJOBS_CACHE_DIR/target}"

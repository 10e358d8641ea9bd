#!/usr/bin/env bash
# The main command: builds wasmjobs, deploys the example jobs in examples/
# (one of every supported type: JavaScript and Python in WebAssembly; bash,
# PHP, a Java .jar and a native executable in the native sandbox) for the
# tenant `default`, runs the triggered ones once, then serves them — the
# REST API and the dashboard on http://127.0.0.1:8080/, `backup` on its
# schedule, `ticker` kept running — until Ctrl-C. The dashboard's sign-in
# secret is printed (a fresh one on every start).
#   DEMO_ROOT=/some/dir DEMO_LISTEN=127.0.0.1:9090 scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
# Hosts use the guest just built, whatever is installed (install-guests).
WASMJOBS_PYTHON_GUEST="$(guests/python/build.sh)"
export WASMJOBS_PYTHON_GUEST
cargo build --locked --bin wasmjobs
W="$CARGO_TARGET_DIR/debug/wasmjobs"
export WASMJOBS_ROOT="${DEMO_ROOT:-${XDG_DATA_HOME:-$HOME/.local/share}/wasmjobs-demo}"
LISTEN="${DEMO_LISTEN:-127.0.0.1:8080}"
echo "== data root: $WASMJOBS_ROOT"
echo "== wasmjobs prepare   (compiles and pre-initialises the guests once per host)"
"$W" prepare

# The tenant the examples belong to, with a secret shown now.
if "$W" tenant list | grep -q '^default '; then
  secret="$("$W" tenant rotate default 2>/dev/null)"
else
  secret="$("$W" tenant add default 2>/dev/null)"
fi
export WASMJOBS_TENANT=default

# Examples with a build.sh (the .jar, the executable) are built first.
built="$CARGO_TARGET_DIR/examples"
for job in examples/*/; do
  name="$(basename "$job")"
  src="$job"
  if [ -x "$job/build.sh" ]; then
    rm -rf "${built:?}/$name"
    "$job/build.sh" "$built/$name"
    src="$built/$name"
  fi
  type=triggered
  [ "$name" = ticker ] && type=continuous
  "$W" deploy "$src" --name "$name" --type "$type"
done

for run in "hello -- alpha beta" "report" "wordcount" "invoice" "inventory -- north:5 west:2" "checksum"; do
  echo; echo "== wasmjobs run $run"
  # shellcheck disable=SC2086
  "$W" run $run
done
echo; echo "== wasmjobs run runaway   (stopped by its 2 s time limit)"
"$W" run runaway || true
echo; echo "== wasmjobs list"
"$W" list
unset WASMJOBS_TENANT

echo
echo "== wasmjobs serve   (backup every 15 s, ticker kept running; Ctrl-C stops)"
echo "   dashboard: http://$LISTEN/dashboard/   tenant: default   secret: $secret"
echo "   REST API:  curl -u default:$secret http://$LISTEN/api/webjobs"
exec "$W" serve --listen "$LISTEN"

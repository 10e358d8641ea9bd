#!/usr/bin/env bash
# The main command: builds wasmjobs, deploys the example jobs in examples/
# into a demo data root, runs the triggered ones once, shows the jobs and
# their history, then serves them: `backup` on its schedule, `ticker` kept
# running, until Ctrl-C.
#   DEMO_ROOT=/some/dir scripts/demo.sh   (default: ~/.local/share/wasmjobs-demo)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
guests/python/build.sh >/dev/null
cargo build --locked --bin wasmjobs
W="$CARGO_TARGET_DIR/debug/wasmjobs"
export WASMJOBS_ROOT="${DEMO_ROOT:-${XDG_DATA_HOME:-$HOME/.local/share}/wasmjobs-demo}"
echo "== data root: $WASMJOBS_ROOT"
echo "== wasmjobs prepare   (compiles and pre-initialises the guests once per host)"
"$W" prepare
for job in examples/*/; do
  name="$(basename "$job")"
  type=triggered
  [ "$name" = ticker ] && type=continuous
  "$W" deploy "$job" --name "$name" --type "$type"
done
echo; echo "== wasmjobs run hello -- alpha beta"
"$W" run hello -- alpha beta
echo; echo "== wasmjobs run report"
"$W" run report
echo; echo "== wasmjobs run wordcount   (Python, CPython 3.13 in WebAssembly)"
"$W" run wordcount
echo; echo "== wasmjobs run runaway   (stopped by its 2 s time limit)"
"$W" run runaway || true
echo; echo "== wasmjobs list"
"$W" list
echo; echo "== wasmjobs history report"
"$W" history report
echo; echo "== wasmjobs logs runaway"
"$W" logs runaway
echo; echo "== wasmjobs run backup   (bash in the native sandbox)"
"$W" run backup
echo; echo "== wasmjobs doctor"
"$W" doctor
echo; echo "== wasmjobs serve   (backup every 15 s, ticker kept running; Ctrl-C stops)"
echo "   logs: $WASMJOBS_ROOT/data/jobs/triggered/backup/job_scheduler.log"
echo "         $WASMJOBS_ROOT/data/jobs/continuous/ticker/job_log.txt"
exec "$W" serve

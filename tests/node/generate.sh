#!/usr/bin/env bash
# Records what Node gives for every case in cases/: for each, a copy of the
# case folder is run as WebJobs runs a script (its own folder as the
# working directory) with `node run.js alpha beta` and CASE_VAR set, and
# its stdout, stderr and exit status are written to expected/<case>.*.
# tests/node_compat.rs runs the same cases inside the wasm guest and
# compares. Run again after changing a case; commit what it writes.
#   tests/node/generate.sh [CASE ...]
set -euo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null || { echo "generate.sh: node is needed (apt-get install nodejs)" >&2; exit 1; }
echo "recording with node $(node --version)" >&2
mkdir -p expected
cases=("$@")
[ ${#cases[@]} -eq 0 ] && cases=($(ls cases))
for c in "${cases[@]}"; do
  work="$(mktemp -d)"
  cp -r "cases/$c/." "$work/"
  set +e
  (cd "$work" && env -i PATH=/usr/bin:/bin HOME="$work" CASE_VAR=corpus-value node run.js alpha beta \
     > "$OLDPWD/expected/$c.stdout" 2> "$OLDPWD/expected/$c.stderr")
  echo $? > "expected/$c.status"
  set -e
  rm -rf "$work"
  echo "$c: status $(cat "expected/$c.status")" >&2
done

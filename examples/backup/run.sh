#!/bin/bash
# A native job (bash in the sandbox), run every 15 seconds by `wasmjobs serve`:
# keeps the last five snapshots of its working copy in its data folder.
set -eu
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$WEBJOBS_DATA_PATH/snapshots"
tar -czf "$WEBJOBS_DATA_PATH/snapshots/$stamp.tar.gz" -C "$WEBJOBS_PATH" .
ls -1t "$WEBJOBS_DATA_PATH/snapshots" | tail -n +6 | while read -r old; do
  rm -f "$WEBJOBS_DATA_PATH/snapshots/$old"
done
echo "snapshot $stamp taken as uid $(id -u) in $(hostname); kept: $(ls "$WEBJOBS_DATA_PATH/snapshots" | wc -l)"

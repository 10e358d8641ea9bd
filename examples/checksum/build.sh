#!/usr/bin/env bash
# Builds the job's bundle (checksum.exe, an ELF for this machine) into the
# folder given.
set -euo pipefail
out="$1"
src="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out"
cc -O2 -o "$out/checksum.exe" "$src/checksum.c"

#!/usr/bin/env bash
# Builds the job's bundle (inventory.jar) into the folder given.
set -euo pipefail
out="$1"
src="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
javac -d "$tmp" "$src/Inventory.java"
printf 'Main-Class: Inventory\n' > "$tmp/manifest.txt"
mkdir -p "$out"
(cd "$tmp" && jar cfm "$out/inventory.jar" manifest.txt Inventory.class)

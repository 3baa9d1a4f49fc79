#!/usr/bin/env bash
# Regenerates tests/Serving.Workers.Tests/Templates/reference-renders.json with @huggingface/jinja under node.
# Usage: scripts/jinja-reference.sh [DIR]   (DIR: also write every reference render there as text, for diffs)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/hf-jinja"
version=0.5.11
if [ ! -f "$cache/package/dist/index.js" ]; then
  mkdir -p "$cache"
  (cd "$cache" && npm pack --silent "@huggingface/jinja@$version" >/dev/null && tar xzf "huggingface-jinja-$version.tgz")
fi
TZ=UTC LANG=en_US.UTF-8 node "$root/scripts/jinja-reference.mjs" "$cache/package/dist/index.js" \
  "$root/tests/Serving.Workers.Tests/Templates" "${1:-}"

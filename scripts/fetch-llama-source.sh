#!/usr/bin/env bash
# Unpacks llama.cpp's source into .peer/llama.cpp: the same release as the prebuilt libraries the worker loads, shipped
# as a git bundle inside the npm package node-llama-cpp@3.22.1. Gives the real tokenizers (models/ggml-vocab-*.gguf)
# and chat templates (models/templates) for generated models, and the source scripts/build-peer.sh builds. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peer="$root/.peer"
say() { printf '[fetch-llama-source] %s\n' "$*" >&2; }

if [ -d "$peer/llama.cpp/.git" ]; then
  exit 0
fi

missing=()
for tool in git npm; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=(); for t in "${missing[@]}"; do case "$t" in npm) pkgs+=(nodejs npm);; *) pkgs+=("$t");; esac; done
  say "installing ${pkgs[*]} with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

mkdir -p "$peer"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
say "fetching node-llama-cpp@3.22.1 (llama.cpp source bundle)"
(cd "$tmp" && npm pack --silent node-llama-cpp@3.22.1 >/dev/null && tar xzf node-llama-cpp-3.22.1.tgz)
git clone -q "$tmp/package/llama/gitRelease.bundle" "$tmp/llama.cpp"
cp "$tmp/package/llama/llama.cpp.info.json" "$peer/llama.cpp.info.json" 2>/dev/null || true
mv "$tmp/llama.cpp" "$peer/llama.cpp"
say "llama.cpp source in $peer/llama.cpp"

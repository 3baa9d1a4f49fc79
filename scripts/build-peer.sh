#!/usr/bin/env bash
# Builds llama.cpp's own llama-server, llama-bench and llama-batched-bench (the peer every performance claim is
# measured against) into .peer/, from the same llama.cpp release as the prebuilt libraries the worker loads: the source
# ships as a git bundle inside the npm package node-llama-cpp@3.22.1. CPU only, native (-march=native). Its shared
# libraries are linked into .peer/native, which the worker then loads instead of the prebuilt ones, so both servers
# run the same engine build. About 8 minutes on 2 cores; idempotent. Never part of ./test.sh or CI.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peer="$root/.peer"
say() { printf '[build-peer] %s\n' "$*" >&2; }

link_native() {
  # The same libraries under the names the worker loads: the worker prefers .peer/native to the prebuilt ones.
  mkdir -p "$peer/native"
  ln -sf ../bin/libggml-base.so "$peer/native/libggml-base.so"
  ln -sf ../bin/libggml.so "$peer/native/libggml.v0.5.0.so"
  ln -sf ../bin/libllama.so "$peer/native/libllama.v0.5.0.so"
}

targets=(llama-server llama-bench llama-batched-bench)
if [ -x "$peer/bin/llama-server" ] && [ -x "$peer/bin/llama-bench" ] && [ -x "$peer/bin/llama-batched-bench" ]; then
  link_native
  say "already built: $peer/bin/{llama-server,llama-bench,llama-batched-bench}; worker libraries in $peer/native"
  exit 0
fi

missing=()
for tool in cmake g++; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=(); for t in "${missing[@]}"; do case "$t" in g++) pkgs+=(g++);; *) pkgs+=("$t");; esac; done
  say "installing ${pkgs[*]} with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

"$root/scripts/fetch-llama-source.sh"

log="$peer/build.log"
fail() { say "failed; the last lines of $log:"; tail -n 30 "$log" >&2; exit 1; }
say "configuring (CPU, native)"
cmake -S "$peer/llama.cpp" -B "$peer/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=ON >"$log" 2>&1 || fail
say "building ${targets[*]} (about 8 minutes on 2 cores; output in $log)"
cmake --build "$peer/build" --target "${targets[@]}" -j"$(nproc)" >>"$log" 2>&1 || fail
mkdir -p "$peer/bin"
cp -a "$peer/build/bin/." "$peer/bin/"
link_native
say "built: $peer/bin/{llama-server,llama-bench,llama-batched-bench}; worker libraries in $peer/native"

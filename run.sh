#!/usr/bin/env bash
# Sets up what is missing, then runs the gateway with its workers on 127.0.0.1:8080.
#   ./run.sh                         serve the generated default model: random weights (~190M params) around Qwen2.5's
#                                    real tokenizer and chat template, so prompts and token counts are a real model's
#   ./run.sh --model path/to.gguf    serve any real GGUF model
#   ./run.sh --workers 2             number of worker processes (default 1)
#   ./run.sh --prebuilt              skip building llama.cpp for this CPU (quick start, about half the engine speed)
# Any other arguments go to the gateway (for example --Gateway:ApiKeys:0=secret).
set -euo pipefail
root="$(cd "$(dirname "$0")" && pwd)"

model=""
prebuilt=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --model=*) model="${1#--model=}"; shift ;;
    --prebuilt) prebuilt=1; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

"$root/scripts/setup.sh" Release
# llama.cpp built for this CPU (once, about 8 minutes on 2 cores): the worker loads it instead of the prebuilt
# generic libraries, which run prefill at about half its speed here. A failed build only costs speed.
if [ "$prebuilt" -eq 0 ]; then
  "$root/scripts/build-peer.sh" || echo "[run] building llama.cpp failed; serving with the prebuilt libraries" >&2
fi

workers_dll="$root/artifacts/bin/Serving.Workers/release/Serving.Workers.dll"
if [ -z "$model" ]; then
  # Qwen2.5's tokenizer and template come from llama.cpp's source (fetched once); without it, our own small vocabulary.
  model="$root/.models/base125m-qwen2.gguf"
  if [ ! -f "$model" ]; then
    if "$root/scripts/fetch-llama-source.sh"; then
      dotnet "$workers_dll" model --kind base125m --vocab qwen2 --out "$model"
    else
      echo "[run] could not fetch llama.cpp's source; serving a model with our own small vocabulary" >&2
      model="$root/.models/base125m.gguf"
      [ -f "$model" ] || dotnet "$workers_dll" model --kind base125m --out "$model"
    fi
  fi
fi

exec dotnet "$root/artifacts/bin/Serving.Gateway/release/Serving.Gateway.dll" \
  --urls http://127.0.0.1:8080 --model "$model" --worker-path "$workers_dll" "${args[@]}"

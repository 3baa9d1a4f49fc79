#!/usr/bin/env bash
# Sets up what is missing, then runs the gateway with its workers on 127.0.0.1:8080.
#   ./run.sh                         serve the generated default model (random weights, ~125M params)
#   ./run.sh --model path/to.gguf    serve any real GGUF model
#   ./run.sh --workers 2             number of worker processes (default 1)
# Any other arguments go to the gateway (for example --Gateway:ApiKeys:0=secret).
set -euo pipefail
root="$(cd "$(dirname "$0")" && pwd)"
"$root/scripts/setup.sh" Release

model=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --model=*) model="${1#--model=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

workers_dll="$root/artifacts/bin/Serving.Workers/release/Serving.Workers.dll"
if [ -z "$model" ]; then
  model="$root/.models/base125m.gguf"
  [ -f "$model" ] || dotnet "$workers_dll" model --kind base125m --out "$model"
fi

exec dotnet "$root/artifacts/bin/Serving.Gateway/release/Serving.Gateway.dll" \
  --urls http://127.0.0.1:8080 --model "$model" --worker-path "$workers_dll" "${args[@]}"

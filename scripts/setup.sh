#!/usr/bin/env bash
# Installs what a fresh machine lacks and builds the solution. Idempotent: a second run only checks.
#   scripts/setup.sh [Debug|Release]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
config="${1:-Release}"
native_dir="$root/.native/linux-x64"
native_pkg="@node-llama-cpp/linux-x64@3.22.1"

say() { printf '[setup] %s\n' "$*" >&2; }

if ! command -v dotnet >/dev/null 2>&1; then
  say "error: the .NET 10 SDK (dotnet) is not on PATH; install it first."
  exit 1
fi

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then say "error: need root to apt-get install $*"; exit 1; fi
  say "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The prebuilt llama.cpp libraries ship inside an npm package; we unpack only the .so files we load.
if [ ! -f "$native_dir/libllama.v0.5.0.so" ]; then
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  tmp="$(mktemp -d)"
  say "fetching $native_pkg"
  (cd "$tmp" && npm pack --silent "$native_pkg" >/dev/null)
  mkdir -p "$tmp/x" "$native_dir"
  tar xzf "$tmp"/*.tgz -C "$tmp/x"
  cp "$tmp"/x/package/bins/linux-x64/libggml*.so "$tmp"/x/package/bins/linux-x64/libllama.v0.5.0.so "$native_dir/"
  rm -rf "$tmp"
  say "native libraries in $native_dir"
fi

say "building ($config)"
dotnet build "$root/Serving.sln" -c "$config" -nologo -clp:ErrorsOnly -v:q

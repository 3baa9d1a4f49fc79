#!/usr/bin/env bash
# Sets up what is missing and runs every test project; ends with "N passed, N failed".
set -uo pipefail
root="$(cd "$(dirname "$0")" && pwd)"
"$root/scripts/setup.sh" Debug || { echo "0 passed, 1 failed"; exit 1; }

passed=0; failed=0; status=0
log="$(mktemp)"
for project in "$root"/tests/*/*.csproj; do
  name="$(basename "$project" .csproj)"
  echo "=== $name"
  dotnet test "$project" --no-build -c Debug -nologo 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  # VSTest's summary: "Passed!  - Failed:     0, Passed:    12, Skipped:     0, Total:    12, ..."
  summary="$(grep -E '(Passed|Failed)! +- Failed: +[0-9]+, Passed: +[0-9]+' "$log" | tail -n 1)"
  if [ -z "$summary" ]; then
    echo "no test summary from $name (exit $rc): counting it as one failure"
    failed=$((failed + 1)); status=1; continue
  fi
  f="$(sed -E 's/.*Failed: +([0-9]+).*/\1/' <<<"$summary")"
  p="$(sed -E 's/.*Passed: +([0-9]+).*/\1/' <<<"$summary")"
  passed=$((passed + p)); failed=$((failed + f))
  [ "$rc" -eq 0 ] || status=1
done
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && exit "$status" || exit 1

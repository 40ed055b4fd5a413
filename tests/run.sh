#!/usr/bin/env bash
# Runs the unit tests and every command-line test script, then prints one
# line "N passed, N failed" summing them all.  BUILD selects the build
# folder (build or build-san).  Extra arguments filter unit tests by name.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export PERSONA="$PWD/$BUILD/persona"
pass=0; fail=0

count() { # parses the last "N passed, N failed" line of a log
  local line
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
  if [ -z "$line" ]; then fail=$((fail + 1)); return; fi
  pass=$((pass + $(echo "$line" | awk '{print $1}')))
  fail=$((fail + $(echo "$line" | awk '{print $3}')))
}

log=$(mktemp)
echo "== unit tests ($BUILD)"
"$BUILD/test_unit" "$@" 2>&1 | tee "$log" | grep -v '^ok ' 
count "$log"

for t in tests/cli/t[0-9]*.sh; do
  [ -e "$t" ] || continue
  echo "== $t"
  bash "$t" >"$log" 2>&1
  grep -vE '^ok ' "$log"
  count "$log"
done
rm -f "$log"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

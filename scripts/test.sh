#!/usr/bin/env bash
# The whole test suite, as README and CI run it:
#   1. install Debian dependencies (idempotent),
#   2. optimised build with -Werror, unit + command-line tests,
#   3. the same suite under AddressSanitizer + UndefinedBehaviorSanitizer,
#   4. every fuzz target for a bounded time (FUZZ_SECONDS, default 20).
# Ends with one line "N passed, N failed" summing every stage.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh || { echo "dependency install failed"; echo "0 passed, 1 failed"; exit 1; }

jobs=$(nproc 2>/dev/null || echo 2)
pass=0; fail=0
tally() { # add the last "N passed, N failed" line of a log
  local line; line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
  if [ -z "$line" ]; then fail=$((fail + 1)); return; fi
  pass=$((pass + $(awk '{print $1}' <<<"$line"))); fail=$((fail + $(awk '{print $3}' <<<"$line")))
}
log=$(mktemp)

echo "=== build (gcc, -Werror)"
if make -j"$jobs" WERROR=1 build/persona build/test_unit >"$log" 2>&1; then
  echo "=== tests"
  make --no-print-directory test 2>&1 | tee "$log"; tally "$log"
else
  cat "$log"; fail=$((fail + 1))
fi

echo "=== build (clang, -Werror)"
if make -j"$jobs" CLANG=1 WERROR=1 build-clang/persona build-clang/test_unit >"$log" 2>&1; then
  echo "ok   clang build"; pass=$((pass + 1))
else
  cat "$log"; echo "FAIL clang build"; fail=$((fail + 1))
fi

echo "=== build (ASan + UBSan)"
if make -j"$jobs" SAN=1 WERROR=1 build-san/persona build-san/test_unit >"$log" 2>&1; then
  echo "=== tests under sanitizers"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    make --no-print-directory SAN=1 test 2>&1 | tee "$log"; tally "$log"
else
  cat "$log"; fail=$((fail + 1))
fi

if ls fuzz/fuzz_*.c >/dev/null 2>&1; then
  echo "=== fuzzing (${FUZZ_SECONDS:-20}s per target)"
  make --no-print-directory -j"$jobs" fuzz >"$log" 2>&1 || { cat "$log"; fail=$((fail + 1)); }
  for t in fuzz/fuzz_*.c; do
    n=$(basename "$t" .c)
    if make --no-print-directory fuzz-run FUZZ_TARGETS="build-fuzz/$n" FUZZ_SECONDS="${FUZZ_SECONDS:-20}" >"$log" 2>&1; then
      echo "ok   fuzz $n"; pass=$((pass + 1))
    else
      echo "FAIL fuzz $n"; tail -40 "$log"; fail=$((fail + 1))
    fi
  done
fi
rm -f "$log"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

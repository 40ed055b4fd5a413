# lib.sh - helpers for command-line tests (git's t/test-lib.sh, smaller).
# Source it; use `expect_ok DESC CMD...`, `expect_fail CODE DESC CMD...`,
# `expect_grep DESC PATTERN FILE`; call `done_testing` last.
set -u
PERSONA=${PERSONA:-build/persona}
SHARED=${PERSONA_SHARED:-../shared}
T_PASS=0; T_FAIL=0
TMP=$(mktemp -d /tmp/persona-cli-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

ok()   { T_PASS=$((T_PASS + 1)); echo "ok   $1"; }
bad()  { T_FAIL=$((T_FAIL + 1)); echo "FAIL $1"; }

# expect_ok DESC CMD... : the command exits 0 (its output goes to $TMP/out, $TMP/err)
expect_ok() {
  local desc=$1; shift
  if "$@" >"$TMP/out" 2>"$TMP/err"; then ok "$desc"
  else bad "$desc (exit $?)"; sed 's/^/    /' "$TMP/err" | head -20; fi
}
# expect_fail CODE DESC CMD... : the command exits with CODE
expect_fail() {
  local code=$1 desc=$2; shift 2
  "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
  if [ "$rc" -eq "$code" ]; then ok "$desc"
  else bad "$desc (exit $rc, expected $code)"; sed 's/^/    /' "$TMP/err" | head -20; fi
}
# expect_grep DESC PATTERN FILE : extended regex found in file
expect_grep() {
  if grep -qE -- "$2" "$3"; then ok "$1"; else bad "$1 (no /$2/ in $3)"; head -5 "$3" | sed 's/^/    /'; fi
}
# expect_eq DESC GOT WANT
expect_eq() {
  if [ "$2" = "$3" ]; then ok "$1"; else bad "$1 (got '$2', want '$3')"; fi
}
done_testing() { echo "$T_PASS passed, $T_FAIL failed"; [ "$T_FAIL" -eq 0 ]; }

#!/usr/bin/env bash
# The command shell itself: help, version, unknown commands and flags, and
# the umbrella header listing every public header.
. "$(dirname "$0")/lib.sh"

expect_ok "persona help lists commands" "$PERSONA" help
expect_grep "help names clean" '^  clean ' "$TMP/out"
expect_ok "persona --version" "$PERSONA" --version
expect_grep "version line" '^persona [0-9]+\.[0-9]+\.[0-9]+$' "$TMP/out"
expect_fail 2 "unknown command is a usage error" "$PERSONA" frobnicate
expect_grep "unknown command named" "'frobnicate' is not a persona command" "$TMP/err"
expect_fail 2 "no command is a usage error" "$PERSONA"

# Every registered command has a help page with a usage line, and rejects
# an unknown flag with exit 2.
for c in $("$PERSONA" help | awk '/^commands:/{f=1;next} f && /^  [a-z]/{print $1}'); do
  expect_ok "help $c" "$PERSONA" help "$c"
  expect_grep "help $c shows usage" 'usage:' "$TMP/out"
  [ "$c" = version ] && continue
  expect_fail 2 "$c rejects an unknown flag" "$PERSONA" "$c" --no-such-flag-xyz
done

# Seeds are full 64-bit values; one past 2^64 - 1 is refused, not clamped.
expect_fail 2 "seed 2^64 is a usage error" "$PERSONA" generate --model models/persona-small \
  --prompt x --seed 18446744073709551616
expect_grep "seed overflow named" "expects a non-negative integer below 2\^64" "$TMP/err"
expect_ok "seed 2^64-1 is accepted" "$PERSONA" generate --model models/persona-small \
  --prompt x --max-new 1 --seed 18446744073709551615

# persona.h includes every public header.
for h in include/persona/*.h; do
  b=$(basename "$h"); [ "$b" = persona.h ] && continue
  if grep -q "#include \"persona/$b\"" include/persona/persona.h; then ok "persona.h includes $b"
  else bad "persona.h does not include $b"; fi
done
done_testing

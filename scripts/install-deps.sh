#!/usr/bin/env bash
# Installs the Debian packages persona needs to build and test, idempotently.
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --bench  also the Python stack the benchmarks compare against
# Packages already present are skipped, so a second run costs nothing.
set -euo pipefail

pkgs=(build-essential pkg-config clang llvm
      libopenblas-dev libsqlite3-dev libjansson-dev libutf8proc-dev
      libsodium-dev libmicrohttpd-dev libfriso-dev friso-dict
      chromium)
if [ "${1:-}" = "--bench" ]; then
  pkgs+=(python3 python3-numpy python3-pandas python3-sklearn python3-torch
         python3-gensim python3-jieba python3-scipy python3-regex time libicu-dev nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

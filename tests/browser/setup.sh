#!/usr/bin/env bash
# What the browser test needs: Debian's chromium, node and npm, and playwright-core as pinned
# in package-lock.json (npm ci; the package downloads no browser). Run as root to install.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "browser test setup: missing ${need[*]}; run as root or: apt-get install ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cd "$here"
if [ ! -f node_modules/playwright-core/package.json ] ||
  ! cmp -s package-lock.json node_modules/.package-lock.json 2>/dev/null; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund >/dev/null
fi

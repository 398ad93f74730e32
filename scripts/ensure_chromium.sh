#!/usr/bin/env bash
# Make headless Chromium available for the report's browser test (tests/report/test_browser.py).
# Installs Debian's `chromium` package when no Chromium is on PATH and we are root; otherwise it
# only says why not, and the browser test skips with that reason. Safe to run repeatedly.
set -uo pipefail

for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then
        exit 0
    fi
done
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure_chromium: chromium is not installed and this is not root; run 'sudo apt-get install -y chromium'" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: chromium is not installed and apt-get is not available" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } >/tmp/ensure_chromium.log 2>&1; then
    echo "ensure_chromium: 'apt-get install chromium' failed; last lines of /tmp/ensure_chromium.log:" >&2
    tail -n 5 /tmp/ensure_chromium.log >&2
    exit 1
fi
command -v chromium >/dev/null 2>&1

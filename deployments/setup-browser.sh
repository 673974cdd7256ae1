#!/usr/bin/env bash
# The Prefect UI tests drive a real headless Chromium: Debian's chromium and chromium-driver (apt, as root).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  echo "setup: installing chromium chromium-driver with apt-get (for the Prefect UI tests)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
else
  echo "setup: the UI tests need Chromium. Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y chromium chromium-driver" >&2
  exit 1
fi

#!/usr/bin/env bash
# Installs what om-runbook needs on a Debian machine: redis-server/redis-tools (apt, as root) and a venv.
set -euo pipefail
venv="${1:-.venv}"

need_apt=()
for bin in redis-server redis-cli redis-check-rdb; do
  command -v "$bin" >/dev/null 2>&1 || need_apt=(redis-server redis-tools)
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing redis-server redis-tools with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
  else
    echo "setup: redis-server/redis-tools are missing. Run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y redis-server redis-tools" >&2
    exit 1
  fi
fi

python=""
for candidate in python3.13 python3.12 python3.11 python3.10 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    python="$candidate"; break
  fi
done
if [ -z "$python" ]; then
  echo "setup: Python 3.10 or newer is required (apt-get install -y python3 python3-venv)" >&2
  exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv with $python"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e '.[dev]'
# The embedded Prefect server's first start on a fresh PREFECT_HOME builds its database (about 25 s of a 35 s cold
# start measured here); built now, the first `om-runbook` command starts it in about 10 s, beside its own work.
echo "setup: building the Prefect database (once)"
"$venv/bin/prefect" server database upgrade -y >/dev/null
echo "setup: ready ($("$venv/bin/python" --version), $(redis-server --version | cut -d' ' -f3))"

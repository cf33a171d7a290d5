#!/usr/bin/env bash
# Installs moto's server mode into a virtualenv cached outside the repo, once.
#   setup-moto.sh   -> prints the venv's python path
set -euo pipefail
MOTO_VERSION="${NTH_MOTO_VERSION:-5.2.5}"
CACHE="${NTH_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nth-testbed}"
VENV="$CACHE/moto-$MOTO_VERSION"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import moto.server, flask_cors" 2>/dev/null; then
  printf '[testbed build] moto %s: installing into %s (about 3 minutes the first time)\n' "$MOTO_VERSION" "$VENV" >&2
  rm -rf "$VENV.tmp"
  python3 -m venv "$VENV.tmp"
  "$VENV.tmp/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
  rm -rf "$VENV" && mv "$VENV.tmp" "$VENV"
  # A venv records its own path in its scripts; the interpreter itself is relocatable, which is all we use.
fi
printf '%s\n' "$VENV/bin/python"

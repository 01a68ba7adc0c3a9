#!/usr/bin/env bash
# Install the outside MCP clients that tests/outside drives (docs/outside-checks.md): the MCP Inspector
# CLI, the official conformance suite and the Node 22 they need, all from the npm registry at the exact
# versions of package-lock.json (`npm ci`). Bounded, never prompts, safe with no stdin and CI=true.
#
#   scripts/outside-checks.sh          install only (what .ci/run calls before pytest)
#   scripts/outside-checks.sh --run    install, then run tests/outside
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    echo "outside-checks: npm is not installed; CI needs it for tests/outside" >&2
    exit 1
  fi
  echo "outside-checks: npm is not installed; tests/outside will be skipped" >&2
  exit 0
fi

echo "outside-checks: npm ci (package-lock.json)" >&2
timeout 600 npm ci --no-audit --no-fund --loglevel=error </dev/null

node_version="$(timeout 30 node_modules/.bin/node --version </dev/null)"
case "$node_version" in
  v22.*) echo "outside-checks: node $node_version installed in node_modules/.bin" >&2 ;;
  *) echo "outside-checks: node_modules/.bin/node is $node_version, expected v22.x" >&2; exit 1 ;;
esac

if [ "${1:-}" = "--run" ]; then
  exec python -m pytest tests/outside -q
fi

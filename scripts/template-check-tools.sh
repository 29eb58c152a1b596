#!/usr/bin/env bash
# The static checkers of the generated template (`npm run check:template`), pinned, installed once into
# .venv-checks (ignored by git): cfn-lint (the CloudFormation linter AWS maintains) and checkov (a security scanner
# for infrastructure code). Prints the venv's bin folder; a failed install is an error, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

CFN_LINT_VERSION=1.58.0
CHECKOV_VERSION=3.3.30
VENV=.venv-checks

say() { printf 'template-check-tools: %s\n' "$*" >&2; }

installed() {
  [ -x "$VENV/bin/python" ] &&
    [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("cfn-lint"), m.version("checkov"))' 2>/dev/null)" = "$CFN_LINT_VERSION $CHECKOV_VERSION" ]
}

# checkov 3.3 supports Python 3.9 to 3.12.
find_python() {
  for candidate in python3.12 "$HOME/.pyenv/versions/3.12.1/bin/python" python3.11 python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if (3, 9) <= sys.version_info[:2] <= (3, 12) else 1)' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  say "needs Python 3.9 to 3.12 for checkov $CHECKOV_VERSION; none found"
  return 1
}

if ! installed; then
  python="$(find_python)"
  say "installing cfn-lint $CFN_LINT_VERSION and checkov $CHECKOV_VERSION into $VENV with $("$python" --version)"
  rm -rf "$VENV"
  "$python" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION" "checkov==$CHECKOV_VERSION" >&2
  installed || { say "the install did not produce the pinned versions"; exit 1; }
fi
printf '%s\n' "$PWD/$VENV/bin"

#!/usr/bin/env bash
# LocalStack on the host, without Docker (issue "Tested against LocalStack").
#
#   npm run localstack:host -- start | stop | status | run <command…>
#
# `start` creates .venv-localstack (ignored by git) with a pinned localstack-core (any Python 3.12+), starts its S3,
# SSM and SQS on 127.0.0.1:4566 (loopback only) or the services LOCALSTACK_SERVICES names (`npm run test:deployed`
# adds what `osls deploy` needs: CloudFormation, Lambda without Docker, API Gateway, IAM, …), waits until
# the health endpoint reports S3 ready, and creates the bucket and the credentials parameter of `npm start` and
# `--stage local` (scripts/localstack-ready.ts). `stop` stops it by its own pid. `run`
# starts it, runs the command against it, and stops it whatever the command's outcome (exit code preserved).
set -euo pipefail
cd "$(dirname "$0")/.."

LOCALSTACK_VERSION=4.14.0 # the last release that starts without LOCALSTACK_AUTH_TOKEN
PORT="${LOCALSTACK_PORT:-4566}"
SERVICES="${LOCALSTACK_SERVICES:-s3,ssm,sqs}"
# LOCALSTACK_SERVICES=deploy: what `osls deploy` of this stack needs (`npm run test:deployed`): CloudFormation, and
# every service its template and osls's own flow touch (STS for the account, Logs for the log groups, CloudWatch
# for the alarms, SQS for the failure queue, SSM for the credentials).
if [ "$SERVICES" = deploy ]; then SERVICES=cloudformation,s3,lambda,apigateway,iam,sts,logs,cloudwatch,sqs,ssm; fi
VENV=.venv-localstack
STATE=.localstack
PIDFILE="$STATE/localstack.pid"
LOG="$STATE/localstack.log"
HEALTH="http://127.0.0.1:$PORT/_localstack/health"

say() { printf 'localstack:host: %s\n' "$*" >&2; }

# LocalStack 4.14's S3 provider uses Python 3.12 syntax; 3.11 fails at the first bucket operation. Any 3.12+ does:
# $PYTHON if set, then the usual names on PATH, then every version pyenv has installed (newest first), since pyenv's
# shims answer only for its selected version.
python_candidates() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; fi
  echo python3.14; echo python3.13; echo python3.12; echo python3; echo python
  if command -v pyenv >/dev/null 2>&1; then
    local root
    root="$(pyenv root 2>/dev/null)" || return 0
    pyenv versions --bare 2>/dev/null | sort -t. -k1,1nr -k2,2nr -k3,3nr | while read -r version; do
      echo "$root/versions/$version/bin/python"
    done
  fi
}

find_python() {
  local candidate
  while read -r candidate; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done < <(python_candidates)
  say "needs Python 3.12 or later (LocalStack $LOCALSTACK_VERSION), with its venv module; none was found"
  say "(tried \$PYTHON, python3.14, python3.13, python3.12, python3 and python on PATH, and pyenv's versions)."
  say "Get one with 'pyenv install 3.12' or your system's packages (e.g. 'apt-get install python3.12 python3.12-venv'),"
  say "then run this again, or point PYTHON at it: PYTHON=/path/to/python3.12 npm run localstack:host -- start"
  return 1
}

install() {
  if [ -x "$VENV/bin/python" ] &&
    [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("localstack-core"))' 2>/dev/null)" = "$LOCALSTACK_VERSION" ]; then
    return 0
  fi
  local python
  python="$(find_python)" || exit 1
  say "installing localstack-core $LOCALSTACK_VERSION into $VENV with $("$python" --version)"
  rm -rf "$VENV"
  "$python" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "localstack-core[runtime]==$LOCALSTACK_VERSION" service_identity -c localstack/constraints.txt
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

s3_ready() { curl -sf "$HEALTH" 2>/dev/null | grep -Eq '"s3": *"(available|running)"'; }

# The bucket and the SSM parameter, as localstack/init/ready.d/10-fileserver.sh in the container (idempotent).
ready() { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true node_modules/.bin/tsx scripts/localstack-ready.ts "http://127.0.0.1:$PORT"; }

start() {
  if running && s3_ready; then
    say "already running (pid $(cat "$PIDFILE"))"
    ready
    return 0
  fi
  install
  mkdir -p "$STATE"
  say "starting $SERVICES on 127.0.0.1:$PORT (log: $LOG)"
  # localstack/loopback.py: LocalStack's gateway ignores GATEWAY_LISTEN's host for IPv4 and listens on 0.0.0.0; with
  # lambda among the services it also creates functions without Docker (localstack/lambda_without_runtime.py).
  SERVICES="$SERVICES" GATEWAY_LISTEN="127.0.0.1:$PORT" LOCALSTACK_HOST="127.0.0.1:$PORT" DNS_DISABLED=1 \
    SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1 S3_SKIP_SIGNATURE_VALIDATION=0 \
    nohup "$VENV/bin/python" localstack/loopback.py >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 120); do
    if s3_ready; then
      say "S3 ready after ${SECONDS}s"
      ready || { stop; return 1; }
      return 0
    fi
    if ! running; then break; fi
    sleep 0.5
  done
  say "LocalStack did not become ready; its log ends with:"
  tail -n 30 "$LOG" >&2 || true
  stop
  return 1
}

stop() {
  if ! running; then rm -f "$PIDFILE"; return 0; fi
  local pid
  pid="$(cat "$PIDFILE")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
  say "stopped (pid $pid)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  find-python) find_python ;;
  status) if running && s3_ready; then say "running (pid $(cat "$PIDFILE"))"; else say "not running"; exit 1; fi ;;
  run)
    shift
    start
    # The tests find LocalStack through S3_ENDPOINT (test/support/setup-localstack.ts), also on another port.
    export S3_ENDPOINT="${S3_ENDPOINT:-http://127.0.0.1:$PORT}"
    status=0
    "$@" || status=$?
    stop
    exit "$status"
    ;;
  *) echo "usage: $0 start|stop|status|find-python|run <command…>" >&2; exit 2 ;;
esac

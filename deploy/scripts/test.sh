#!/usr/bin/env bash
# Full test run against real infrastructure - what `make test` (and CI) runs.
#
#   deploy/scripts/test.sh [pytest args...]
#
# 1. starts a throwaway Kafka broker (deploy/kafka/broker.sh) in the background,
#    unless KAFKA_BOOTSTRAP_SERVERS is already set;
# 2. creates/updates the virtualenv (`make install`);
# 3. starts a throwaway PostgreSQL (deploy/scripts/postgres.sh),
#    unless LANHMANH_TEST_DATABASE_URL is already set;
# 4. runs `.venv/bin/python -m pytest "$@"` with LANHMANH_TEST_DATABASE_URL,
#    KAFKA_BOOTSTRAP_SERVERS and LANHMANH_REQUIRE_INFRA=1 exported.
# Whatever this script started is stopped on exit (success, failure or Ctrl-C).
# Failing to start PostgreSQL or Kafka is a hard failure. Exit code = pytest's.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PG_SH=deploy/scripts/postgres.sh
KAFKA_SH=deploy/kafka/broker.sh
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lanhmanh-test.XXXXXX")"

log() { echo "test.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- timings -----------------------------------------------------------------
now_ms() { echo $(($(date +%s%N) / 1000000)); }
fmt_s() { printf '%d.%01ds' $(($1 / 1000)) $(($1 % 1000 / 100)); }
T_START="$(now_ms)"
TIMINGS=()
record() { # record NAME MILLISECONDS
  TIMINGS+=("$(printf '  %-16s %8s' "$1" "$(fmt_s "$2")")")
  log "$1 took $(fmt_s "$2")"
}

# --- teardown ----------------------------------------------------------------
STARTED_PG=0
STARTED_KAFKA=0
KAFKA_JOB=""

# shellcheck disable=SC2329  # invoked via trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  local t
  t="$(now_ms)"
  if [[ -n "$KAFKA_JOB" ]]; then
    # Let a still-running `broker.sh start` finish so that `stop` finds the broker.
    log "waiting for the Kafka start-up to finish before stopping it"
    wait "$KAFKA_JOB" || sed 's/^/  | /' "$WORK/kafka.err" >&2
  fi
  ((STARTED_KAFKA)) && bash "$KAFKA_SH" stop
  ((STARTED_PG)) && bash "$PG_SH" stop
  record teardown "$(($(now_ms) - t))"
  record total "$(($(now_ms) - T_START))"
  log "timings:"
  printf '%s\n' "${TIMINGS[@]}" >&2
  rm -rf "$WORK"
  log "exit code $rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. Kafka (background: it is the slowest and needs nothing from the venv) ---
if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
  log "using existing Kafka at $KAFKA_BOOTSTRAP_SERVERS"
else
  log "starting Kafka (background)"
  STARTED_KAFKA=1
  (
    t="$(now_ms)"
    rc=0
    bash "$KAFKA_SH" start >"$WORK/kafka.out" 2>"$WORK/kafka.err" || rc=$?
    echo $(($(now_ms) - t)) >"$WORK/kafka.ms"
    exit "$rc"
  ) &
  KAFKA_JOB=$!
fi

# --- 2. virtualenv -------------------------------------------------------------
t="$(now_ms)"
log "make install"
make --no-print-directory install
record install "$(($(now_ms) - t))"

# --- 2b. a real browser for the page tests (Debian's Chromium; Playwright drives it) ----
t="$(now_ms)"
if [[ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]]; then
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing Debian's chromium for the browser tests"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } >&2 \
      || die "could not install chromium"
  else
    die "no Chromium at ${CHROMIUM:-/usr/bin/chromium}: install Debian's chromium package"
  fi
fi
record chromium "$(($(now_ms) - t))"

# --- 3. PostgreSQL ---------------------------------------------------------------
t="$(now_ms)"
if [[ -n "${LANHMANH_TEST_DATABASE_URL:-}" ]]; then
  log "using existing database from LANHMANH_TEST_DATABASE_URL"
else
  log "starting PostgreSQL"
  STARTED_PG=1
  pg_out="$(bash "$PG_SH" start)" || die "PostgreSQL failed to start"
  LANHMANH_TEST_DATABASE_URL="${pg_out##*$'\n'}" # last line = SQLAlchemy URL
  record postgres "$(($(now_ms) - t))"
fi

# --- 1b. wait for Kafka --------------------------------------------------------
if [[ -n "$KAFKA_JOB" ]]; then
  kafka_rc=0
  wait "$KAFKA_JOB" || kafka_rc=$?
  KAFKA_JOB=""
  sed 's/^/  | /' "$WORK/kafka.err" >&2
  ((kafka_rc == 0)) || die "Kafka failed to start (broker.sh exit code $kafka_rc)"
  KAFKA_BOOTSTRAP_SERVERS="$(tail -n 1 "$WORK/kafka.out")"
  [[ -n "$KAFKA_BOOTSTRAP_SERVERS" ]] || die "broker.sh printed no bootstrap address"
  record kafka "$(cat "$WORK/kafka.ms")"
fi

# --- 4. pytest -----------------------------------------------------------------
export LANHMANH_TEST_DATABASE_URL KAFKA_BOOTSTRAP_SERVERS
export LANHMANH_REQUIRE_INFRA=1
log "LANHMANH_TEST_DATABASE_URL=$LANHMANH_TEST_DATABASE_URL"
log "KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS"
t="$(now_ms)"
rc=0
.venv/bin/python -m pytest "$@" || rc=$?
record pytest "$(($(now_ms) - t))"
exit "$rc"

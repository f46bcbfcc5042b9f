#!/usr/bin/env bash
# `make bench`: the benchmarks of issue 9 (1 and 3) and issue 8's bounded load run.
#
# Starts its OWN PostgreSQL and Kafka on non-default ports (so it never touches `make test`'s or
# `make run`'s), runs the benchmarks, stops what it started (also on failure or Ctrl-C), prints
# a table and writes bench/results/bench-<UTC time>.json.
#
# Environment:
#   BENCH_EVENTS         events through the pipeline (default 20000; the issue asks 100000)
#   BENCH_FRESH_RATES    freshness write rates, comma-separated (default 100,200)
#   BENCH_FRESH_SECONDS  seconds per freshness rate (default 20)
#   BENCH_LOAD_RATE      HTTP requests per second in the load run (default 40)
#   BENCH_LOAD_SECONDS   seconds of the load run (default 60)
#   BENCH_ONLY           pipeline | freshness | load: run only that one
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export PGPORT="${BENCH_PGPORT:-35432}"
export KAFKA_PORT="${BENCH_KAFKA_PORT:-39092}"
export KAFKA_CONTROLLER_PORT="${BENCH_KAFKA_CONTROLLER_PORT:-39093}"
export LANHMANH_PG_DIR="${BENCH_PG_DIR:-/tmp/lanhmanh-bench-pg}"
export LANHMANH_KAFKA_DIR="${BENCH_KAFKA_DIR:-/tmp/lanhmanh-bench-kafka}"
HTTP_PORT="${BENCH_HTTP_PORT:-38000}"
ONLY="${BENCH_ONLY:-}"
PY=.venv/bin/python
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS=bench/results
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lanhmanh-bench.XXXXXX")"
mkdir -p "$RESULTS"

log() { echo "bench: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

STARTED_PG=0
STARTED_KAFKA=0
PIDS=()

# shellcheck disable=SC2329  # invoked via trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null
  done
  ((STARTED_KAFKA)) && bash deploy/kafka/broker.sh stop
  ((STARTED_PG)) && bash deploy/scripts/postgres.sh stop
  rm -rf "$WORK"
  log "exit code $rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- infrastructure of our own ----------------------------------------------------------------
log "starting Kafka on 127.0.0.1:$KAFKA_PORT and PostgreSQL on 127.0.0.1:$PGPORT"
STARTED_KAFKA=1
bash deploy/kafka/broker.sh start >"$WORK/kafka.out" 2>"$WORK/kafka.err" &
KAFKA_JOB=$!
STARTED_PG=1
PG_URL="$(bash deploy/scripts/postgres.sh start 2>"$WORK/pg.err" | tail -n 1)" \
  || { cat "$WORK/pg.err" >&2; die "PostgreSQL failed to start"; }
wait "$KAFKA_JOB" || { cat "$WORK/kafka.err" >&2; die "Kafka failed to start"; }
KAFKA="$(tail -n 1 "$WORK/kafka.out")"
log "PostgreSQL $PG_URL, Kafka $KAFKA"

PARTS=()
# --- 1 and 3: event pipeline and freshness -----------------------------------------------------
if [[ -z "$ONLY" || "$ONLY" == pipeline || "$ONLY" == freshness ]]; then
  "$PY" -m bench.pipeline --pg "$PG_URL" --kafka "$KAFKA" --out "$WORK/pipeline.json" ${ONLY:+--only "$ONLY"}
  PARTS+=("$WORK/pipeline.json")
fi

# --- issue 8: bounded load run on the registry under gunicorn (2 workers) + its worker ---------
if [[ -z "$ONLY" || "$ONLY" == load ]]; then
  DB_URL="$("$PY" - "$PG_URL" <<'EOF'
import sys
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
url = sys.argv[1]
engine = create_engine(url, isolation_level="AUTOCOMMIT")
with engine.connect() as conn:
    conn.execute(text('CREATE DATABASE "bench_load_registry"'))
print(make_url(url).set(database="bench_load_registry").render_as_string(hide_password=False))
EOF
)"
  export REGISTRY_DATABASE_URL="$DB_URL" EVENT_TRANSPORT=kafka KAFKA_BOOTSTRAP_SERVERS="$KAFKA" \
    LANHMANH_VAR_DIR="$WORK/var" LOG_LEVEL=WARNING KAFKA_CONSUMER_GROUP_PREFIX="bench-load-"
  mkdir -p "$WORK/var"
  .venv/bin/lanhmanh migrate registry >&2
  .venv/bin/lanhmanh topics >/dev/null 2>&1 || .venv/bin/lanhmanh topics >&2
  .venv/bin/lanhmanh serve registry --bind "127.0.0.1:$HTTP_PORT" --workers 2 >"$WORK/serve.log" 2>&1 &
  PIDS+=($!)
  .venv/bin/lanhmanh worker registry >"$WORK/worker.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$HTTP_PORT/registry/readyz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -fsS "http://127.0.0.1:$HTTP_PORT/registry/readyz" >/dev/null || { cat "$WORK/serve.log" >&2; die "registry not ready"; }
  TOKEN="$(.venv/bin/lanhmanh token --role police --district 116)"
  "$PY" -m bench.load --base "http://127.0.0.1:$HTTP_PORT" --token "$TOKEN" \
    --rate "${BENCH_LOAD_RATE:-40}" --seconds "${BENCH_LOAD_SECONDS:-60}" --out "$WORK/load.json"
  # the worker must have relayed every acknowledged write
  "$PY" - "$DB_URL" >"$WORK/backlog.json" <<'EOF'
import json, sys, time
from sqlalchemy import create_engine, text
engine = create_engine(sys.argv[1])
deadline = time.monotonic() + 30
while True:
    with engine.connect() as conn:
        pending, total = conn.execute(text("SELECT count(*) FILTER (WHERE published_at IS NULL), count(*) FROM outbox")).one()
    if pending == 0 or time.monotonic() > deadline:
        break
    time.sleep(0.5)
print(json.dumps({"outbox_rows": total, "outbox_pending_after_30s": pending}))
EOF
  PARTS+=("$WORK/load.json" "$WORK/backlog.json")
fi

"$PY" -m bench.report --out "$RESULTS/bench-$STAMP.json" "${PARTS[@]}"

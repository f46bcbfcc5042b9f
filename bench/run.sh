#!/usr/bin/env bash
# `make bench`: the benchmarks of issue 9 (1 to 6) and issue 8's bounded load run.
#
# Starts its OWN PostgreSQL and Kafka on non-default ports (so it never touches `make test`'s or
# `make run`'s), runs the benchmarks, stops what it started (also on failure or Ctrl-C), prints
# a table and writes bench/results/bench-<UTC time>.json.
#
# Environment:
#   BENCH_EVENTS         events through the pipeline and the replay (default 100000, as the issue asks)
#   BENCH_FRESH_RATES    freshness write rates, comma-separated (default 100,200)
#   BENCH_REPORTING_WORKERS  reporting worker processes of the pipeline runs, comma-separated (default 1,2;
#                        the last count is the headline figure and also replays)
#   BENCH_FRESH_SECONDS  seconds per freshness rate (default 20)
#   BENCH_LOAD_RATE      HTTP requests per second in the load run (default 40)
#   BENCH_LOAD_SECONDS   seconds of the load run (default 60)
#   BENCH_HTTP_SECONDS   seconds of each wrk run of benchmark 2 (default 30; threads BENCH_HTTP_THREADS=2,
#                        connections BENCH_HTTP_CONNECTIONS=16)
#   BENCH_REPORT_ESTABLISHMENTS / BENCH_REPORT_INSPECTIONS   size of benchmark 4 (100000 / 1000000)
#   BENCH_ONLY           pipeline | freshness | http | load | reports: run only that one
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export PGPORT="${BENCH_PGPORT:-35432}"
export KAFKA_PORT="${BENCH_KAFKA_PORT:-39092}"
export KAFKA_CONTROLLER_PORT="${BENCH_KAFKA_CONTROLLER_PORT:-39093}"
export LANHMANH_PG_DIR="${BENCH_PG_DIR:-/tmp/lanhmanh-bench-pg}"
export LANHMANH_KAFKA_DIR="${BENCH_KAFKA_DIR:-/tmp/lanhmanh-bench-kafka}"
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

# --- issue 8: bounded load run across all five services (gunicorn, 2 workers + a worker each) ----
# bench/load.py starts every service on databases of its own, runs the fixed-rate mix, checks that
# every outbox drained, stops them and drops the databases. Before 2: new consumer groups read their
# topics from the start, so the thousands of establishments of 2 would hold up its preparation.
if [[ -z "$ONLY" || "$ONLY" == load ]]; then
  "$PY" -m bench.load --pg "$PG_URL" --kafka "$KAFKA" \
    --rate "${BENCH_LOAD_RATE:-40}" --seconds "${BENCH_LOAD_SECONDS:-60}" --out "$WORK/load.json"
  PARTS+=("$WORK/load.json")
fi
# --- end of issue 8 ----------------------------------------------------------------------------

# --- 2 and 6: HTTP writes (wrk) vs a bare Flask baseline, and memory per process (bench/http_writes.py) ---
if [[ -z "$ONLY" || "$ONLY" == http ]]; then
  if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk (Debian)"
    apt-get install -y --no-install-recommends wrk >&2 \
      || { apt-get update >&2 && apt-get install -y --no-install-recommends wrk >&2; } \
      || die "wrk is missing and could not be installed"
  fi
  "$PY" -m bench.http_writes --pg "$PG_URL" --kafka "$KAFKA" --seconds "${BENCH_HTTP_SECONDS:-30}" \
    --threads "${BENCH_HTTP_THREADS:-2}" --connections "${BENCH_HTTP_CONNECTIONS:-16}" \
    --out "$WORK/http_writes.json" --memory-out "$WORK/memory.json"
  PARTS+=("$WORK/http_writes.json" "$WORK/memory.json")
fi
# --- end of 2 and 6 ----------------------------------------------------------------------------

# --- 4: reports at national scale (bench/reports.py; PostgreSQL only) --- begin ----------------
if [[ -z "$ONLY" || "$ONLY" == reports ]]; then
  "$PY" -m bench.reports --pg "$PG_URL" --out "$WORK/reports.json" \
    --establishments "${BENCH_REPORT_ESTABLISHMENTS:-100000}" --inspections "${BENCH_REPORT_INSPECTIONS:-1000000}"
  PARTS+=("$WORK/reports.json")
fi
# --- 4: reports --- end -------------------------------------------------------------------------

"$PY" -m bench.report --out "$RESULTS/bench-$STAMP.json" "${PARTS[@]}"

#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for tests (no Docker).
#
#   deploy/scripts/postgres.sh start    # fresh cluster; last stdout line = SQLAlchemy URL
#   deploy/scripts/postgres.sh stop     # idempotent
#   deploy/scripts/postgres.sh resume   # start again on the data it had (outage tests)
#   deploy/scripts/postgres.sh status   # exit 0 + URL if running, exit 3 otherwise
#
# Environment:
#   PGPORT            TCP port on 127.0.0.1 (default 25432)
#   LANHMANH_CACHE    cache dir (default <repo>/.cache)
#   LANHMANH_PG_DIR   cluster directory, wiped on every start. Default: $LANHMANH_CACHE/pg,
#                     but /tmp/lanhmanh-pg-$PGPORT when run as root: the server then runs
#                     as the `postgres` OS user, which must be able to traverse every parent
#                     directory (not true for /root/..., CI temp dirs).
#   PG_BIN            directory with initdb/pg_ctl (default: newest /usr/lib/postgresql/*/bin;
#                     installed with apt-get if none is found)
#
# Progress goes to stderr; only the URL goes to stdout.
set -euo pipefail

PGPORT="${PGPORT:-25432}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [[ $EUID -eq 0 ]]; then
  PG_DIR="${LANHMANH_PG_DIR:-/tmp/lanhmanh-pg-$PGPORT}"
else
  PG_DIR="${LANHMANH_PG_DIR:-${LANHMANH_CACHE:-$REPO_ROOT/.cache}/pg}"
fi
DATA="$PG_DIR/data"
LOG="$PG_DIR/postgres.log"
URL="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/postgres"

log() { echo "postgres.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Newest installed server binaries, or nothing.
find_pg_bin() {
  if [[ -n "${PG_BIN:-}" ]]; then
    echo "$PG_BIN"
    return
  fi
  local d
  d="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)"
  if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
    echo "$d"
  fi
}

install_pg() {
  [[ $EUID -eq 0 ]] || die "PostgreSQL server binaries not found and not root; install them (apt-get install postgresql) or set PG_BIN"
  command -v apt-get >/dev/null || die "PostgreSQL server binaries not found and apt-get is unavailable; set PG_BIN"
  log "PostgreSQL server binaries not found; installing with apt-get (one-off)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
}

# Run a command as the cluster owner: `postgres` when we are root (PostgreSQL refuses
# to run as root), otherwise the current user. `cd /` avoids "could not change
# directory" noise when the caller's cwd is unreadable for the postgres user.
as_owner() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

ensure_postgres_user() {
  if ! id -u postgres >/dev/null 2>&1; then
    log "creating OS user 'postgres'"
    useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql \
      --shell /usr/sbin/nologin postgres
  fi
}

# True if a postmaster for $DATA is alive.
is_running() {
  [[ -f "$DATA/postmaster.pid" ]] || return 1
  local pid
  pid="$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  # An exited-but-unreaped (zombie) process is not running.
  [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]]
}

cmd_stop() {
  if ! is_running; then
    log "not running (port $PGPORT)"
    return 0
  fi
  local bin
  bin="$(find_pg_bin)"
  if [[ -n "$bin" ]]; then
    log "stopping cluster in $DATA"
    as_owner "$bin/pg_ctl" stop -D "$DATA" -m fast -w -t 30 >&2 || true
  fi
  if is_running; then
    # Binaries gone or pg_ctl failed: signal the postmaster directly (SIGQUIT = immediate).
    local pid
    pid="$(head -n 1 "$DATA/postmaster.pid")"
    log "pg_ctl did not stop it; sending SIGQUIT to postmaster $pid"
    kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do is_running || break; sleep 0.2; done
    is_running && die "postmaster $pid is still running"
  fi
  log "stopped"
}

cmd_start() {
  local bin
  bin="$(find_pg_bin)"
  if [[ -z "$bin" ]]; then
    install_pg
    bin="$(find_pg_bin)"
    [[ -n "$bin" ]] || die "apt-get install postgresql did not provide /usr/lib/postgresql/*/bin"
  fi

  # Always a fresh cluster: stop any previous one and wipe it.
  if is_running; then
    log "already running; restarting with a fresh cluster"
    cmd_stop
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$PGPORT") 2>/dev/null; then
    die "port $PGPORT on 127.0.0.1 is already in use by another process (set PGPORT)"
  fi
  rm -rf "$PG_DIR" 2>/dev/null || die "cannot remove $PG_DIR (created by another user?); remove it or set LANHMANH_PG_DIR"
  mkdir -p "$PG_DIR"
  chmod 700 "$PG_DIR"
  if [[ $EUID -eq 0 ]]; then
    ensure_postgres_user
    chown postgres: "$PG_DIR"
  fi

  log "initdb ($("$bin/postgres" --version)) in $DATA"
  as_owner "$bin/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C \
    --no-sync >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }

  # Test-only settings: loopback only, socket in the cluster dir, fast and unsafe.
  cat >>"$DATA/postgresql.conf" <<EOF

# --- lanhmanh test cluster (deploy/scripts/postgres.sh) ---
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$PG_DIR'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF

  log "starting on 127.0.0.1:$PGPORT"
  if ! as_owner "$bin/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 30 >&2; then
    tail -n 30 "$LOG" >&2 || true
    cmd_stop || true
    if grep -q 'Address already in use' "$LOG" 2>/dev/null; then
      # The default port lies in Linux's ephemeral range (32768-60999): a client socket
      # (live or in TIME_WAIT for ~60 s) may be using it as its source port.
      log "port $PGPORT was taken by another socket (possibly an ephemeral client port); retry in a minute or set PGPORT"
    fi
    die "pg_ctl start failed"
  fi

  # pg_ctl -w already waited; double-check over TCP like the tests will connect.
  local ok=0
  for _ in $(seq 1 60); do
    if "$bin/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" -U postgres; then ok=1; break; fi
    sleep 0.5
  done
  if [[ $ok -ne 1 ]]; then
    tail -n 30 "$LOG" >&2 || true
    die "server did not accept TCP connections on 127.0.0.1:$PGPORT within 30 s"
  fi
  log "ready (log: $LOG)"
  echo "$URL"
}

# Start the cluster again on the data it had (after `stop`): for outage tests.
cmd_resume() {
  local bin
  bin="$(find_pg_bin)"
  [[ -f "$DATA/postgresql.conf" ]] || die "nothing to resume in $DATA: use start"
  if is_running; then echo "$URL"; return 0; fi
  as_owner "$bin/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 30 >&2 || die "pg_ctl start failed"
  log "resumed (log: $LOG)"
  echo "$URL"
}

cmd_status() {
  if is_running; then
    echo "$URL"
  else
    log "not running (port $PGPORT)"
    return 3
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  resume) cmd_resume ;;
  *) echo "usage: $0 start|stop|resume|status" >&2; exit 2 ;;
esac

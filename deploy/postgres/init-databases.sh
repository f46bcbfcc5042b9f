#!/usr/bin/env bash
# One database per Lành Mạnh service, owned by the application role. Idempotent.
#
# docker-compose.yml mounts this file in the postgres image's /docker-entrypoint-initdb.d/, which
# runs it once, on the first start of an empty data volume. To add databases to an existing volume,
# run it again (it only creates what is missing):
#   docker compose exec postgres /docker-entrypoint-initdb.d/init-databases.sh
#
# Environment:
#   LANHMANH_DATABASES  names, separated by spaces or commas (default: every service's)
#   LANHMANH_DB_OWNER   owner of the databases (default: $POSTGRES_USER, the image's superuser)
#   POSTGRES_USER       the role psql connects as (set by the image)
#   POSTGRES_DB         the database psql connects to (default: $POSTGRES_USER)
#   PGHOST, PGPORT ...  the usual libpq variables (default: the local socket, as during the image's init)

# The image sources a *.sh file that is not executable (a checkout without the exec bit): run in a
# child shell then, so that neither this script's shell options nor an `exit` reach its entrypoint.
if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  bash "${BASH_SOURCE[0]}"
  return
fi
set -euo pipefail

DATABASES="${LANHMANH_DATABASES:-registry inspection cases support reporting}"
PSQL_USER="${POSTGRES_USER:-postgres}"
OWNER="${LANHMANH_DB_OWNER:-$PSQL_USER}"
CONNECT_DB="${POSTGRES_DB:-$PSQL_USER}"

log() { echo "init-databases: $*" >&2; }

for db in ${DATABASES//,/ }; do
  # Names go into SQL through format('%I'); still, accept only plain lower-case identifiers.
  if [[ ! "$db" =~ ^[a-z_][a-z0-9_]{0,62}$ ]]; then
    log "ERROR: invalid database name '$db'"
    exit 1
  fi
  psql --no-psqlrc --quiet --tuples-only --no-align -v ON_ERROR_STOP=1 \
    --username "$PSQL_USER" --dbname "$CONNECT_DB" --set=db="$db" --set=owner="$OWNER" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'owner')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')\gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'owner')\gexec
SQL
  log "database $db (owner $OWNER) ready"
done

#!/usr/bin/env bash
# The generation benchmark (`just bench-generate`):
#  1. boundary detection and rendering (including rustfmt) of a synthetic schema of
#     BENCH_TABLES tables with foreign keys (target: under 5 s for 500 tables);
#  2. wrk against a generated list endpoint (`/track?limit=50` of the catalog service)
#     on Chinook in PostgreSQL: requests/s and p99 latency.
# It measures; it does not gate. It installs wrk when absent (apt-get).
#
# Environment:
#   BENCH_TABLES=500        tables in the synthetic schema
#   BENCH_PROFILE=release   cargo profile to build with (`dev` for a quick run)
#   BENCH_WRK_DURATION=15s  BENCH_WRK_CONNECTIONS=16  BENCH_WRK_THREADS=2
#   PGHOST PGPORT PGUSER    the PostgreSQL server (default 127.0.0.1 5432 postgres)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
TABLES=${BENCH_TABLES:-500}
PROFILE=${BENCH_PROFILE:-release}
DIR=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
DB=seaway_bench_svc

echo "== build ($PROFILE)"
# One --bin per binary: a --bin filter applies to every package named with -p.
cargo build --locked --profile "$PROFILE" -p seaway-codegen --bin codegen -p catalog-service --bin catalog-service

echo "== detection + rendering, $TABLES tables"
"target/$DIR/codegen" bench-generate --tables "$TABLES"

if ! command -v wrk >/dev/null 2>&1; then
  echo "== installing wrk"
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
echo "== wrk: catalog service, Chinook in PostgreSQL"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f fixtures/chinook/postgres.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f fixtures/chinook/postgres-rowid-keys.sql >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB" BIND_ADDR="127.0.0.1:$PORT" \
  "target/$DIR/catalog-service" 2>/dev/null &
SVC=$!
trap 'kill $SVC 2>/dev/null || true; psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 0.1
done
URL="http://127.0.0.1:$PORT/track?limit=50"
curl -fsS "$URL" >/dev/null
wrk -t"${BENCH_WRK_THREADS:-2}" -c"${BENCH_WRK_CONNECTIONS:-16}" -d"${BENCH_WRK_DURATION:-15s}" --latency "$URL" \
  | tee /tmp/seaway-wrk.txt
echo "== summary"
echo "requests/s: $(awk '/Requests\/sec/ {print $2}' /tmp/seaway-wrk.txt)"
echo "p99 latency: $(awk '$1 == "99%" {print $2}' /tmp/seaway-wrk.txt)"

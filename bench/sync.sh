#!/usr/bin/env bash
# The sync benchmark (`just bench-sync`): latency from source commit to destination
# commit, and whether the destination keeps up, for `migrator sync` PostgreSQL ->
# PostgreSQL and PostgreSQL -> MariaDB side by side in one run with PostgreSQL's native
# logical replication (PUBLICATION/SUBSCRIPTION) PostgreSQL -> PostgreSQL as the anchor.
#
# pgbench commits single-statement transactions at a fixed rate (-R, open loop) to
# `bench_events` in seaway_bench_sync_src: inserts, updates and deletes (5:4:1), each
# row carrying the statement's clock (`changed_at`, clock_timestamp(): the commit of a
# one-statement transaction follows it within microseconds). Each destination stamps
# every row it applies with its own clock (`applied_at`, a trigger; the native
# subscription's apply fires it only with ENABLE ALWAYS TRIGGER), so a change's latency
# is applied_at - changed_at (one server's clock for PostgreSQL destinations; MariaDB's
# on the same machine). Deletes leave no row to stamp and are counted, not timed. Each
# destination's p50/p95/p99 is over the rows changed during the run (a row's last change).
# After the load, the time each destination took to hold the source's row count is the
# backlog it had: a destination that keeps up catches up in well under a second.
#
# MariaDB -> PostgreSQL is measured by bench/sync_mariadb.sh, after this script in the same
# `just bench-sync`. Not measured yet (issue #15): the step-up search for the highest
# sustained rate.
#
# Environment:
#   BENCH_SYNC_RATE=10000     transactions (= changes) per second
#   BENCH_SYNC_SECONDS=60     seconds of load
#   BENCH_SYNC_ROWS=100000    rows loaded before the run (updates and deletes pick among them)
#   BENCH_PROFILE=release     cargo profile of migrator/codegen (`dev`: the debug build)
#   BENCH_REPORT=FILE         also write the results as Markdown (default target/bench/sync.md)
#   PGHOST PGPORT PGUSER      the PostgreSQL server (default 127.0.0.1 5432 postgres)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
cd "$ROOT"

RATE=${BENCH_SYNC_RATE:-10000}
SECS=${BENCH_SYNC_SECONDS:-60}
ROWS=${BENCH_SYNC_ROWS:-100000}
PROFILE=${BENCH_PROFILE:-release}
REPORT=${BENCH_REPORT:-${CARGO_TARGET_DIR:-$ROOT/target}/bench/sync.md}
SRC=seaway_bench_sync_src
PGDST=seaway_bench_sync_pg
NATIVE=seaway_bench_sync_native
MYDST=seaway_bench_sync_my
WORK=$(mktemp -d)
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  pg -d "$NATIVE" -c "DROP SUBSCRIPTION IF EXISTS bench_native" >/dev/null 2>&1 || true
  pg -d postgres -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$SRC'" >/dev/null 2>&1 || true
  for db in "$SRC" "$PGDST" "$NATIVE"; do
    pg -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
  my -e "DROP DATABASE IF EXISTS $MYDST" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

bench_tools
if [[ $PROFILE == release ]]; then
  bench_build
  MIGRATOR=$BENCH_MIGRATOR
else
  log "cargo build (dev)"
  cargo build --locked -p seaway-migrator -p seaway-codegen
  MIGRATOR=${CARGO_TARGET_DIR:-$ROOT/target}/debug/migrator
  CODEGEN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/codegen
fi

log "databases"
for db in "$SRC" "$PGDST" "$NATIVE"; do fresh_pg_db "$db"; done
my -e "DROP DATABASE IF EXISTS $MYDST; CREATE DATABASE $MYDST"
pg -d "$SRC" -c "CREATE TABLE bench_events (id bigint PRIMARY KEY, v integer NOT NULL, changed_at timestamp(6) NOT NULL DEFAULT (clock_timestamp() AT TIME ZONE 'UTC'));
  INSERT INTO bench_events (id, v) SELECT i, 0 FROM generate_series(1, $ROWS) AS i;
  CREATE SEQUENCE bench_ids START $((ROWS + 1));"

# The destinations' tables, as seaway makes them; then the stamp.
for dst in "postgres://$PGUSER@$PGHOST:$PGPORT/$PGDST" "mysql://$BENCH_MY_USER@$BENCH_MY_HOST:$BENCH_MY_PORT/$MYDST"; do
  dir="$WORK/$(basename "$dst")"
  mkdir -p "$dir"
  printf 'connections:\n  src: { url: "postgres://%s@%s:%s/%s" }\n  dst: { url: "%s" }\nsource: src\ndestination: dst\ntables:\n  include: [bench_events]\n' \
    "$PGUSER" "$PGHOST" "$PGPORT" "$SRC" "$dst" >"$dir/seaway.yaml"
  (cd "$dir" && "$CODEGEN" diff >/dev/null && "$MIGRATOR" apply >/dev/null)
done
pg -d "$PGDST" -c "ALTER TABLE bench_events ADD COLUMN applied_at timestamp(6);
  CREATE FUNCTION stamp() RETURNS trigger AS \$\$ BEGIN NEW.applied_at := clock_timestamp() AT TIME ZONE 'UTC'; RETURN NEW; END \$\$ LANGUAGE plpgsql;
  CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON bench_events FOR EACH ROW EXECUTE FUNCTION stamp();"
my "$MYDST" -e "ALTER TABLE bench_events ADD COLUMN applied_at DATETIME(6);
  CREATE TRIGGER stamp_i BEFORE INSERT ON bench_events FOR EACH ROW SET NEW.applied_at = UTC_TIMESTAMP(6);
  CREATE TRIGGER stamp_u BEFORE UPDATE ON bench_events FOR EACH ROW SET NEW.applied_at = UTC_TIMESTAMP(6);"
# The anchor: the same table (and rows) in a third database, subscribed natively. The
# slot is created first: a subscription to a publication on its own cluster hangs at
# CREATE otherwise.
pg -d "$NATIVE" -c "CREATE TABLE bench_events (id bigint PRIMARY KEY, v integer NOT NULL, changed_at timestamp(6) NOT NULL, applied_at timestamp(6));
  CREATE FUNCTION stamp() RETURNS trigger AS \$\$ BEGIN NEW.applied_at := clock_timestamp() AT TIME ZONE 'UTC'; RETURN NEW; END \$\$ LANGUAGE plpgsql;
  CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON bench_events FOR EACH ROW EXECUTE FUNCTION stamp();
  ALTER TABLE bench_events ENABLE ALWAYS TRIGGER stamp;"
pg -d "$SRC" -c "CREATE PUBLICATION bench_native FOR TABLE bench_events" \
  -c "SELECT pg_create_logical_replication_slot('bench_native', 'pgoutput')" >/dev/null
pg -d "$NATIVE" -c "CREATE SUBSCRIPTION bench_native CONNECTION 'host=$PGHOST port=$PGPORT user=$PGUSER dbname=$SRC' PUBLICATION bench_native WITH (create_slot = false, slot_name = 'bench_native', copy_data = true)"

log "sync: the initial copy, then streaming"
for dir in "$WORK"/*/; do
  (cd "$dir" && exec "$MIGRATOR" sync --report report.json >sync.out 2>sync.err) &
  PIDS+=($!)
done
wait_rows() { # DB-KIND NAME ROWS SECONDS: waits until the destination holds ROWS rows
  local deadline=$((SECONDS + $4)) n
  while :; do
    if [[ $1 == pg ]]; then n=$(pgval -d "$2" -c "SELECT count(*) FROM bench_events"); else n=$(my -N -B "$2" -e "SELECT count(*) FROM bench_events"); fi
    [[ $n == "$3" ]] && return 0
    ((SECONDS < deadline)) || { echo "$2 holds $n of $3 rows after $4 s" >&2; return 1; }
    sleep 0.05
  done
}
want=$(pgval -d "$SRC" -c "SELECT count(*) FROM bench_events")
wait_rows pg "$PGDST" "$want" 300
wait_rows pg "$NATIVE" "$want" 300
wait_rows my "$MYDST" "$want" 300
started=$(pgval -d "$SRC" -c "SELECT clock_timestamp() AT TIME ZONE 'UTC'")

log "load: $RATE changes/s for $SECS s (pgbench -R, 5 inserts : 4 updates : 1 delete)"
cat >"$WORK/insert.sql" <<'SQL'
INSERT INTO bench_events (id, v) VALUES (nextval('bench_ids'), 1);
SQL
cat >"$WORK/update.sql" <<SQL
\set id random(1, $ROWS)
UPDATE bench_events SET v = v + 1, changed_at = clock_timestamp() AT TIME ZONE 'UTC' WHERE id = :id;
SQL
cat >"$WORK/delete.sql" <<SQL
\set id random(1, $ROWS)
DELETE FROM bench_events WHERE id = :id;
SQL
pgbench -n -d "$SRC" -c 8 -j 2 -R "$RATE" -T "$SECS" -P 10 \
  -f "$WORK/insert.sql@5" -f "$WORK/update.sql@4" -f "$WORK/delete.sql@1" 2>&1 | tee "$WORK/pgbench.out" | grep -E "progress|tps|latency average" || true
ended=$(pgval -d "$SRC" -c "SELECT clock_timestamp() AT TIME ZONE 'UTC'")

log "catch-up after the load"
want=$(pgval -d "$SRC" -c "SELECT count(*) FROM bench_events")
declare -A CATCHUP
for pair in "pg $PGDST" "pg $NATIVE" "my $MYDST"; do
  set -- $pair
  t0=$(date +%s.%N)
  if wait_rows "$1" "$2" "$want" 600; then
    CATCHUP[$2]=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
  else
    CATCHUP[$2]="did not catch up in 600 s"
  fi
done

pct_pg() { # DB: p50/p95/p99 ms of applied_at - changed_at over rows changed in the run
  pgval -d "$1" -c "SELECT concat_ws(' / ', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
      round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 1), round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1)) || ' (' || count(*) || ' rows)'
    FROM (SELECT extract(epoch FROM applied_at - changed_at) * 1000 AS ms FROM bench_events
          WHERE changed_at BETWEEN '$started' AND '$ended') AS l"
}
pct_my() {
  # MariaDB has no percentile aggregate over a computed column in 10.11's GROUP BY form:
  # its latencies are read out and ranked by PostgreSQL.
  my -N -B "$MYDST" -e "SELECT id, applied_at FROM bench_events WHERE applied_at IS NOT NULL" >"$WORK/my.tsv"
  pg -d "$SRC" -c "CREATE TEMP TABLE t (id bigint, applied_at timestamp(6))" \
    -c "\\copy t FROM '$WORK/my.tsv'" \
    -c "SELECT concat_ws(' / ', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
        round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 1), round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1)) || ' (' || count(*) || ' rows)'
      FROM (SELECT extract(epoch FROM t.applied_at - e.changed_at) * 1000 AS ms
            FROM t JOIN bench_events e USING (id) WHERE e.changed_at BETWEEN '$started' AND '$ended') AS l" -At
}
for p in "${PIDS[@]}"; do kill -TERM "$p"; done
for p in "${PIDS[@]}"; do wait "$p" || true; done
PIDS=()
tps=$(grep -E '^tps' "$WORK/pgbench.out" | head -1 | sed 's/ (.*//')
{
  echo "### bench-sync: $(date -u +%F) ($PROFILE build), $RATE changes/s for $SECS s requested, $tps"
  echo
  echo "| pair | latency p50 / p95 / p99 (ms) | catch-up after the load (s) |"
  echo "|---|---|---|"
  echo "| native logical replication PostgreSQL->PostgreSQL (anchor) | $(pct_pg "$NATIVE") | ${CATCHUP[$NATIVE]} |"
  echo "| migrator sync PostgreSQL->PostgreSQL | $(pct_pg "$PGDST") | ${CATCHUP[$PGDST]} |"
  echo "| migrator sync PostgreSQL->MariaDB | $(pct_my) | ${CATCHUP[$MYDST]} |"
} | tee "$WORK/report.md"
mkdir -p "$(dirname "$REPORT")"
cp "$WORK/report.md" "$REPORT"
echo "written to $REPORT"

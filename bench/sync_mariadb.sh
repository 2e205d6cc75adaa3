#!/usr/bin/env bash
# The MariaDB -> PostgreSQL part of `just bench-sync` (after bench/sync.sh, in the same
# run): latency from source commit to destination commit of `migrator sync` reading
# MariaDB's binary log, measured as bench/sync.sh measures the PostgreSQL pairs.
#
# sysbench commits single-statement transactions at a fixed rate (--rate, arrivals
# queued to 8 threads) to `bench_events` in MariaDB database seaway_bench_sync_mysrc:
# inserts, updates and deletes (5:4:1, bench/sync_mariadb.lua), each row carrying the
# statement's clock (`changed_at`, UTC_TIMESTAMP(6)). The PostgreSQL destination stamps
# every row it applies with its own clock (`applied_at`, a trigger); both servers run on
# this machine, so a change's latency is applied_at - changed_at. Deletes leave no row to
# stamp and are counted, not timed. p50/p95/p99 are over the rows changed during the
# load (a row's last change); after it, the time the destination took to hold the
# source's row count is the backlog it had. The load runs alone (the PostgreSQL syncs of
# bench/sync.sh have stopped), so it is not the same load as the anchor's: compare the
# latencies, not the machine's state.
#
# Environment: as bench/sync.sh (BENCH_SYNC_RATE, BENCH_SYNC_SECONDS, BENCH_SYNC_ROWS,
# BENCH_PROFILE, BENCH_REPORT: the row is appended to its table), and BENCH_MY_* for the
# MariaDB server (bench/lib.sh).
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
MYSRC=seaway_bench_sync_mysrc
PGDST=seaway_bench_sync_frommy
WORK=$(mktemp -d)
SYNC_PID=

cleanup() {
  if [[ -n $SYNC_PID ]]; then
    kill -TERM "$SYNC_PID" 2>/dev/null || true
    wait "$SYNC_PID" 2>/dev/null || true
  fi
  pg -d postgres -c "DROP DATABASE IF EXISTS \"$PGDST\" WITH (FORCE)" >/dev/null 2>&1 || true
  my -e "DROP DATABASE IF EXISTS $MYSRC" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

bench_tools sysbench
if [[ $PROFILE == release ]]; then
  bench_build
  MIGRATOR=$BENCH_MIGRATOR
else
  MIGRATOR=${CARGO_TARGET_DIR:-$ROOT/target}/debug/migrator
  CODEGEN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/codegen
fi

log "MariaDB -> PostgreSQL: databases"
fresh_pg_db "$PGDST"
my -e "DROP DATABASE IF EXISTS $MYSRC; CREATE DATABASE $MYSRC"
my "$MYSRC" -e "CREATE TABLE bench_events (id bigint PRIMARY KEY, v int NOT NULL, changed_at datetime(6) NOT NULL);
  INSERT INTO bench_events SELECT seq, 0, UTC_TIMESTAMP(6) FROM seq_1_to_$ROWS;"
printf 'connections:\n  src: { url: "mysql://%s@%s:%s/%s" }\n  dst: { url: "postgres://%s@%s:%s/%s" }\nsource: src\ndestination: dst\n' \
  "$BENCH_MY_USER" "$BENCH_MY_HOST" "$BENCH_MY_PORT" "$MYSRC" "$PGUSER" "$PGHOST" "$PGPORT" "$PGDST" >"$WORK/seaway.yaml"
(cd "$WORK" && "$CODEGEN" diff >/dev/null && "$MIGRATOR" apply >/dev/null)
pg -d "$PGDST" -c "ALTER TABLE bench_events ADD COLUMN applied_at timestamp(6);
  CREATE FUNCTION stamp() RETURNS trigger AS \$\$ BEGIN NEW.applied_at := clock_timestamp() AT TIME ZONE 'UTC'; RETURN NEW; END \$\$ LANGUAGE plpgsql;
  CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON bench_events FOR EACH ROW EXECUTE FUNCTION stamp();"

log "MariaDB -> PostgreSQL: the initial copy, then streaming"
(cd "$WORK" && exec "$MIGRATOR" sync --report report.json >sync.out 2>sync.err) &
SYNC_PID=$!
holds() { pgval -d "$PGDST" -c "SELECT count(*) FROM bench_events"; }
wait_rows() { # ROWS SECONDS: waits until the destination holds ROWS rows
  local deadline=$((SECONDS + $2)) n
  while :; do
    n=$(holds)
    [[ $n == "$1" ]] && return 0
    ((SECONDS < deadline)) || { echo "$PGDST holds $n of $1 rows after $2 s" >&2; return 1; }
    sleep 0.05
  done
}
wait_rows "$ROWS" 300
started=$(my -N -B -e "SELECT UTC_TIMESTAMP(6)")

log "MariaDB -> PostgreSQL: load, $RATE changes/s for $SECS s (sysbench --rate, 5 inserts : 4 updates : 1 delete)"
sysbench "$ROOT/bench/sync_mariadb.lua" --db-driver=mysql --mysql-host="$BENCH_MY_HOST" \
  --mysql-port="$BENCH_MY_PORT" --mysql-user="$BENCH_MY_USER" --mysql-password="$BENCH_MY_PASSWORD" \
  --mysql-db="$MYSRC" --rows="$ROWS" --threads=8 --rate="$RATE" --time="$SECS" --report-interval=10 \
  run 2>&1 | tee "$WORK/sysbench.out" | grep -E "^\[|transactions:" || true
ended=$(my -N -B -e "SELECT UTC_TIMESTAMP(6)")

log "MariaDB -> PostgreSQL: catch-up after the load"
want=$(my -N -B "$MYSRC" -e "SELECT COUNT(*) FROM bench_events")
t0=$(date +%s.%N)
if wait_rows "$want" 600; then
  catchup=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
else
  catchup="did not catch up in 600 s"
fi
kill -TERM "$SYNC_PID"
wait "$SYNC_PID" || true
SYNC_PID=
latency=$(pgval -d "$PGDST" -c "SELECT concat_ws(' / ', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
    round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 1), round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1)) || ' (' || count(*) || ' rows)'
  FROM (SELECT extract(epoch FROM applied_at - changed_at) * 1000 AS ms FROM bench_events
        WHERE changed_at BETWEEN '$started' AND '$ended') AS l")
tps=$(grep -E 'transactions:' "$WORK/sysbench.out" | head -1 | sed -E 's/.*\((.*) per sec\.\)/\1 tps/')
row="| migrator sync MariaDB->PostgreSQL (own load phase: sysbench, $tps) | $latency | $catchup |"
echo "$row"
mkdir -p "$(dirname "$REPORT")"
echo "$row" >>"$REPORT"
echo "appended to $REPORT"

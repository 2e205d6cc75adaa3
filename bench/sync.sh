#!/usr/bin/env bash
# The sync benchmark (`just bench-sync`): latency from source commit to destination
# commit, and whether the destination keeps up, for `migrator sync` beside PostgreSQL's
# native logical replication (PUBLICATION/SUBSCRIPTION) PostgreSQL -> PostgreSQL, the
# anchor, under the same load at the same moment.
#
# One phase per pair, one after another: sync PostgreSQL->PostgreSQL, PostgreSQL->MariaDB,
# MariaDB->PostgreSQL. In a phase with a PostgreSQL source the anchor follows the same
# source beside sync (the same commits, the same moment: on a machine shared with other
# work, figures from different minutes are not comparable), so each ratio is within one
# phase; with BENCH_SYNC_ANCHOR=apart the anchor has a phase of its own just before. Each phase copies the source table into fresh destinations, then a load
# generator commits transactions at a fixed rate (open loop: pgbench -R for a PostgreSQL
# source, sysbench --rate for MariaDB) to `bench_events`: inserts, updates and deletes
# (5:4:1), each row carrying its statement's clock (`changed_at`). A transaction holds
# BENCH_SYNC_TXN changes: 1 is one single-statement transaction per change (the commit
# follows the clock within microseconds); 10 is 5 inserts, 4 updates and 1 delete in one
# transaction, as OLTP transactions change several rows (a
# change's latency then also holds the rest of its transaction, well under a
# millisecond). Each of the 8 clients updates and deletes only its own rows (id modulo
# 8), so multi-row transactions never deadlock one another. The rate delivered is what
# the source counted (pg_stat_user_tables' n_tup_ins + n_tup_upd + n_tup_del, MariaDB's
# userstat ROWS_CHANGED), not what was asked: an update or delete of a row deleted
# earlier changes nothing, and a generator short of CPU falls behind its schedule. Each
# destination stamps every row it applies with its own clock (`applied_at`, a trigger;
# the native subscription's apply fires it only with ENABLE ALWAYS TRIGGER), so a
# change's latency is applied_at - changed_at (one machine, one clock). Deletes leave no
# row to stamp and are counted, not timed. Percentiles are over the rows changed during
# the load (a row's last change). After the load, the time a destination takes to hold
# the source's row count is the backlog it had: one that keeps up catches up in well
# under a second. CPU: cores the consumer's own process used during the load (migrator;
# native: its apply worker; neither counts the source's WAL decoding), and how busy the
# whole machine was.
#
# Environment:
#   BENCH_SYNC_RATE=10500     changes per second asked of the generator: a little over
#                             the 10,000 of the target, as an update or delete of a row
#                             deleted earlier (or twice in one transaction) changes nothing
#   BENCH_SYNC_TXN="1 10"     changes per source transaction; each pair runs once per value
#   BENCH_SYNC_SECONDS=30     seconds of load per phase
#   BENCH_SYNC_ROWS=1000000   rows loaded before the run (updates and deletes pick among
#                             them; a million keeps the share already deleted small)
#   BENCH_SYNC_PAIRS="pg-pg pg-my my-pg pg-both"   phases to run; pg-both is a sync
#                             both ways between two PostgreSQL databases, each side
#                             writing BENCH_SYNC_BOTH_RATE (5000; a list runs each)
#                             changes/s, p95 per way
#   BENCH_SYNC_ANCHOR=beside  the anchor follows the same load as sync at the same
#                             moment; apart: the anchor alone on the load, then sync
#                             alone on an equal one (a machine with few cores)
#   BENCH_SYNC_STEPS=""       also a step-up: PostgreSQL->PostgreSQL beside the anchor at
#                             these rates (e.g. "5000 10000 15000"), BENCH_SYNC_STEP_SECONDS
#                             (15) each, with the last BENCH_SYNC_TXN, until sync's p95 is over 100 ms or its catch-up
#                             takes over a second
#   BENCH_PROFILE=release     cargo profile of migrator/codegen (`dev`: the debug build)
#   BENCH_REPORT=FILE         also write the results as Markdown (default target/bench/sync.md)
#   PGHOST PGPORT PGUSER      the PostgreSQL server (default 127.0.0.1 5432 postgres)
#   BENCH_MY_HOST BENCH_MY_PORT BENCH_MY_USER BENCH_MY_PASSWORD  the MariaDB server
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
cd "$ROOT"

RATE=${BENCH_SYNC_RATE:-10500}
SECS=${BENCH_SYNC_SECONDS:-30}
ROWS=${BENCH_SYNC_ROWS:-1000000}
PAIRS=${BENCH_SYNC_PAIRS:-pg-pg pg-my my-pg pg-both}
BOTH_RATE=${BENCH_SYNC_BOTH_RATE:-5000}
TXNS=${BENCH_SYNC_TXN:-1 10}
CLIENTS=8
STEPS=${BENCH_SYNC_STEPS:-}
ANCHOR=${BENCH_SYNC_ANCHOR:-beside}
[[ $ANCHOR == beside || $ANCHOR == apart ]] || die "BENCH_SYNC_ANCHOR is $ANCHOR: beside (the anchor on the same load at the same moment) or apart (each alone, one after the other)"
STEP_SECS=${BENCH_SYNC_STEP_SECONDS:-15}
PROFILE=${BENCH_PROFILE:-release}
REPORT=${BENCH_REPORT:-${CARGO_TARGET_DIR:-$ROOT/target}/bench/sync.md}
SRC=seaway_bench_sync_src
MYSRC=seaway_bench_sync_mysrc
PGDST=seaway_bench_sync_pg
NATIVE=seaway_bench_sync_native
MYDST=seaway_bench_sync_my
WORK=$(mktemp -d)
CONSUMER=""

stop_consumer() {
  if [[ -n $CONSUMER ]]; then
    kill -TERM "$CONSUMER" 2>/dev/null || true
    wait "$CONSUMER" 2>/dev/null || true
    CONSUMER=""
  fi
}
drop_all() {
  stop_consumer
  pg -d "$NATIVE" -c "DROP SUBSCRIPTION IF EXISTS bench_native" >/dev/null 2>&1 || true
  for dir in "$WORK"/*/; do
    [[ -f $dir/seaway.yaml ]] && (cd "$dir" && "$MIGRATOR" sync drop >/dev/null 2>&1) || true
  done
  pg -d postgres -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$SRC' AND NOT active" >/dev/null 2>&1 || true
  for db in "$SRC" "$PGDST" "$NATIVE"; do
    pg -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
  my -e "DROP DATABASE IF EXISTS $MYDST; DROP DATABASE IF EXISTS $MYSRC" >/dev/null 2>&1 || true
}
# MariaDB counts the rows each table changed (what the generator delivered) only with
# userstat on; the server's own setting is put back at the end.
USERSTAT=""
restore_userstat() {
  [[ -z $USERSTAT ]] || my -e "SET GLOBAL userstat = $USERSTAT" >/dev/null 2>&1 || true
}
trap 'drop_all; restore_userstat; rm -rf "$WORK"' EXIT

tools=()
[[ " $PAIRS " == *" my-pg "* ]] && tools+=(sysbench)
bench_tools "${tools[@]}"
if [[ " $PAIRS " == *" my-pg "* ]]; then
  USERSTAT=$(my -N -B -e "SELECT @@global.userstat")
  my -e "SET GLOBAL userstat = 1"
fi
if [[ $PROFILE == release ]]; then
  bench_build
  MIGRATOR=$BENCH_MIGRATOR
else
  log "cargo build (dev)"
  cargo build --locked -p seaway-migrator -p seaway-codegen
  MIGRATOR=${CARGO_TARGET_DIR:-$ROOT/target}/debug/migrator
  CODEGEN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/codegen
fi

log "source tables ($ROWS rows)"
fresh_pg_db "$SRC"
pg -d "$SRC" -c "CREATE TABLE bench_events (id bigint PRIMARY KEY, v integer NOT NULL, changed_at timestamp(6) NOT NULL DEFAULT (clock_timestamp() AT TIME ZONE 'UTC'));
  INSERT INTO bench_events (id, v) SELECT i, 0 FROM generate_series(1, $ROWS) AS i;
  CREATE SEQUENCE bench_ids START $((ROWS + 1));"
if [[ " $PAIRS " == *" my-pg "* ]]; then
  my -e "DROP DATABASE IF EXISTS $MYSRC; CREATE DATABASE $MYSRC"
  my "$MYSRC" -e "CREATE TABLE bench_events (id bigint PRIMARY KEY AUTO_INCREMENT, v integer NOT NULL, changed_at datetime(6) NOT NULL);
    INSERT INTO bench_events (id, v, changed_at) SELECT seq, 0, UTC_TIMESTAMP(6) FROM seq_1_to_$ROWS;"
fi
# pg_txn_sql N OFFSET PER: a pgbench script of one transaction of N changes, as one
# statement (a data-modifying WITH, so one round trip): round(N/2) inserts, round(0.4 N)
# updates and the rest deletes, the updates and deletes among client c's own rows
# OFFSET + 1 + c + CLIENTS k (k < PER). One statement rather than BEGIN, three
# statements and COMMIT: the source's WAL is the same (one transaction of N changes), but
# the generator and its backends need about a fifth of the round trips, which on a small
# machine is CPU taken from the consumers being measured.
pg_txn_sql() {
  local n=$1 off=$2 per=$3 ni nu nd
  ni=$(((n * 5 + 5) / 10)) nu=$(((n * 4 + 5) / 10))
  ((ni + nu <= n)) || nu=$((n - ni))
  nd=$((n - ni - nu))
  local ids="ARRAY(SELECT $off + 1 + :client_id + $CLIENTS * floor(random() * $per)::bigint FROM generate_series(1, %d))"
  printf "WITH ins AS (INSERT INTO bench_events (id, v) SELECT nextval('bench_ids'), 1 FROM generate_series(1, %d) RETURNING 1)" "$ni"
  # shellcheck disable=SC2059
  ((nu == 0)) || printf ", upd AS (UPDATE bench_events SET v = v + 1, changed_at = clock_timestamp() AT TIME ZONE 'UTC' WHERE id = ANY ($ids) RETURNING 1)" "$nu"
  # shellcheck disable=SC2059
  ((nd == 0)) || printf ", del AS (DELETE FROM bench_events WHERE id = ANY ($ids) RETURNING 1)" "$nd"
  echo " SELECT (SELECT count(*) FROM ins)$( ((nu == 0)) || echo " + (SELECT count(*) FROM upd)")$( ((nd == 0)) || echo " + (SELECT count(*) FROM del)");"
}
# load_scripts N: the generator's scripts for N changes per transaction, in $WORK/load-N
# (pgbench scripts for a PostgreSQL source, load.lua for sysbench): with N = 1 one
# single-statement transaction per change, drawn 5:4:1; otherwise pg_txn_sql's one
# statement, or for sysbench a transaction of one multi-row INSERT, one UPDATE and one
# DELETE over lists of ids. Client c (0-based) updates and
# deletes only ids 1 + c + CLIENTS k of the loaded rows: no two transactions wait on each
# other's rows, so none deadlocks.
load_scripts() {
  local n=$1 dir="$WORK/load-$1" ni nu nd per=$((ROWS / CLIENTS))
  ni=$(((n * 5 + 5) / 10)) nu=$(((n * 4 + 5) / 10))
  ((ni + nu <= n)) || nu=$((n - ni))
  nd=$((n - ni - nu))
  mkdir -p "$dir"
  if ((n == 1)); then
    cat >"$dir/insert.sql" <<'SQL'
INSERT INTO bench_events (id, v) VALUES (nextval('bench_ids'), 1);
SQL
    cat >"$dir/update.sql" <<SQL
\set id 1 + :client_id + $CLIENTS * random(0, $((per - 1)))
UPDATE bench_events SET v = v + 1, changed_at = clock_timestamp() AT TIME ZONE 'UTC' WHERE id = :id;
SQL
    cat >"$dir/delete.sql" <<SQL
\set id 1 + :client_id + $CLIENTS * random(0, $((per - 1)))
DELETE FROM bench_events WHERE id = :id;
SQL
    PG_LOAD=(-f "$dir/insert.sql@5" -f "$dir/update.sql@4" -f "$dir/delete.sql@1")
  else
    pg_txn_sql "$n" 0 "$per" >"$dir/txn.sql"
    PG_LOAD=(-f "$dir/txn.sql")
  fi
  cat >"$dir/load.lua" <<LUA
-- The same mix for a MariaDB source: $n change(s) per transaction.
local n, ni, nu, nd, clients, per = $n, $ni, $nu, $nd, $CLIENTS, $per
function thread_init()
  con = sysbench.sql.driver():connect()
end
function thread_done()
  con:disconnect()
end
local function ids(k)
  local t = {}
  for i = 1, k do t[i] = 1 + sysbench.tid + clients * sysbench.rand.uniform(0, per - 1) end
  return table.concat(t, ",")
end
function event()
  if n == 1 then
    local r = sysbench.rand.uniform(1, 10)
    if r <= 5 then
      con:query("INSERT INTO bench_events (v, changed_at) VALUES (1, UTC_TIMESTAMP(6))")
    elseif r <= 9 then
      con:query("UPDATE bench_events SET v = v + 1, changed_at = UTC_TIMESTAMP(6) WHERE id = " .. ids(1))
    else
      con:query("DELETE FROM bench_events WHERE id = " .. ids(1))
    end
    return
  end
  con:query("BEGIN")
  con:query("INSERT INTO bench_events (v, changed_at) VALUES " .. string.rep("(1, UTC_TIMESTAMP(6))", ni, ","))
  if nu > 0 then con:query("UPDATE bench_events SET v = v + 1, changed_at = UTC_TIMESTAMP(6) WHERE id IN (" .. ids(nu) .. ")") end
  if nd > 0 then con:query("DELETE FROM bench_events WHERE id IN (" .. ids(nd) .. ")") end
  con:query("COMMIT")
end
LUA
}
# changed KIND: rows of bench_events the source changed so far, by its own count.
changed() {
  if [[ $1 == pg ]]; then
    pgval -d "$SRC" -c "SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE relname = 'bench_events'"
  else
    my -N -B -e "SELECT coalesce(sum(rows_changed), 0) FROM information_schema.table_statistics WHERE table_schema = '$MYSRC' AND table_name = 'bench_events'"
  fi
}
# settled_changed KIND: `changed` once the generator's sessions have gone and their counts
# reached the statistics (a PostgreSQL backend reports its counts as it exits).
settled_changed() {
  local last="" now
  for _ in $(seq 1 100); do
    if [[ $1 == pg ]]; then
      [[ $(pgval -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$SRC' AND application_name = 'pgbench'") == 0 ]] || { sleep 0.1; continue; }
    fi
    now=$(changed "$1")
    [[ $now == "$last" ]] && break
    last=$now
    sleep 0.2
  done
  echo "$now"
}

STAMP_PG="ALTER TABLE bench_events ADD COLUMN applied_at timestamp(6);
  CREATE FUNCTION stamp() RETURNS trigger AS \$\$ BEGIN NEW.applied_at := clock_timestamp() AT TIME ZONE 'UTC'; RETURN NEW; END \$\$ LANGUAGE plpgsql;
  CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON bench_events FOR EACH ROW EXECUTE FUNCTION stamp();"
STAMP_MY="ALTER TABLE bench_events ADD COLUMN applied_at DATETIME(6);
  CREATE TRIGGER stamp_i BEFORE INSERT ON bench_events FOR EACH ROW SET NEW.applied_at = UTC_TIMESTAMP(6);
  CREATE TRIGGER stamp_u BEFORE UPDATE ON bench_events FOR EACH ROW SET NEW.applied_at = UTC_TIMESTAMP(6);"

count() { # KIND DB: rows of bench_events
  if [[ $1 == pg ]]; then pgval -d "$2" -c "SELECT count(*) FROM bench_events"; else my -N -B "$2" -e "SELECT count(*) FROM bench_events"; fi
}
wait_rows() { # KIND DB ROWS SECONDS [PID]: waits until the destination holds ROWS rows
  local deadline=$((SECONDS + $4)) n
  while :; do
    n=$(count "$1" "$2" 2>/dev/null || echo "?")
    [[ $n == "$3" ]] && return 0
    ((SECONDS < deadline)) || { echo "$2 holds $n of $3 rows after $4 s" >&2; return 1; }
    if [[ -n ${5:-} ]] && ! kill -0 "$5" 2>/dev/null; then
      echo "the consumer stopped" >&2
      return 1
    fi
    sleep 0.05
  done
}
cpu_ticks() { # PID: user+system clock ticks of a process (0 when gone)
  awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
busy_ticks() { # "busy total" ticks of the whole machine
  awk '/^cpu / { idle = $5 + $6; total = 0; for (i = 2; i <= NF; i++) total += $i; print total - idle, total }' /proc/stat
}
stamp() { # KIND DB: the destination's stamping trigger
  if [[ $1 == pg ]]; then pg -d "$2" -c "$STAMP_PG"; else my "$2" -e "$STAMP_MY"; fi
}

# phase PAIR RATE SECS TXN [WHO]: the consumers WHO (both: the sync pair and beside it
# on the same load the anchor, native replication from the same PostgreSQL source; sync
# or native: that one alone), TXN changes per source transaction; a MariaDB source has no
# anchor. Appends a result line per consumer to $WORK/rows. Sets P95 and CATCHUP (the
# sync pair's).
phase() {
  local pair=$1 rate=$2 secs=$3 txn=$4 who=${5:-both} src_kind=pg dst_kind=pg dst=$PGDST src_db=$SRC src_url dst_url
  local dir="$WORK/$pair-$rate-$txn-$who"
  mkdir -p "$dir"
  case $pair in
    pg-pg) ;;
    pg-my) dst_kind=my dst=$MYDST ;;
    my-pg) src_kind=my src_db=$MYSRC ;;
    *) die "unknown pair $pair (BENCH_SYNC_PAIRS: pg-pg pg-my my-pg)" ;;
  esac
  [[ $src_kind == pg ]] || who=sync
  local label
  case $who in
    both) label="$pair and native replication beside it" ;;
    sync) label="$pair alone" ;;
    native) label="native replication alone" ;;
    *) die "unknown consumers $who" ;;
  esac
  log "$label: $rate changes/s, $txn per transaction, for $secs s"
  CONSUMER=""
  if [[ $who != native ]]; then
    if [[ $dst_kind == pg ]]; then fresh_pg_db "$dst"; else my -e "DROP DATABASE IF EXISTS $dst; CREATE DATABASE $dst"; fi
    local my_url="mysql://$BENCH_MY_USER${BENCH_MY_PASSWORD:+:$BENCH_MY_PASSWORD}@$BENCH_MY_HOST:$BENCH_MY_PORT"
    if [[ $src_kind == pg ]]; then src_url="postgres://$PGUSER@$PGHOST:$PGPORT/$SRC"; else src_url="$my_url/$MYSRC"; fi
    if [[ $dst_kind == pg ]]; then dst_url="postgres://$PGUSER@$PGHOST:$PGPORT/$dst"; else dst_url="$my_url/$dst"; fi
    printf 'connections:\n  src: { url: "%s" }\n  dst: { url: "%s" }\nsource: src\ndestination: dst\ntables:\n  include: [bench_events]\n' \
      "$src_url" "$dst_url" >"$dir/seaway.yaml"
    (cd "$dir" && "$CODEGEN" diff >/dev/null 2>&1 && "$MIGRATOR" apply >/dev/null)
    stamp "$dst_kind" "$dst"
    (cd "$dir" && exec "$MIGRATOR" sync --report report.json >sync.out 2>sync.err) &
    CONSUMER=$!
  fi
  local anchor=""
  if [[ $who != sync ]]; then
    anchor=$NATIVE
    # The same table, subscribed natively. The slot is created first: a subscription to
    # a publication on its own cluster hangs at CREATE otherwise.
    fresh_pg_db "$NATIVE"
    pg -d "$NATIVE" -c "CREATE TABLE bench_events (id bigint PRIMARY KEY, v integer NOT NULL, changed_at timestamp(6) NOT NULL);" -c "$STAMP_PG" \
      -c "ALTER TABLE bench_events ENABLE ALWAYS TRIGGER stamp;"
    pg -d "$SRC" -c "DROP PUBLICATION IF EXISTS bench_native" -c "CREATE PUBLICATION bench_native FOR TABLE bench_events" \
      -c "SELECT pg_create_logical_replication_slot('bench_native', 'pgoutput')" >/dev/null
    pg -d "$NATIVE" -c "CREATE SUBSCRIPTION bench_native CONNECTION 'host=$PGHOST port=$PGPORT user=$PGUSER dbname=$SRC' PUBLICATION bench_native WITH (create_slot = false, slot_name = 'bench_native', copy_data = true)"
  fi
  local want
  want=$(count "$src_kind" "$src_db")
  if [[ -n $CONSUMER ]] && ! wait_rows "$dst_kind" "$dst" "$want" 300 "$CONSUMER"; then
    echo "| $pair | $txn | $rate | not measured: $(grep -m1 -i error "$dir/sync.err" | cut -c1-160) | | | | | | | | |" | tee -a "$WORK/rows"
    end_phase "$dir"
    return 1
  fi
  [[ -z $anchor ]] || wait_rows pg "$anchor" "$want" 300
  local native_pid=""
  [[ -z $anchor ]] || native_pid=$(pgval -d postgres -c "SELECT pid FROM pg_stat_subscription WHERE subname = 'bench_native' AND relid IS NULL LIMIT 1")
  local started ended cpu0 cpu1 ncpu0 ncpu1 m0 m1 out="$dir/load.out" now ch0 ch1
  load_scripts "$txn"
  if [[ $src_kind == pg ]]; then now="pgval -d $SRC -c \"SELECT clock_timestamp() AT TIME ZONE 'UTC'\""; else now="my -N -B -e 'SELECT UTC_TIMESTAMP(6)'"; fi
  started=$(eval "$now")
  ch0=$(settled_changed "$src_kind")
  cpu0=$(cpu_ticks "$CONSUMER") ncpu0=$(cpu_ticks "${native_pid:-0}") m0=$(busy_ticks)
  # The generator is asked for RATE/TXN transactions a second.
  if [[ $src_kind == pg ]]; then
    pgbench -n -M prepared -d "$SRC" -c "$CLIENTS" -j 2 -R "$((rate / txn))" -T "$secs" "${PG_LOAD[@]}" >"$out" 2>&1 || true
  else
    sysbench --db-driver=mysql --mysql-host="$BENCH_MY_HOST" --mysql-port="$BENCH_MY_PORT" --mysql-user="$BENCH_MY_USER" \
      ${BENCH_MY_PASSWORD:+--mysql-password="$BENCH_MY_PASSWORD"} --mysql-db="$MYSRC" \
      --threads="$CLIENTS" --rate="$((rate / txn))" --time="$secs" "$WORK/load-$txn/load.lua" run >"$out" 2>&1 || true
  fi
  cpu1=$(cpu_ticks "$CONSUMER") ncpu1=$(cpu_ticks "${native_pid:-0}") m1=$(busy_ticks)
  ended=$(eval "$now")
  ch1=$(settled_changed "$src_kind")
  local delivered
  delivered=$(awk -v a="$ch0" -v b="$ch1" -v s="$secs" 'BEGIN { printf "%.0f", (b - a) / s }')
  local tps catchup
  if [[ $src_kind == pg ]]; then
    tps=$(grep -E '^tps' "$out" | head -1 | sed -E 's/tps = ([0-9]+).*/\1/')
  else
    tps=$(grep -E 'transactions:' "$out" | head -1 | sed -E 's/.*\(([0-9]+)\.[0-9]* per sec.*/\1/')
  fi
  local busy
  busy=$(awk -v a="$m0" -v b="$m1" 'BEGIN { split(a, x, " "); split(b, y, " "); if (y[2] > x[2]) printf "%.0f%%", 100 * (y[1] - x[1]) / (y[2] - x[2]); else print "?" }')
  want=$(count "$src_kind" "$src_db")
  # The catch-up of both consumers, watched together from the end of the load.
  local t0 names name kind db c0 c1 lat line
  declare -A caught=()
  names="$([[ -n $anchor ]] && echo native) $([[ -n $CONSUMER ]] && echo "$pair")"
  t0=$(date +%s.%N)
  while :; do
    for name in $names; do
      [[ -n ${caught[$name]:-} ]] && continue
      if [[ $name == native ]]; then kind=pg db=$anchor; else kind=$dst_kind db=$dst; fi
      [[ $(count "$kind" "$db" 2>/dev/null) == "$want" ]] &&
        caught[$name]=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
    done
    local all=1
    for name in $names; do [[ -n ${caught[$name]:-} ]] || all=""; done
    [[ -z $all ]] || break
    awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { exit !(a - b > 600) }' && break
    sleep 0.05
  done
  # Each consumer's latencies (ms) over the rows changed during the load, ranked here.
  for name in $names; do
    if [[ $name == native ]]; then kind=pg db=$anchor c0=$ncpu0 c1=$ncpu1; else kind=$dst_kind db=$dst c0=$cpu0 c1=$cpu1; fi
    catchup=${caught[$name]:-over 600}
    if [[ $kind == pg && $src_kind == pg ]]; then
      pgval -d "$db" -c "SELECT extract(epoch FROM applied_at - changed_at) * 1000 FROM bench_events WHERE changed_at BETWEEN '$started' AND '$ended'" >"$dir/$name.ms"
    elif [[ $kind == my ]]; then
      my -N -B "$db" -e "SELECT id, applied_at FROM bench_events WHERE applied_at IS NOT NULL" >"$dir/applied.tsv"
      pgval -d "$SRC" -c "CREATE TEMP TABLE t (id bigint, applied_at timestamp(6))" -c "\\copy t FROM '$dir/applied.tsv'" \
        -c "SELECT extract(epoch FROM t.applied_at - e.changed_at) * 1000 FROM t JOIN bench_events e USING (id) WHERE e.changed_at BETWEEN '$started' AND '$ended'" >"$dir/$name.ms"
    else
      pgval -d "$db" -c "SELECT extract(epoch FROM applied_at - changed_at) * 1000 FROM bench_events WHERE changed_at BETWEEN '$started' AND '$ended'" >"$dir/$name.ms"
    fi
    lat=$(grep -v '^$' "$dir/$name.ms" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "no rows | | |"; exit }
        split("0.5 0.95 0.99", q, " ");
        for (i = 1; i <= 3; i++) { k = int(q[i] * NR + 0.999999); if (k < 1) k = 1; r[i] = v[k] }
        printf "%.1f | %.1f | %.1f | %.1f", r[1], r[2], r[3], v[NR] }')
    line="| $name | $txn | $rate | $delivered | ${tps:-?} | $lat | $catchup | $(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" -v s="$secs" 'BEGIN { printf "%.2f", (b - a) / hz / s }') | $busy |"
    echo "$line" | tee -a "$WORK/rows"
    if [[ $name == "$pair" ]]; then
      P95=$(echo "$lat" | awk -F' [|] ' '{ print $2 }')
      CATCHUP=$catchup
    fi
  done
  end_phase "$dir"
}
# measure PAIR RATE SECS TXN: one pair's figures and the anchor's on the same load:
# beside it at the same moment (BENCH_SYNC_ANCHOR=beside), or apart, the anchor alone
# just before sync alone (apart: on a small machine two consumers and the generator
# share the cores, so neither's figures are those it would have on its own). Returns
# sync's phase's status.
measure() {
  if [[ $ANCHOR == apart && $1 != my-pg ]]; then
    phase "$@" native || true
    phase "$@" sync
  else
    phase "$@" both
  fi
}
end_phase() { # DIR: stops the phase's consumers and drops what they made; keeps sync's output
  stop_consumer
  mkdir -p "$(dirname "$REPORT")"
  cat "$1/sync.out" "$1/sync.err" >"$(dirname "$REPORT")/sync-$(basename "$1").log" 2>/dev/null || true
  pg -d "$NATIVE" -c "DROP SUBSCRIPTION IF EXISTS bench_native" >/dev/null 2>&1 || true
  (cd "$1" && "$MIGRATOR" sync drop >/dev/null 2>&1) || true
}

# phase_both RATE SECS TXN: a sync both ways between the source database and a fresh one
# (`sync.direction: both`), each side committing RATE changes/s to its own half of the
# keys (a monolith and a service each owning their rows: no conflicts, so latency is the
# streams' own). Each side stamps a row with its clock when the sync applies it (the
# trigger asks whether the session runs under a replication origin, as sync's applying
# session does; a local write clears the stamp), so each way's latency is measured on
# the side it arrives at. Appends one result line per way to $WORK/rows.
phase_both() {
  local rate=$1 secs=$2 txn=$3 dir="$WORK/pg-both-$1-$3" a=$SRC b=$PGDST
  mkdir -p "$dir"
  log "pg-both: $rate changes/s on each side, $txn per transaction, for $secs s"
  [[ $(pgval -d postgres -c "SHOW track_commit_timestamp") == on ]] ||
    { echo "| pg-both | $txn | $rate | not measured: track_commit_timestamp is off (bash .ci/capture-settings turns it on) | | | | | | | | |" | tee -a "$WORK/rows"; return 1; }
  fresh_pg_db "$b"
  local stamp="CREATE OR REPLACE FUNCTION stamp_both() RETURNS trigger AS \$\$ BEGIN
      NEW.applied_at := CASE WHEN pg_replication_origin_session_is_setup() THEN clock_timestamp() AT TIME ZONE 'UTC' END;
      RETURN NEW; END \$\$ LANGUAGE plpgsql;
    CREATE OR REPLACE TRIGGER stamp BEFORE INSERT OR UPDATE ON bench_events FOR EACH ROW EXECUTE FUNCTION stamp_both();
    ALTER TABLE bench_events REPLICA IDENTITY FULL;"
  pg -d "$a" -c "ALTER TABLE bench_events ADD COLUMN IF NOT EXISTS applied_at timestamp(6)" -c "$stamp"
  printf 'connections:\n  a: { url: "%s" }\n  b: { url: "%s" }\nsource: a\ndestination: b\ntables:\n  include: [bench_events]\nsync:\n  direction: both\n' \
    "postgres://$PGUSER@$PGHOST:$PGPORT/$a" "postgres://$PGUSER@$PGHOST:$PGPORT/$b" >"$dir/seaway.yaml"
  (cd "$dir" && "$CODEGEN" diff >/dev/null 2>&1 && "$MIGRATOR" apply >/dev/null)
  pg -d "$b" -c "$stamp" -c "CREATE SEQUENCE IF NOT EXISTS bench_ids START 1000000000"
  (cd "$dir" && exec "$MIGRATOR" sync --report report.json >sync.out 2>sync.err) &
  CONSUMER=$!
  local want
  want=$(count pg "$a")
  if ! wait_rows pg "$b" "$want" 300 "$CONSUMER"; then
    echo "| pg-both | $txn | $rate | not measured: $(grep -m1 -i error "$dir/sync.err" | cut -c1-160) | | | | | | | | |" | tee -a "$WORK/rows"
    end_phase "$dir"
    return 1
  fi
  # The destination's inserts take keys from 10^9 up, past any an earlier phase's
  # destination inserted (the copy brought those back).
  pgval -d "$b" -c "SELECT setval('bench_ids', greatest(1000000000, (SELECT coalesce(max(id), 0) + 1 FROM bench_events)))" >/dev/null
  # Each side's generator: the side's half of the loaded keys for updates and deletes.
  local half=$((ROWS / 2)) per=$((ROWS / 2 / CLIENTS)) side off db
  for side in a b; do
    if [[ $side == a ]]; then off=0; else off=$half; fi
    mkdir -p "$WORK/both-$side"
    pg_txn_sql "$txn" "$off" "$per" >"$WORK/both-$side/txn.sql"
  done
  local started ended cpu0 cpu1 m0 m1
  started=$(pgval -d "$a" -c "SELECT clock_timestamp() AT TIME ZONE 'UTC'")
  cpu0=$(cpu_ticks "$CONSUMER") m0=$(busy_ticks)
  pgbench -n -M prepared -d "$a" -c "$CLIENTS" -j 1 -R "$((rate / txn))" -T "$secs" -f "$WORK/both-a/txn.sql" >"$dir/load-a.out" 2>&1 &
  local gen_a=$!
  pgbench -n -M prepared -d "$b" -c "$CLIENTS" -j 1 -R "$((rate / txn))" -T "$secs" -f "$WORK/both-b/txn.sql" >"$dir/load-b.out" 2>&1 || true
  wait "$gen_a" || true
  cpu1=$(cpu_ticks "$CONSUMER") m1=$(busy_ticks)
  ended=$(pgval -d "$a" -c "SELECT clock_timestamp() AT TIME ZONE 'UTC'")
  local busy
  busy=$(awk -v a="$m0" -v b="$m1" 'BEGIN { split(a, x, " "); split(b, y, " "); if (y[2] > x[2]) printf "%.0f%%", 100 * (y[1] - x[1]) / (y[2] - x[2]); else print "?" }')
  # Caught up when both sides hold the same rows (count and sum of v), watched from the
  # end of the load.
  local t0 catchup="over 600" sa sb
  t0=$(date +%s.%N)
  while :; do
    sa=$(pgval -d "$a" -c "SELECT count(*) || ':' || coalesce(sum(v), 0) FROM bench_events")
    sb=$(pgval -d "$b" -c "SELECT count(*) || ':' || coalesce(sum(v), 0) FROM bench_events")
    if [[ $sa == "$sb" ]]; then
      catchup=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
      break
    fi
    awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { exit !(a - b > 600) }' && break
    sleep 0.05
  done
  local way from to lat delivered tps
  for way in "a b" "b a"; do
    read -r from to <<<"$way"
    # The side's own changes: its table's counts hold the other side's, applied by
    # sync, too, so the generator's transactions are counted instead.
    tps=$(grep -E '^tps' "$dir/load-$from.out" | head -1 | sed -E 's/tps = ([0-9]+).*/\1/')
    delivered=$((${tps:-0} * txn))
    [[ -n $tps ]] || echo "the generator on $from did not run: $(tail -3 "$dir/load-$from.out" | tr '\n' ' ')" >&2
    pgval -d "$([[ $to == a ]] && echo "$a" || echo "$b")" -c "SELECT extract(epoch FROM applied_at - changed_at) * 1000 FROM bench_events WHERE applied_at IS NOT NULL AND changed_at BETWEEN '$started' AND '$ended'" >"$dir/$from$to.ms"
    lat=$(grep -v '^$' "$dir/$from$to.ms" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "no rows | | |"; exit }
        split("0.5 0.95 0.99", q, " ");
        for (i = 1; i <= 3; i++) { k = int(q[i] * NR + 0.999999); if (k < 1) k = 1; r[i] = v[k] }
        printf "%.1f | %.1f | %.1f | %.1f", r[1], r[2], r[3], v[NR] }')
    echo "| pg-both, $([[ $from == a ]] && echo "source to destination" || echo "destination to source") | $txn | $rate | $delivered | ${tps:-?} | $lat | $catchup | $(awk -v a="$cpu0" -v b="$cpu1" -v hz="$(getconf CLK_TCK)" -v s="$secs" 'BEGIN { printf "%.2f", (b - a) / hz / s }') | $busy |" | tee -a "$WORK/rows"
  done
  end_phase "$dir"
  pg -d "$a" -c "DROP TRIGGER IF EXISTS stamp ON bench_events" -c "DROP FUNCTION IF EXISTS stamp_both()" \
    -c "ALTER TABLE bench_events DROP COLUMN IF EXISTS applied_at" -c "ALTER TABLE bench_events REPLICA IDENTITY DEFAULT" >/dev/null
}

: >"$WORK/rows"
for pair in $PAIRS; do
  if [[ $pair == pg-both ]]; then
    for rate in $BOTH_RATE; do
      phase_both "$rate" "$SECS" "${TXNS##* }" || true
    done
    continue
  fi
  for txn in $TXNS; do
    measure "$pair" "$RATE" "$SECS" "$txn" || true
  done
done
# The step-up: PostgreSQL->PostgreSQL beside the anchor at rising rates, until sync's p95
# passes 100 ms or it falls behind (a catch-up over a second).
: >"$WORK/steps"
if [[ -n $STEPS ]]; then
  cp "$WORK/rows" "$WORK/rows.main"
  for rate in $STEPS; do
    P95="" CATCHUP=""
    : >"$WORK/rows"
    measure pg-pg "$rate" "$STEP_SECS" "${TXNS##* }" || break
    cat "$WORK/rows" >>"$WORK/steps"
    awk -v p="$P95" -v c="$CATCHUP" 'BEGIN { exit !(p != "" && p + 0 <= 100 && c != "over 600" && c + 0 <= 1) }' || break
  done
  cp "$WORK/rows.main" "$WORK/rows"
fi

ratios() { # FILE: each sync row's p50/p95/p99/max over the native row of its phase (the row above)
  awk -F' [|] ' '$1 == "| native" { for (i = 6; i <= 9; i++) n[i] = $i; have = 1; next }
    { name = substr($1, 3); if (!have || $6 + 0 <= 0) { have = 0; next }
      line = "| " name " at " $3 "/s, " $2 " per transaction";
      for (i = 6; i <= 9; i++) line = line sprintf(" | %.1fx", (n[i] > 0 ? $i / n[i] : 0));
      print line " |"; have = 0 }' "$1"
}
{
  echo "### bench-sync: $(date -u +%F) ($PROFILE build, $(git rev-parse --short HEAD)), $RATE changes/s for $SECS s per pair, $TXNS change(s) per transaction, the anchor $ANCHOR"
  echo
  echo "| consumer | changes/txn | changes/s asked | changes/s done | txn/s done | p50 ms | p95 ms | p99 ms | max ms | catch-up s | consumer CPU (cores) | machine busy |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  cat "$WORK/rows"
  echo
  echo "| ratio to native replication in the same phase | p50 | p95 | p99 | max |"
  echo "|---|---:|---:|---:|---:|"
  ratios "$WORK/rows"
  if [[ -s $WORK/steps ]]; then
    echo
    echo "Step-up, PostgreSQL->PostgreSQL $([[ $ANCHOR == apart ]] && echo "and native replication, each alone" || echo "beside native replication") ($STEP_SECS s per rate; stops at the first rate where sync's p95 is over 100 ms or its catch-up over 1 s):"
    echo
    echo "| consumer | changes/txn | changes/s asked | changes/s done | txn/s done | p50 ms | p95 ms | p99 ms | max ms | catch-up s | consumer CPU (cores) | machine busy |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    cat "$WORK/steps"
    echo
    echo "| ratio to native replication in the same phase | p50 | p95 | p99 | max |"
    echo "|---|---:|---:|---:|---:|"
    ratios "$WORK/steps"
  fi
} | tee "$WORK/report.md"
mkdir -p "$(dirname "$REPORT")"
cp "$WORK/report.md" "$REPORT"
echo "written to $REPORT"

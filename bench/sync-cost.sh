#!/usr/bin/env bash
# CPU per change of `migrator sync` (`just bench-sync-cost`), as instructions counted by
# valgrind's callgrind: valid on a loaded machine, where timings are not. A fixed,
# repeatable workload: BENCH_COST_CHANGES changes (10 per source transaction: 5 inserts,
# 4 updates, 1 delete, ids drawn with a fixed seed) committed to a source table of
# BENCH_COST_ROWS rows, captured and applied into PostgreSQL.
#
# The sync starts under callgrind and streams first (its startup, introspection and
# initial copy are not counted: the counters are zeroed once its slot or binlog reader
# is active); then the workload is committed, ending with a sentinel row; when the
# destination holds the sentinel the counters are dumped and the sync is stopped. The
# count is migrator's own process (capture decoding, mapping, folding, statements); the
# servers' work (the source's WAL decoding, the destination's writes) is not in it.
#
# Environment:
#   BENCH_COST_PAIRS="pg-pg my-pg"   source-destination pairs
#   BENCH_COST_CHANGES=20000         changes in the workload (a multiple of 10)
#   BENCH_COST_ROWS=10000            rows the source table holds before
#   BENCH_COST_MIGRATOR=PATH         a migrator binary to measure instead of building one
#                                    (codegen beside it, or BENCH_COST_CODEGEN)
#   BENCH_COST_OUT=DIR               callgrind files and annotations (default
#                                    target/bench/sync-cost)
# Prints, per pair, instructions in total and per change, and the functions that cost
# most (inclusive), from callgrind_annotate.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
cd "$ROOT"

PAIRS=${BENCH_COST_PAIRS:-pg-pg my-pg}
CHANGES=${BENCH_COST_CHANGES:-20000}
ROWS=${BENCH_COST_ROWS:-10000}
OUT=${BENCH_COST_OUT:-${CARGO_TARGET_DIR:-$ROOT/target}/bench/sync-cost}
SRC=seaway_bench_cost_src
DST=seaway_bench_cost_dst
WORK=$(mktemp -d)
CONSUMER=""
((CHANGES % 10 == 0)) || die "BENCH_COST_CHANGES must be a multiple of 10"

cleanup() {
  if [[ -n $CONSUMER ]]; then
    kill -TERM "$CONSUMER" 2>/dev/null || true
    wait "$CONSUMER" 2>/dev/null || true
  fi
  for dir in "$WORK"/*/; do
    [[ -f $dir/seaway.yaml ]] && (cd "$dir" && "$MIGRATOR" sync drop >/dev/null 2>&1) || true
  done
  pg -d postgres -c "DROP DATABASE IF EXISTS $SRC WITH (FORCE)" -c "DROP DATABASE IF EXISTS $DST WITH (FORCE)" >/dev/null 2>&1 || true
  my -e "DROP DATABASE IF EXISTS $SRC" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v valgrind >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
}
bench_tools
if [[ -n ${BENCH_COST_MIGRATOR:-} ]]; then
  # A binary kept aside (a build before a change, to compare with): no build.
  MIGRATOR=$BENCH_COST_MIGRATOR
  CODEGEN=${BENCH_COST_CODEGEN:-$(dirname "$MIGRATOR")/codegen}
else
  bench_build
  MIGRATOR=$BENCH_MIGRATOR
fi
mkdir -p "$OUT"

# workload KIND: the SQL of the workload for a source of KIND, on stdout (awk's random
# numbers with a fixed seed: the same ids every run).
workload() {
  awk -v kind="$1" -v n="$CHANGES" -v rows="$ROWS" 'BEGIN {
    srand(1); next_id = rows + 1
    now = (kind == "pg") ? "clock_timestamp() AT TIME ZONE '\''UTC'\''" : "UTC_TIMESTAMP(6)"
    for (t = 0; t < n / 10; t++) {
      print "BEGIN;"
      line = "INSERT INTO bench_events (id, v, changed_at) VALUES "
      for (i = 0; i < 5; i++) line = line (i ? ", " : "") "(" next_id++ ", 1, " now ")"
      print line ";"
      ids = ""
      for (i = 0; i < 4; i++) ids = ids (i ? ", " : "") (1 + int(rand() * rows))
      print "UPDATE bench_events SET v = v + 1, changed_at = " now " WHERE id IN (" ids ");"
      print "DELETE FROM bench_events WHERE id = " (1 + int(rand() * rows)) ";"
      print "COMMIT;"
    }
    print "INSERT INTO bench_events (id, v, changed_at) VALUES (-1, 0, " now ");"
  }'
}

run_pair() {
  # A directory per pair: its config and the migrations `codegen diff` writes.
  local pair=$1 src_kind src_url dir="$WORK/$1"
  case $pair in
    pg-pg) src_kind=pg ;;
    my-pg) src_kind=my ;;
    *) die "unknown pair $pair (BENCH_COST_PAIRS: pg-pg my-pg)" ;;
  esac
  log "$pair: $CHANGES changes under callgrind"
  mkdir -p "$dir"
  fresh_pg_db "$DST"
  if [[ $src_kind == pg ]]; then
    fresh_pg_db "$SRC"
    pg -d "$SRC" -c "CREATE TABLE bench_events (id bigint PRIMARY KEY, v integer NOT NULL, changed_at timestamp(6) NOT NULL);
      INSERT INTO bench_events SELECT i, 0, now() AT TIME ZONE 'UTC' FROM generate_series(1, $ROWS) AS i;"
    src_url="postgres://$PGUSER@$PGHOST:$PGPORT/$SRC"
  else
    my -e "DROP DATABASE IF EXISTS $SRC; CREATE DATABASE $SRC"
    my "$SRC" -e "CREATE TABLE bench_events (id bigint PRIMARY KEY, v integer NOT NULL, changed_at datetime(6) NOT NULL);
      INSERT INTO bench_events SELECT seq, 0, UTC_TIMESTAMP(6) FROM seq_1_to_$ROWS;"
    src_url="mysql://$BENCH_MY_USER${BENCH_MY_PASSWORD:+:$BENCH_MY_PASSWORD}@$BENCH_MY_HOST:$BENCH_MY_PORT/$SRC"
  fi
  printf 'connections:\n  src: { url: "%s" }\n  dst: { url: "postgres://%s@%s:%s/%s" }\nsource: src\ndestination: dst\ntables:\n  include: [bench_events]\n' \
    "$src_url" "$PGUSER" "$PGHOST" "$PGPORT" "$DST" >"$dir/seaway.yaml"
  (cd "$dir" && "$CODEGEN" diff >/dev/null 2>&1 && "$MIGRATOR" apply >/dev/null)
  local out="$OUT/$pair.callgrind"
  rm -f "$out"
  (cd "$dir" && exec valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no \
    "$MIGRATOR" sync >"$OUT/$pair.out" 2>"$OUT/$pair.err") &
  CONSUMER=$!
  # Streaming once the initial copy is in the destination and the source reader is
  # connected (the slot active; for MariaDB a binlog dump thread).
  local deadline=$((SECONDS + 900)) n active
  while :; do
    n=$(pgval -d "$DST" -c "SELECT count(*) FROM bench_events" 2>/dev/null || echo 0)
    if [[ $src_kind == pg ]]; then
      active=$(pgval -d postgres -c "SELECT count(*) FROM pg_replication_slots WHERE database = '$SRC' AND active")
    else
      active=$(my -N -B -e "SELECT count(*) FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%'")
    fi
    [[ $n == "$ROWS" && $active -ge 1 ]] && break
    kill -0 "$CONSUMER" 2>/dev/null || die "sync stopped: $(tail -3 "$OUT/$pair.err")"
    ((SECONDS < deadline)) || die "sync did not start streaming in 900 s"
    sleep 0.5
  done
  callgrind_control -z "$CONSUMER" >/dev/null 2>&1
  if [[ $src_kind == pg ]]; then
    workload pg | pg -d "$SRC" >/dev/null
  else
    workload my | my "$SRC"
  fi
  deadline=$((SECONDS + 3600))
  until [[ $(pgval -d "$DST" -c "SELECT count(*) FROM bench_events WHERE id = -1") == 1 ]]; do
    kill -0 "$CONSUMER" 2>/dev/null || die "sync stopped: $(tail -3 "$OUT/$pair.err")"
    ((SECONDS < deadline)) || die "the sentinel did not arrive in an hour"
    sleep 0.5
  done
  callgrind_control -d "$CONSUMER" >/dev/null 2>&1
  kill -TERM "$CONSUMER"
  wait "$CONSUMER" || true
  CONSUMER=""
  (cd "$dir" && "$MIGRATOR" sync drop >/dev/null 2>&1) || true
  # The dump taken at the sentinel (`callgrind_control -d` writes FILE.1), not the
  # process's counts at exit (FILE: the stop after it).
  local dump="$out.1"
  [[ -f $dump ]] || die "no callgrind dump at $dump"
  local total
  total=$(awk '/^summary:/ { print $2 }' "$dump")
  # (head closes the pipe early: annotate's SIGPIPE is no failure.)
  callgrind_annotate --inclusive=yes "$dump" 2>/dev/null | head -120 >"$OUT/$pair.top" || true
  # Per change the source made (an update or delete of a row deleted before changes
  # nothing), as sync's summary counts them.
  local applied
  applied=$(grep -oE '[0-9]+ changes applied' "$OUT/$pair.out" | grep -oE '^[0-9]+' || echo 0)
  ((applied > 0)) || die "sync's summary names no changes applied: $(cat "$OUT/$pair.out")"
  echo "| $pair | $applied | $total | $((total / applied)) |" | tee -a "$WORK/rows"
}

: >"$WORK/rows"
for pair in $PAIRS; do
  rm -f "$OUT/$pair.callgrind"*
  run_pair "$pair"
done
echo
echo "### bench-sync-cost: $(date -u +%F) ($(git rev-parse --short HEAD)), $CHANGES changes, 10 per transaction"
echo
echo "| pair | changes applied | instructions | per change |"
echo "|---|---:|---:|---:|"
cat "$WORK/rows"
echo
echo "top functions (inclusive): $OUT/<pair>.top"

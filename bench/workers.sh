#!/usr/bin/env bash
# The workers benchmark (`just bench-workers`): one `transfer --distributed` job of
# BENCH_ROWS generated rows (PostgreSQL->PostgreSQL) shared by 1, 2 and 4 `migrator
# worker` processes, side by side in one run with one plain `migrator transfer` process
# (its COPY fast paths included), reported as rows/s and ratios to that process.
#
# Each case loads a fresh destination (its tables made by seaway's own migration) through
# a fresh PostgreSQL state store, then checks that the destination holds every source row
# with the same values (a fingerprint). It measures; it does not gate.
#
# Environment:
#   BENCH_ROWS=1000000     rows to generate (e.g. 50000 for a quick run)
#   BENCH_WORKERS="1 2 4"  the worker counts to time
#   BENCH_CHUNK=50000      --chunk-size of the job (keys per chunk: the unit of sharing)
#   BENCH_REPORT=FILE      also write the results as Markdown (default target/bench/workers.md)
#   PGHOST PGPORT PGUSER PGPASSWORD  the PostgreSQL server (default 127.0.0.1 5432 postgres)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

ROWS=${BENCH_ROWS:-1000000}
COUNTS=${BENCH_WORKERS:-1 2 4}
CHUNK=${BENCH_CHUNK:-50000}
REPORT=${BENCH_REPORT:-$ROOT/target/bench/workers.md}
[[ $ROWS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROWS must be a positive integer, not '$ROWS'"

log "tools"
bench_tools bc
bench_build
WORK=$(mktemp -d /tmp/seaway-workers-bench.XXXXXX)
DST=seaway_bench_workers_dst
STORE=seaway_bench_workers_store
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for db in "$SRC" "$DST" "$STORE"; do
    pg -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
  my -e "DROP DATABASE IF EXISTS $SRC" >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT

bench_generate
SRC_FP=$(pg_fp "$SRC")
url="postgres://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT"
cat >"$WORK/seaway.yaml" <<YAML
connections:
  src: { url: "$url/$SRC" }
  dst: { url: "$url/$DST" }
  store: { url: "$url/$STORE" }
source: src
destination: dst
transfer:
  state: store
YAML
# The plain run keeps its state in the default SQLite file, as a single machine would.
sed '/^transfer:/,$d' "$WORK/seaway.yaml" >"$WORK/plain.yaml"
fresh_pg_db "$DST" >/dev/null
(cd "$WORK" && "$CODEGEN" --config "$WORK/plain.yaml" diff >/dev/null)

# fresh: an empty destination with its table, an empty store, a checkpoint.
fresh() {
  fresh_pg_db "$DST" >/dev/null
  fresh_pg_db "$STORE" >/dev/null
  (cd "$WORK" && "$BENCH_MIGRATOR" --config "$WORK/plain.yaml" apply --section pre-data >/dev/null)
  rm -rf "$WORK/.seaway/state.sqlite"*
  pg -d postgres -c CHECKPOINT
}
check() {
  local fp
  fp=$(pg_fp "$DST")
  [[ $fp == "$SRC_FP" ]] || die "$1: the destination's fingerprint $fp is not the source's $SRC_FP"
}

results=()
log "plain: one migrator transfer process ($ROWS rows)"
fresh
t0=$(date +%s.%N)
(cd "$WORK" && "$BENCH_MIGRATOR" --config "$WORK/plain.yaml" transfer --restart --chunk-size "$CHUNK" >/dev/null)
t1=$(date +%s.%N)
check plain
PLAIN=$(echo "$t1 - $t0" | bc -l)
results+=("one \`migrator transfer\` process|$PLAIN")

for n in $COUNTS; do
  log "distributed: $n worker(s)"
  fresh
  PIDS=()
  for ((i = 0; i < n; i++)); do
    mkdir -p "$WORK/w$i"
    (cd "$WORK/w$i" && exec "$BENCH_MIGRATOR" --config "$WORK/seaway.yaml" worker --slots 1) \
      >"$WORK/w$i.log" 2>&1 &
    PIDS+=($!)
  done
  t0=$(date +%s.%N)
  (cd "$WORK" && "$BENCH_MIGRATOR" --config "$WORK/seaway.yaml" transfer --distributed --restart --chunk-size "$CHUNK" >/dev/null)
  t1=$(date +%s.%N)
  for p in "${PIDS[@]}"; do kill -TERM "$p"; done
  wait "${PIDS[@]}" || die "a worker did not stop cleanly on SIGTERM (logs in $WORK)"
  PIDS=()
  check "$n workers"
  results+=("\`transfer --distributed\`, $n worker(s) x 1 slot|$(echo "$t1 - $t0" | bc -l)")
done

log "results ($ROWS rows, $(nproc) cores, commit $(git -C "$ROOT" rev-parse --short HEAD))"
mkdir -p "$(dirname "$REPORT")"
{
  echo "| case | seconds | rows/s | vs one transfer process |"
  echo "|---|---:|---:|---:|"
  for r in "${results[@]}"; do
    name=${r%%|*} secs=${r##*|}
    printf '| %s | %.2f | %.0f | %.2fx |\n' "$name" "$secs" "$(echo "$ROWS / $secs" | bc -l)" "$(echo "$PLAIN / $secs" | bc -l)"
  done
} | tee "$REPORT"

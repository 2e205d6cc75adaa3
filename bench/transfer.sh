#!/usr/bin/env bash
# The transfer benchmark (`just bench-transfer`): seaway against the `COPY` pipe (the
# practical speed limit) and pgloader, PostgreSQL->PostgreSQL and MariaDB->PostgreSQL,
# on one generated table of BENCH_ROWS rows x 10 mixed columns, all in one run; and
# seaway's re-syncs into a loaded destination (bench/resync.sh) against the same run's
# COPY pipe; and PostgreSQL->MariaDB and PostgreSQL->SQLite (bench/destinations.sh)
# against the LOAD DATA pipe, `sqlite3 .import` and Sling.
#
# It installs what it needs (pgloader, hyperfine, GNU time) when absent, builds seaway in
# release mode, generates the source tables, times every tool into a fresh destination
# database, checks that every destination holds every source row (and, for seaway, the
# same values by a fingerprint), prints the table and the ratios against the targets, and
# drops its databases. It measures; it does not gate: a missed target still exits 0, and
# only a failure to run or a lost row exits non-zero.
#
# Environment:
#   BENCH_ROWS=1000000       rows to generate (use e.g. 20000 for a quick run)
#   BENCH_RUNS=1             timed runs per case (hyperfine; the table shows the mean)
#   BENCH_PAGE_SIZE_ALT=20000  also time seaway with this --page-size ("" to skip)
#   BENCH_WORKERS=2          --workers for seaway, when `migrator transfer` has the option
#   BENCH_PGLOADER_WITH="prefetch rows = 10000"  extra pgloader WITH options (pgloader 3.6's
#                            default of 100,000 prefetched rows exhausts its 1 GB Lisp heap
#                            on this table: "Heap exhausted, game over")
#   BENCH_RESYNC=0           skip the re-sync cases (bench/resync.sh)
#   BENCH_DESTINATIONS=0     skip the MariaDB and SQLite destinations (bench/destinations.sh)
#   BENCH_SLING=0            skip Sling (otherwise installed into .venv-sling from PyPI)
#   BENCH_KEEP=1             keep the databases and the work directory
#   BENCH_REPORT=FILE        also write the results as Markdown (default target/bench/transfer.md)
#   PGHOST PGPORT PGUSER PGPASSWORD  the PostgreSQL server (default 127.0.0.1 5432 postgres postgres)
#   BENCH_MY_HOST BENCH_MY_PORT BENCH_MY_USER BENCH_MY_PASSWORD  the MariaDB server
#                            (default 127.0.0.1 3306 root, no password)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF="$ROOT/bench/transfer.sh"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/resync.sh
source "$ROOT/bench/resync.sh"
# shellcheck source=bench/destinations.sh
source "$ROOT/bench/destinations.sh"

# ---- `__prepare DB MODE`: what hyperfine runs (untimed) before each timed run --------
# A fresh destination database; MODE pg|my also creates the table through seaway's own
# migration (codegen diff, written once in setup; migrator apply --section pre-data);
# MODE empty leaves the database empty (pgloader creates its own). Then a CHECKPOINT, so
# the previous load's dirty pages are not written on the next one's time.
if [[ ${1:-} == __prepare ]]; then
  db=$2 mode=$3
  if [[ $mode == resync-* ]]; then resync_prepare "$db" "${mode#resync-}"; exit 0; fi
  if [[ $mode == to-* ]]; then dest_prepare "$db" "$mode"; exit 0; fi
  fresh_pg_db "$db" >/dev/null
  if [[ $mode != empty ]]; then
    BENCH_DST=$db "$BENCH_MIGRATOR" --config "$BENCH_TMP/$mode/seaway.yaml" \
      apply --section pre-data >>"$BENCH_TMP/prepare.log" 2>&1
  fi
  pg -d postgres -c CHECKPOINT
  exit 0
fi

ROWS=${BENCH_ROWS:-1000000}
RUNS=${BENCH_RUNS:-1}
PAGE_ALT=${BENCH_PAGE_SIZE_ALT-20000}
PGLOADER_WITH=${BENCH_PGLOADER_WITH-prefetch rows = 10000}
KEEP=${BENCH_KEEP:-0}
REPORT=${BENCH_REPORT:-$ROOT/target/bench/transfer.md}
[[ $ROWS =~ ^[1-9][0-9]*$ ]] || { echo "error: BENCH_ROWS must be a positive integer, not '$ROWS'" >&2; exit 2; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "error: BENCH_RUNS must be a positive integer, not '$RUNS'" >&2; exit 2; }

# ---- 1. tools --------------------------------------------------------------------------
log "tools"
bench_tools pgloader
# pgloader's version, read once and whole: `pgloader --version | head -n1` closes the pipe
# early, and pgloader (SBCL) then dies of SIGPIPE, failing the run under pipefail.
PGLOADER_VERSION=$(pgloader --version 2>/dev/null | awk 'NR == 1' | tr -d '"')
echo "$PGLOADER_VERSION, $(hyperfine --version), GNU time at /usr/bin/time"

bench_build

BENCH_TMP=$(mktemp -d /tmp/seaway-bench.XXXXXX)
export BENCH_TMP
DBS=("$SRC")
cleanup() {
  local rc=$?
  if [[ $KEEP == 1 ]]; then
    echo "BENCH_KEEP=1: kept the databases (${DBS[*]}) and $BENCH_TMP"
  else
    for db in "${DBS[@]}"; do
      pg -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
      my -e "DROP DATABASE IF EXISTS \`$db\`" >/dev/null 2>&1 || true
    done
    rm -rf "$BENCH_TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

WORKERS=()
if "$BENCH_MIGRATOR" transfer --help | grep -q -- '--workers'; then
  WORKERS=(--workers "${BENCH_WORKERS:-2}")
  echo "migrator transfer has --workers: seaway runs with ${WORKERS[*]}"
else
  echo "migrator transfer has no --workers option: seaway runs single-threaded"
fi

# ---- 2. the source tables --------------------------------------------------------------
bench_generate

# ---- the configs: seaway's (one per pair) and pgloader's ------------------------------
my_auth=$BENCH_MY_USER
DBS+=(seaway_bench_diff)
[[ -n $BENCH_MY_PASSWORD ]] && my_auth="$BENCH_MY_USER:$BENCH_MY_PASSWORD"
for pair in pg my; do
  mkdir -p "$BENCH_TMP/$pair"
  # Passwords stay out of the file: seaway reads `${VAR}` from the environment.
  if [[ $pair == pg ]]; then
    src_url="postgres://$PGUSER:\${PGPASSWORD}@$PGHOST:$PGPORT/$SRC"
  elif [[ -n $BENCH_MY_PASSWORD ]]; then
    src_url="mysql://$BENCH_MY_USER:\${BENCH_MY_PASSWORD}@$BENCH_MY_HOST:$BENCH_MY_PORT/$SRC"
  else
    src_url="mysql://$BENCH_MY_USER@$BENCH_MY_HOST:$BENCH_MY_PORT/$SRC"
  fi
  cat >"$BENCH_TMP/$pair/seaway.yaml" <<YAML
# Written by bench/transfer.sh; the destination database is \${BENCH_DST}.
connections:
  src:
    url: "$src_url"
  dst:
    url: "postgres://$PGUSER:\${PGPASSWORD}@$PGHOST:$PGPORT/\${BENCH_DST}"
source: src
destination: dst
tables:
  include: ["bench_rows"]
output: generated
YAML
  # The migration that creates the destination table, diffed once against an empty database.
  db=seaway_bench_diff
  fresh_pg_db "$db" >/dev/null
  BENCH_DST=$db "$CODEGEN" --config "$BENCH_TMP/$pair/seaway.yaml" diff >>"$BENCH_TMP/prepare.log" 2>&1 ||
    { cat "$BENCH_TMP/prepare.log" >&2; die "codegen diff failed ($pair)"; }
done
pg -d postgres -c "DROP DATABASE seaway_bench_diff" >/dev/null
dest_setup

pg_url() { echo "postgresql://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT/$1"; }
cat >"$BENCH_TMP/pg.load" <<CMD
LOAD DATABASE
  FROM $(pg_url "$SRC")
  INTO $(pg_url seaway_bench_pgloader_pg)
  WITH include drop, create tables, create indexes, reset sequences${PGLOADER_WITH:+, $PGLOADER_WITH};
CMD
cat >"$BENCH_TMP/my.load" <<CMD
LOAD DATABASE
  FROM mysql://$my_auth@$BENCH_MY_HOST:$BENCH_MY_PORT/$SRC
  INTO $(pg_url seaway_bench_pgloader_my)
  WITH include drop, create tables, create indexes, reset sequences${PGLOADER_WITH:+, $PGLOADER_WITH}
  ALTER SCHEMA '$SRC' RENAME TO 'public';
CMD
chmod 600 "$BENCH_TMP"/*.load "$BENCH_TMP"/*/seaway.yaml

# ---- 3. the measurements, one at a time ------------------------------------------------
RESULTS=() # "tool|pair|seconds|rss_kb|note"

# case NAME PAIR DB PREPARE_MODE FINGERPRINT(yes|no) COMMAND
case_run() {
  local name=$1 pair=$2 db=$3 mode=$4 check_fp=$5 cmd=$6
  local csv="$BENCH_TMP/$db.csv" timefile="$BENCH_TMP/$db.time" clog="$BENCH_TMP/$db.log"
  log "$name ($pair) -> $db"
  DBS+=("$db")
  rm -f "$timefile" "$clog"
  export BENCH_DST=$db BENCH_TIMEFILE=$timefile BENCH_LOG=$clog
  if ! hyperfine --shell=bash --style none --runs "$RUNS" --command-name "$db" \
    --prepare "$SELF __prepare $db $mode" --export-csv "$csv" -- "set -o pipefail; $cmd"; then
    echo "--- $clog" >&2
    tail -n 40 "$clog" >&2 2>/dev/null || true
    echo "--- $BENCH_TMP/prepare.log" >&2
    tail -n 20 "$BENCH_TMP/prepare.log" >&2 || true
    die "$name ($pair) failed to run"
  fi
  local mean rows rss=""
  # command,mean,stddev,median,user,system,min,max (counted from the end: robust to commas)
  mean=$(awk -F, 'NR == 2 { print $(NF - 6) }' "$csv")
  rows=$(dest_rows "$db" "$mode") || die "$name ($pair): no table bench_rows in $db"
  if [[ $rows != "$SRC_ROWS" ]]; then
    tail -n 40 "$clog" >&2 || true
    die "$name ($pair) LOST ROWS: $db has $rows rows, the source $SRC_ROWS"
  fi
  if [[ $check_fp == yes ]]; then
    local fp
    fp=$(dest_fp "$db" "$mode")
    [[ $fp == "$SRC_FP" ]] || die "$name ($pair): the values in $db differ from the source's:
  source      $SRC_FP
  destination $fp"
  fi
  if [[ -f $timefile ]]; then
    rss=$(awk -F': ' '/Maximum resident set size/ { if ($2 > m) m = $2 } END { print m }' "$timefile")
  fi
  printf '%.2f s, %s rows checked%s%s\n' "$mean" "$rows" \
    "$([[ $check_fp == yes ]] && echo ', values match')" \
    "$([[ -n $rss ]] && echo ", peak RSS $((rss / 1024)) MB")"
  RESULTS+=("$name|$pair|$mean|$rss")
  if [[ $KEEP != 1 ]]; then
    dest_drop "$db" "$mode"
  fi
}

seaway_cmd() { # PAIR [extra args]
  local pair=$1
  shift
  echo "/usr/bin/time -v -a -o \"\$BENCH_TIMEFILE\" \"\$BENCH_MIGRATOR\" --config \"\$BENCH_TMP/$pair/seaway.yaml\" transfer --restart ${WORKERS[*]} $* >>\"\$BENCH_LOG\" 2>&1"
}
COLS="id, qty, amount, name, note, created_at, active, payload, ref, score"

PGPG="PostgreSQL->PostgreSQL"
MYPG="MariaDB->PostgreSQL"
case_run "seaway" "$PGPG" seaway_bench_seaway_pg pg yes "$(seaway_cmd pg)"
case_run "COPY pipe" "$PGPG" seaway_bench_copy_pg pg yes \
  "psql -X -q -v ON_ERROR_STOP=1 -d $SRC -c 'COPY bench_rows ($COLS) TO STDOUT' 2>>\"\$BENCH_LOG\" | psql -X -q -v ON_ERROR_STOP=1 -d \"\$BENCH_DST\" -c 'COPY bench_rows ($COLS) FROM STDIN' >>\"\$BENCH_LOG\" 2>&1"
case_run "pgloader" "$PGPG" seaway_bench_pgloader_pg empty no \
  "pgloader --root-dir \"\$BENCH_TMP/pgloader\" \"\$BENCH_TMP/pg.load\" >>\"\$BENCH_LOG\" 2>&1"
case_run "seaway" "$MYPG" seaway_bench_seaway_my my yes "$(seaway_cmd my)"
case_run "pgloader" "$MYPG" seaway_bench_pgloader_my empty no \
  "pgloader --root-dir \"\$BENCH_TMP/pgloader\" \"\$BENCH_TMP/my.load\" >>\"\$BENCH_LOG\" 2>&1"
resync_cases
dest_cases
if [[ -n $PAGE_ALT ]]; then
  case_run "seaway --page-size $PAGE_ALT" "$PGPG" seaway_bench_seaway_pg_alt pg yes "$(seaway_cmd pg --page-size "$PAGE_ALT")"
  case_run "seaway --page-size $PAGE_ALT" "$MYPG" seaway_bench_seaway_my_alt my yes "$(seaway_cmd my --page-size "$PAGE_ALT")"
fi

# ---- 4. the table and the ratios -------------------------------------------------------
secs_of() { # TOOL PAIR
  local r
  for r in "${RESULTS[@]}"; do
    IFS='|' read -r t p s _ <<<"$r"
    [[ $t == "$1" && $p == "$2" ]] && { echo "$s"; return; }
  done
}
rss_of() {
  local r
  for r in "${RESULTS[@]}"; do
    IFS='|' read -r t p _ k <<<"$r"
    [[ $t == "$1" && $p == "$2" ]] && { echo "$k"; return; }
  done
}
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == "<=" ? v <= t : v >= t); print (ok ? "PASS" : "MISS") }'; }

seaway_args="--restart${WORKERS[*]:+ ${WORKERS[*]}} (page size 5000 unless named)"
{
  echo "| tool | pair | seconds | rows/s | peak RSS |"
  echo "|---|---|---:|---:|---:|"
  for r in "${RESULTS[@]}"; do
    IFS='|' read -r t p s k <<<"$r"
    rps=$(awk -v n="$SRC_ROWS" -v s="$s" 'BEGIN { printf "%d", n / s }')
    printf '| %s | %s | %.2f | %s | %s |\n' "$t" "$p" "$s" "$rps" \
      "$([[ -n $k ]] && echo "$((k / 1024)) MB" || echo "-")"
  done
  echo
  s_pg=$(secs_of seaway "$PGPG") c_pg=$(secs_of "COPY pipe" "$PGPG")
  l_pg=$(secs_of pgloader "$PGPG") s_my=$(secs_of seaway "$MYPG") l_my=$(secs_of pgloader "$MYPG")
  r_copy=$(awk -v a="$s_pg" -v b="$c_pg" 'BEGIN { printf "%.2f", a / b }')
  r_lpg=$(awk -v a="$s_pg" -v b="$l_pg" 'BEGIN { printf "%.2f", b / a }')
  r_lmy=$(awk -v a="$s_my" -v b="$l_my" 'BEGIN { printf "%.2f", b / a }')
  rss_max=0
  for pair in "$PGPG" "$MYPG"; do
    k=$(rss_of seaway "$pair")
    if ((k > rss_max)); then rss_max=$k; fi
  done
  rss_mb=$((rss_max / 1024))
  echo "| ratio | measured | target | verdict |"
  echo "|---|---:|---:|---|"
  echo "| seaway time / COPY pipe time ($PGPG) | ${r_copy}x | at most 1.3x | $(verdict "$r_copy" 1.3 "<=") |"
  echo "| seaway rows/s / pgloader rows/s ($PGPG) | ${r_lpg}x | at least 2x | $(verdict "$r_lpg" 2 ">=") |"
  echo "| seaway rows/s / pgloader rows/s ($MYPG) | ${r_lmy}x | at least 2x | $(verdict "$r_lmy" 2 ">=") |"
  echo "| seaway peak RSS (largest of both pairs) | $rss_mb MB | under 300 MB | $(verdict "$rss_mb" 299.999 "<=") |"
  resync_ratios
  dest_ratios
} >"$BENCH_TMP/table.md"

commit=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(cd "$ROOT" && git status --porcelain -- migrator codegen Cargo.toml Cargo.lock 2>/dev/null) ]] && commit="$commit+uncommitted"
header="$(date -u +%Y-%m-%d) on $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), \
$(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo); \
PostgreSQL $(pgval -d postgres -c 'SHOW server_version' | cut -d' ' -f1), MariaDB $(my -N -B -e 'SELECT version()' | cut -d- -f1), \
pgloader $(awk '{ print $3 }' <<<"$PGLOADER_VERSION"); seaway $commit; $SRC_ROWS rows ($size in PostgreSQL); \
$RUNS run(s) per case; seaway $seaway_args; pgloader WITH ${PGLOADER_WITH:-its defaults}"

log "results"
echo "$header"
echo
cat "$BENCH_TMP/table.md"
mkdir -p "$(dirname "$REPORT")"
{
  echo "# Transfer benchmark"
  echo
  echo "$header"
  echo
  cat "$BENCH_TMP/table.md"
} >"$REPORT"
echo
echo "(also written to $REPORT)"

#!/usr/bin/env bash
# The verify benchmark (`just bench-verify`): `migrator verify` against data-diff (PyPI
# `data-diff` 0.11.2, hashdiff mode) and against a plain read of both tables, for
# PostgreSQL->PostgreSQL and MariaDB->PostgreSQL, on one generated table of BENCH_ROWS
# rows x 10 mixed columns (bench/lib.sh, the transfer benchmark's table), all in one run:
# first with no differences, then with 10 scattered changed rows.
#
# It installs what it needs when absent (hyperfine, GNU time, the database clients, and
# data-diff in its own git-ignored virtualenv .venv-datadiff, apart from the test tools), builds seaway in release mode,
# generates the sources, creates each pair's destination with seaway's own migration and
# fills it with PostgreSQL's COPY pipe, checks that seaway and data-diff agree on what
# differs (nothing, then exactly the 10 rows), times every case, prints the table and the
# ratios against the targets, and drops its databases. It measures; it does not gate: a
# missed target still exits 0, and only a failure to run or a wrong finding exits non-zero.
#
# Environment:
#   BENCH_ROWS=1000000   rows to generate (use e.g. 20000 for a quick run)
#   BENCH_RUNS=1         timed runs per case (hyperfine; the table shows the mean)
#   BENCH_WORKERS=2      --workers for seaway verify
#   BENCH_DD_THREADS=2   data-diff --threads (its default is 1)
#   BENCH_KEEP=1         keep the databases and the work directory
#   BENCH_REPORT=FILE    also write the results as Markdown (default target/bench/verify.md)
#   PGHOST PGPORT PGUSER PGPASSWORD, BENCH_MY_*: the servers, as in bench/transfer.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# Its own source database, so it never drops the transfer benchmark's.
SRC=seaway_bench_vsrc

ROWS=${BENCH_ROWS:-1000000}
RUNS=${BENCH_RUNS:-1}
WORKERS=${BENCH_WORKERS:-2}
DD_THREADS=${BENCH_DD_THREADS:-2}
KEEP=${BENCH_KEEP:-0}
REPORT=${BENCH_REPORT:-$ROOT/target/bench/verify.md}
[[ $ROWS =~ ^[1-9][0-9]*$ ]] || { echo "error: BENCH_ROWS must be a positive integer, not '$ROWS'" >&2; exit 2; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "error: BENCH_RUNS must be a positive integer, not '$RUNS'" >&2; exit 2; }
((ROWS >= 100)) || { echo "error: BENCH_ROWS must be at least 100 (10 differences are planted)" >&2; exit 2; }

# ---- 1. tools --------------------------------------------------------------------------
log "tools"
bench_tools
# Its own venv: data-diff pins old urllib3/pydantic, which must not touch the venv the
# service contract tests run schemathesis from (.venv-anchors, .ci/python-tools).
VENV="$ROOT/.venv-datadiff"
DATA_DIFF="$VENV/bin/data-diff"
if [[ ! -x $DATA_DIFF ]]; then
  echo "installing data-diff 0.11.2 into $VENV"
  python3 -m venv "$VENV"
  # Its declared dependencies no longer resolve together: install it alone, then the
  # versions it works with.
  "$VENV/bin/pip" install -q --no-deps data-diff==0.11.2
  "$VENV/bin/pip" install -q "attrs>=23.1" "click>=8.1" "dsnparse<0.2.0" keyring \
    "mashumaro[msgpack]>=2.9,<3.11.0" "pydantic<2" rich "tabulate>=0.9" "toml>=0.10.2" \
    "typing-extensions>=4.0.1" "urllib3<2" packaging requests pyyaml psycopg2-binary \
    "mysql-connector-python>=8.0.29" "dbt-core>=1.5,<1.8"
fi
echo "$($DATA_DIFF --version 2>/dev/null | tail -n1), $(hyperfine --version)"

bench_build
# The commit the binaries were built from (a commit made during the run is not in them).
commit=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(cd "$ROOT" && git status --porcelain -- migrator codegen Cargo.toml Cargo.lock 2>/dev/null) ]] && commit="$commit+uncommitted"

BENCH_TMP=$(mktemp -d /tmp/seaway-bench-verify.XXXXXX)
DBS=("$SRC")
cleanup() {
  local rc=$?
  if [[ $KEEP == 1 ]]; then
    echo "BENCH_KEEP=1: kept the databases (${DBS[*]}) and $BENCH_TMP"
  else
    for db in "${DBS[@]}"; do
      pg -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
    my -e "DROP DATABASE IF EXISTS $SRC" >/dev/null 2>&1 || true
    rm -rf "$BENCH_TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 2. the sources, and each pair's destination ---------------------------------------
bench_generate

COLS="id, qty, amount, name, note, created_at, active, payload, ref, score"
my_url_auth=$BENCH_MY_USER
[[ -n $BENCH_MY_PASSWORD ]] && my_url_auth="$BENCH_MY_USER:$BENCH_MY_PASSWORD"
for pair in pg my; do
  dst=seaway_bench_vdst_$pair
  DBS+=("$dst")
  mkdir -p "$BENCH_TMP/$pair"
  if [[ $pair == pg ]]; then
    src_url="postgres://$PGUSER:\${PGPASSWORD}@$PGHOST:$PGPORT/$SRC"
  else
    src_url="mysql://$my_url_auth@$BENCH_MY_HOST:$BENCH_MY_PORT/$SRC"
  fi
  cat >"$BENCH_TMP/$pair/seaway.yaml" <<YAML
# Written by bench/verify.sh.
connections:
  src:
    url: "$src_url"
  dst:
    url: "postgres://$PGUSER:\${PGPASSWORD}@$PGHOST:$PGPORT/$dst"
source: src
destination: dst
tables:
  include: ["bench_rows"]
output: generated
YAML
  chmod 600 "$BENCH_TMP/$pair/seaway.yaml"
  fresh_pg_db "$dst" >/dev/null
  {
    "$CODEGEN" --config "$BENCH_TMP/$pair/seaway.yaml" diff &&
      "$BENCH_MIGRATOR" --config "$BENCH_TMP/$pair/seaway.yaml" apply
  } >>"$BENCH_TMP/prepare.log" 2>&1 || { cat "$BENCH_TMP/prepare.log" >&2; die "creating $dst failed"; }
  # The same rows, by PostgreSQL's COPY pipe (the MariaDB source holds the same values,
  # as its fingerprint showed); UTC, so a timestamp destination gets the UTC reading.
  PGTZ=UTC pg -d "$SRC" -c "COPY bench_rows ($COLS) TO STDOUT" |
    PGTZ=UTC pg -d "$dst" -c "COPY bench_rows ($COLS) FROM STDIN"
  pg -d "$dst" -c "VACUUM (ANALYZE) bench_rows"
done

pg_url() { echo "postgresql://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT/$1"; }
# data-diff wants a password in a PostgreSQL URL even under trust authentication.
dd_src() { if [[ $1 == pg ]]; then pg_url "$SRC"; else echo "mysql://$my_url_auth@$BENCH_MY_HOST:$BENCH_MY_PORT/$SRC"; fi; }
seaway_cmd() { # PAIR
  echo "\"$BENCH_MIGRATOR\" --config \"$BENCH_TMP/$1/seaway.yaml\" verify --workers $WORKERS >>\"$BENCH_TMP/seaway-$1.log\" 2>&1"
}
datadiff_cmd() { # PAIR
  echo "\"$DATA_DIFF\" \"$(dd_src "$1")\" bench_rows \"$(pg_url "seaway_bench_vdst_$1")\" bench_rows -k id -c '%' --algorithm hashdiff --threads $DD_THREADS --no-tracking --json >\"$BENCH_TMP/datadiff-$1.out\" 2>>\"$BENCH_TMP/datadiff-$1.log\""
}
read_cmd() { # PAIR: both tables read once, at the same time, as seaway reads them
  local src_read
  if [[ $1 == pg ]]; then
    src_read="psql -X -q -d $SRC -c 'COPY bench_rows TO STDOUT' >/dev/null"
  else
    src_read="mariadb -h $BENCH_MY_HOST -P $BENCH_MY_PORT -u $BENCH_MY_USER ${BENCH_MY_PASSWORD:+--password=$BENCH_MY_PASSWORD} --quick -N -B -e 'SELECT * FROM bench_rows' $SRC >/dev/null"
  fi
  echo "$src_read & a=\$!; psql -X -q -d seaway_bench_vdst_$1 -c 'COPY bench_rows TO STDOUT' >/dev/null; wait \$a"
}

# What seaway and data-diff find must be what was planted, before anything is timed.
check_findings() { # PAIR EXPECTED_CHANGED
  local pair=$1 want=$2 code=0 found dd
  "$BENCH_MIGRATOR" --config "$BENCH_TMP/$pair/seaway.yaml" verify --workers "$WORKERS" \
    --report "$BENCH_TMP/report-$pair.json" >"$BENCH_TMP/check-$pair.log" 2>&1 || code=$?
  found=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["tables"][0]; print(t["missing"], t["extra"], t["changed"])' "$BENCH_TMP/report-$pair.json")
  [[ $found == "0 0 $want" && $code == $((want > 0 ? 1 : 0)) ]] ||
    { cat "$BENCH_TMP/check-$pair.log" >&2; die "seaway verify ($pair) found missing/extra/changed $found (exit $code), expected 0 0 $want"; }
  eval "$(datadiff_cmd "$pair")" || die "data-diff ($pair) failed: $(tail -n 5 "$BENCH_TMP/datadiff-$pair.log")"
  dd=$(grep -c '^\["[-+]"' "$BENCH_TMP/datadiff-$pair.out" || true)
  [[ $dd == $((want * 2)) ]] || die "data-diff ($pair) printed $dd differing row versions, expected $((want * 2))"
  echo "$pair: seaway and data-diff both find $want changed rows"
}

# ---- 3. the measurements ---------------------------------------------------------------
RESULTS=() # "case|pair|differences|seconds"
time_case() { # NAME PAIR DIFFERENCES COMMAND
  local csv="$BENCH_TMP/$RANDOM.csv"
  log "$1 ($2, $3 differences)"
  # Exit 1 is verify's "differs": expected in the second round.
  hyperfine --shell=bash --style basic --runs "$RUNS" -i --export-csv "$csv" -- "$4"
  RESULTS+=("$1|$2|$3|$(awk -F, 'NR == 2 { print $(NF - 6) }' "$csv")")
}

PAIRS=(pg my)
pair_name() { if [[ $1 == pg ]]; then echo "PostgreSQL->PostgreSQL"; else echo "MariaDB->PostgreSQL"; fi; }
for diffs in 0 10; do
  if ((diffs > 0)); then
    log "planting $diffs scattered differences in each destination"
    ids=$(awk -v n="$ROWS" 'BEGIN { for (k = 1; k <= 10; k++) printf "%s%d", (k > 1 ? "," : ""), int(n * k / 10) - 3 }')
    for pair in "${PAIRS[@]}"; do
      pg -d "seaway_bench_vdst_$pair" -c "UPDATE bench_rows SET name = name || ' (changed)' WHERE id IN ($ids)"
    done
  fi
  for pair in "${PAIRS[@]}"; do
    check_findings "$pair" "$diffs"
    name=$(pair_name "$pair")
    time_case "seaway verify" "$name" "$diffs" "$(seaway_cmd "$pair")"
    time_case "data-diff hashdiff" "$name" "$diffs" "$(datadiff_cmd "$pair")"
    if ((diffs == 0)); then
      time_case "read both tables" "$name" "$diffs" "$(read_cmd "$pair")"
    fi
  done
done

# ---- 4. the table and the ratios -------------------------------------------------------
secs_of() { # CASE PAIR DIFFERENCES
  local r c p d s
  for r in "${RESULTS[@]}"; do
    IFS='|' read -r c p d s <<<"$r"
    [[ $c == "$1" && $p == "$2" && $d == "$3" ]] && { echo "$s"; return; }
  done
}
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == "<=" ? v <= t : v >= t); print (ok ? "PASS" : "MISS") }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
{
  echo "| case | pair | differences | seconds | rows/s |"
  echo "|---|---|---:|---:|---:|"
  for r in "${RESULTS[@]}"; do
    IFS='|' read -r c p d s <<<"$r"
    printf '| %s | %s | %s | %.2f | %s |\n' "$c" "$p" "$d" "$s" \
      "$(awk -v n="$SRC_ROWS" -v s="$s" 'BEGIN { printf "%d", n / s }')"
  done
  echo
  echo "| ratio | measured | target | verdict |"
  echo "|---|---:|---:|---|"
  for pair in "${PAIRS[@]}"; do
    name=$(pair_name "$pair")
    for diffs in 0 10; do
      r=$(ratio "$(secs_of "data-diff hashdiff" "$name" "$diffs")" "$(secs_of "seaway verify" "$name" "$diffs")")
      echo "| data-diff time / seaway time ($name, $diffs differences) | ${r}x | at least 3x | $(verdict "$r" 3 ">=") |"
    done
    r=$(ratio "$(secs_of "seaway verify" "$name" 0)" "$(secs_of "read both tables" "$name" 0)")
    echo "| seaway time / reading both tables ($name) | ${r}x | at most 1.5x | $(verdict "$r" 1.5 "<=") |"
  done
} >"$BENCH_TMP/table.md"

header="$(date -u +%Y-%m-%d) on $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), \
load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; \
PostgreSQL $(pgval -d postgres -c 'SHOW server_version' | cut -d' ' -f1), MariaDB $(my -N -B -e 'SELECT version()' | cut -d- -f1), \
data-diff 0.11.2 (hashdiff, --threads $DD_THREADS); seaway $commit (verify --workers $WORKERS); \
$SRC_ROWS rows ($size in PostgreSQL); $RUNS run(s) per case"

log "results"
echo "$header"
echo
cat "$BENCH_TMP/table.md"
mkdir -p "$(dirname "$REPORT")"
{
  echo "# Verify benchmark"
  echo
  echo "$header"
  echo
  cat "$BENCH_TMP/table.md"
} >"$REPORT"
echo
echo "(also written to $REPORT)"

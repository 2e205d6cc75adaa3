# Other destinations, for bench/transfer.sh: PostgreSQL->MariaDB and PostgreSQL->SQLite,
# seaway against each destination's practical limit in the same run (the `LOAD DATA
# LOCAL INFILE` pipe; psql's `COPY ... CSV` piped into `sqlite3 .import`) and against
# Sling. Sourced by bench/transfer.sh (which defines case_run, seaway_cmd, secs_of and
# verdict), never run. BENCH_DESTINATIONS=0 skips these cases; BENCH_SLING=0 skips Sling.
#
# Sling (the `sling-linux-amd64` wheel from PyPI, which carries the binary) goes into the
# git-ignored virtualenv .venv-sling, once; if it cannot be installed or run, the script
# says why and goes on without it.

PGMY="PostgreSQL->MariaDB"
PGLITE="PostgreSQL->SQLite"
SLING_VERSION=${BENCH_SLING_VERSION:-1.4.11}
SLING=""
SLING_NOTE="not measured: BENCH_SLING=0"

# The columns as the destinations' bulk loaders read them: timestamps as UTC text (the
# MariaDB column is a `datetime(6)`/`timestamp(6)` read in a UTC session), booleans as 0/1.
DEST_SELECT="SELECT id, qty, amount, name, note,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), active::int,
  payload::text, ref, score FROM bench_rows"

# dest_engine MODE: pg, my or lite, from a __prepare mode (`to-my...`, `to-lite...`).
dest_engine() {
  case $1 in
    to-my*) echo my ;;
    to-lite*) echo lite ;;
    *) echo pg ;;
  esac
}
lite_file() { echo "$BENCH_TMP/$1.sqlite"; }

# dest_prepare DB MODE: a fresh destination: MariaDB database or SQLite file, with the
# table seaway's migration creates (`to-my`, `to-lite`) or empty (`...-empty`: Sling
# creates its own).
dest_prepare() {
  local db=$1 mode=$2
  case $mode in
    to-my*)
      my -e "DROP DATABASE IF EXISTS \`$db\`; CREATE DATABASE \`$db\` CHARACTER SET utf8mb4"
      if [[ $mode == to-my ]]; then
        BENCH_DST=$db "$BENCH_MIGRATOR" --config "$BENCH_TMP/pgmy/seaway.yaml" \
          apply --section pre-data >>"$BENCH_TMP/prepare.log" 2>&1
      fi
      ;;
    to-lite*)
      rm -f "$(lite_file "$db")" "$(lite_file "$db")-journal"
      if [[ $mode == to-lite ]]; then
        cp "$BENCH_TMP/pglite/template.sqlite" "$(lite_file "$db")"
      fi
      ;;
  esac
  sync
}

# dest_rows DB MODE / dest_fp DB MODE / dest_drop DB MODE: for case_run.
dest_rows() {
  case $(dest_engine "$2") in
    my) my -N -B "$1" -e "SELECT count(*) FROM bench_rows" ;;
    lite) sqlite3 "$(lite_file "$1")" "SELECT count(*) FROM bench_rows" ;;
    pg) pgval -d "$1" -c "SELECT count(*) FROM public.bench_rows" ;;
  esac
}
dest_fp() {
  case $(dest_engine "$2") in
    my) my_fp "$1" ;;
    lite) lite_fp "$(lite_file "$1")" ;;
    pg) pg_fp "$1" ;;
  esac
}
dest_drop() {
  case $(dest_engine "$2") in
    my) my -e "DROP DATABASE IF EXISTS \`$1\`" ;;
    lite) rm -f "$(lite_file "$1")" "$(lite_file "$1")-journal" ;;
    pg) pg -d postgres -c "DROP DATABASE \"$1\" WITH (FORCE)" >/dev/null ;;
  esac
}

# lite_fp FILE: pg_fp's fingerprint of an SQLite copy (the forms seaway writes: UTC
# timestamps as text with microseconds, JSON as text, booleans as 0/1). Whole seconds are
# read from the text's first 19 characters: SQLite's date functions keep milliseconds,
# so `strftime('%s')` of a time at .9995 s or later rounds up into the next second.
lite_fp() {
  sqlite3 "$1" "SELECT count(*) || '/' || sum(qty) || '/' || sum(CAST(round(amount * 100) AS INTEGER))
    || '/' || count(note) || '/' || sum(length(note)) || '/' || sum(length(name))
    || '/' || sum(active IN (1, 'true', 't')) || '/' || sum(CAST(strftime('%s', substr(created_at, 1, 19)) AS INTEGER))
    || '/' || sum(CAST(substr(created_at, 21, 6) AS INTEGER))
    || '/' || sum(json_extract(payload, '\$.k')) || '/' || count(DISTINCT ref)
    || '/' || sum(CAST(score AS INTEGER)) FROM bench_rows"
}

# sling_install: sets SLING (the binary) or SLING_NOTE (why not).
sling_install() {
  [[ ${BENCH_SLING:-1} == 1 ]] || return 0
  local venv="$ROOT/.venv-sling" bin
  bin="$venv/lib/python3*/site-packages/sling_linux_amd64/bin/sling-linux-amd64"
  # shellcheck disable=SC2086 # the glob names the one python3.x folder
  if ! compgen -G "$bin" >/dev/null; then
    echo "installing Sling $SLING_VERSION (sling-linux-amd64 from PyPI) into $venv"
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q "sling-linux-amd64==$SLING_VERSION"; } >"$BENCH_TMP/sling-install.log" 2>&1; then
      SLING_NOTE="not measured: Sling could not be installed ($(tail -n1 "$BENCH_TMP/sling-install.log"))"
      echo "$SLING_NOTE; going on without it"
      return 0
    fi
  fi
  # shellcheck disable=SC2086
  bin=$(compgen -G "$bin" | head -n1)
  chmod +x "$bin"
  if ! SLING_DISABLE_TELEMETRY=true "$bin" --version >"$BENCH_TMP/sling-version.log" 2>&1; then
    SLING_NOTE="not measured: Sling does not run here ($(tail -n1 "$BENCH_TMP/sling-version.log"))"
    echo "$SLING_NOTE; going on without it"
    return 0
  fi
  SLING=$bin
  echo "Sling $(awk '/Version/ { print $2 }' "$BENCH_TMP/sling-version.log")"
}

# dest_setup: the seaway configs and migrations for both pairs (the SQLite table made once
# into a template file that every SQLite case starts from), `local_infile` checked, Sling.
dest_setup() {
  [[ ${BENCH_DESTINATIONS:-1} == 1 ]] || return 0
  command -v sqlite3 >/dev/null 2>&1 || bench_tools sqlite3
  local on
  on=$(my -N -B -e "SELECT @@GLOBAL.local_infile")
  [[ $on == 1 ]] || echo "note: MariaDB has local_infile=OFF: seaway writes by its staging-table upsert and the LOAD DATA pipe fails (SET GLOBAL local_infile = 1)"
  local my_dst="mysql://$BENCH_MY_USER@$BENCH_MY_HOST:$BENCH_MY_PORT/\${BENCH_DST}"
  [[ -n $BENCH_MY_PASSWORD ]] && my_dst="mysql://$BENCH_MY_USER:\${BENCH_MY_PASSWORD}@$BENCH_MY_HOST:$BENCH_MY_PORT/\${BENCH_DST}"
  local pair dst
  for pair in pgmy pglite; do
    mkdir -p "$BENCH_TMP/$pair"
    if [[ $pair == pgmy ]]; then dst=$my_dst; else dst="sqlite://$BENCH_TMP/\${BENCH_DST}.sqlite"; fi
    cat >"$BENCH_TMP/$pair/seaway.yaml" <<YAML
# Written by bench/destinations.sh; the destination is \${BENCH_DST}.
connections:
  src:
    url: "postgres://$PGUSER:\${PGPASSWORD}@$PGHOST:$PGPORT/$SRC"
  dst:
    url: "$dst"
source: src
destination: dst
tables:
  include: ["bench_rows"]
output: generated
YAML
    chmod 600 "$BENCH_TMP/$pair/seaway.yaml"
  done
  my -e "DROP DATABASE IF EXISTS seaway_bench_diff_my; CREATE DATABASE seaway_bench_diff_my CHARACTER SET utf8mb4"
  BENCH_DST=seaway_bench_diff_my "$CODEGEN" --config "$BENCH_TMP/pgmy/seaway.yaml" diff >>"$BENCH_TMP/prepare.log" 2>&1 ||
    { cat "$BENCH_TMP/prepare.log" >&2; die "codegen diff failed (PostgreSQL->MariaDB)"; }
  my -e "DROP DATABASE seaway_bench_diff_my"
  : >"$BENCH_TMP/template.sqlite"
  BENCH_DST=template "$CODEGEN" --config "$BENCH_TMP/pglite/seaway.yaml" diff >>"$BENCH_TMP/prepare.log" 2>&1 ||
    { cat "$BENCH_TMP/prepare.log" >&2; die "codegen diff failed (PostgreSQL->SQLite)"; }
  BENCH_DST=template "$BENCH_MIGRATOR" --config "$BENCH_TMP/pglite/seaway.yaml" \
    apply --section pre-data >>"$BENCH_TMP/prepare.log" 2>&1 ||
    { cat "$BENCH_TMP/prepare.log" >&2; die "migrator apply failed (PostgreSQL->SQLite template)"; }
  mv "$BENCH_TMP/template.sqlite" "$BENCH_TMP/pglite/template.sqlite"
  sling_install
}

# sling_cmd TARGET_URL TARGET_OBJECT: a Sling full refresh of public.bench_rows.
sling_cmd() {
  echo "SLING_DISABLE_TELEMETRY=true SEAWAY_SLING_SRC='postgresql://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT/$SRC?sslmode=disable' \
SEAWAY_SLING_DST=\"$1\" \"$SLING\" run --src-conn SEAWAY_SLING_SRC --src-stream public.bench_rows \
--tgt-conn SEAWAY_SLING_DST --tgt-object \"$2\" --mode full-refresh >>\"\$BENCH_LOG\" 2>&1"
}

# dest_cases: seaway, the destination's bulk-load pipe and Sling, for each pair.
dest_cases() {
  [[ ${BENCH_DESTINATIONS:-1} == 1 ]] || return 0
  local my_pw=""
  [[ -n $BENCH_MY_PASSWORD ]] && my_pw="--password=\"\$BENCH_MY_PASSWORD\""
  local mariadb="mariadb -h $BENCH_MY_HOST -P $BENCH_MY_PORT -u $BENCH_MY_USER $my_pw"
  case_run "seaway" "$PGMY" seaway_bench_seaway_to_my to-my yes "$(seaway_cmd pgmy)"
  case_run "LOAD DATA pipe" "$PGMY" seaway_bench_loaddata_to_my to-my yes \
    "psql -X -q -v ON_ERROR_STOP=1 -d $SRC -c \"COPY ($DEST_SELECT) TO STDOUT\" 2>>\"\$BENCH_LOG\" | \
$mariadb --local-infile=1 \"\$BENCH_DST\" -e \"SET time_zone = '+00:00'; LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE bench_rows CHARACTER SET utf8mb4\" >>\"\$BENCH_LOG\" 2>&1"
  if [[ -n $SLING ]]; then
    local my_url="mysql://$BENCH_MY_USER:${BENCH_MY_PASSWORD}@$BENCH_MY_HOST:$BENCH_MY_PORT/\$BENCH_DST"
    case_run "Sling" "$PGMY" seaway_bench_sling_to_my to-my-empty no \
      "$(sling_cmd "$my_url" "\$BENCH_DST.bench_rows")"
  fi
  case_run "seaway" "$PGLITE" seaway_bench_seaway_to_lite to-lite yes "$(seaway_cmd pglite)"
  # NULLs arrive as empty strings (CSV has no NULL for .import): rows are checked, values not.
  case_run "sqlite3 .import" "$PGLITE" seaway_bench_import_to_lite to-lite no \
    "psql -X -q -v ON_ERROR_STOP=1 -d $SRC -c \"COPY ($DEST_SELECT) TO STDOUT (FORMAT csv)\" 2>>\"\$BENCH_LOG\" | \
sqlite3 \"\$BENCH_TMP/\$BENCH_DST.sqlite\" \".import --csv /dev/stdin bench_rows\" >>\"\$BENCH_LOG\" 2>&1"
  if [[ -n $SLING ]]; then
    case_run "Sling" "$PGLITE" seaway_bench_sling_to_lite to-lite-empty no \
      "$(sling_cmd "sqlite://\$BENCH_TMP/\$BENCH_DST.sqlite" "main.bench_rows")"
  fi
}

# dest_ratios: the rows of the ratio table for both pairs.
dest_ratios() {
  [[ ${BENCH_DESTINATIONS:-1} == 1 ]] || return 0
  local s l r pair limit target
  for pair in "$PGMY|LOAD DATA pipe|1.1" "$PGLITE|sqlite3 .import|1.5"; do
    IFS='|' read -r pair limit target <<<"$pair"
    s=$(secs_of seaway "$pair") l=$(secs_of "$limit" "$pair")
    r=$(awk -v a="$s" -v b="$l" 'BEGIN { printf "%.2f", a / b }')
    echo "| seaway time / $limit time ($pair) | ${r}x | at most ${target}x | $(verdict "$r" "$target" "<=") |"
    if [[ -n $SLING ]]; then
      l=$(secs_of Sling "$pair")
      r=$(awk -v a="$s" -v b="$l" 'BEGIN { printf "%.2f", b / a }')
      echo "| seaway rows/s / Sling rows/s ($pair) | ${r}x | - | - |"
    else
      echo "| seaway rows/s / Sling rows/s ($pair) | $SLING_NOTE | - | - |"
    fi
  done
}

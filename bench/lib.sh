# Shared by the benchmarks (bench/transfer.sh, bench/verify.sh): server settings and
# helpers, tool installation, the release build, and the generated source table
# `bench_rows` (BENCH_ROWS rows in PostgreSQL and MariaDB database seaway_bench_src, the
# same values in both, checked by a fingerprint). Sourced, never run.

export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
# Some tools (pgloader among them) want a password in a PostgreSQL URL even under trust
# authentication; the server ignores it there.
export PGPASSWORD=${PGPASSWORD:-postgres}
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
export BENCH_MY_HOST=${BENCH_MY_HOST:-127.0.0.1} BENCH_MY_PORT=${BENCH_MY_PORT:-3306}
export BENCH_MY_USER=${BENCH_MY_USER:-root} BENCH_MY_PASSWORD=${BENCH_MY_PASSWORD:-}
SRC=seaway_bench_src

pg() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
pgval() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
my() {
  local pw=()
  [[ -n $BENCH_MY_PASSWORD ]] && pw=(--password="$BENCH_MY_PASSWORD")
  mariadb -h "$BENCH_MY_HOST" -P "$BENCH_MY_PORT" -u "$BENCH_MY_USER" "${pw[@]}" "$@"
}
fresh_pg_db() {
  pg -d postgres -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" -c "CREATE DATABASE \"$1\""
}
log() { printf '\n== %s\n' "$*"; }
die() { echo "error: $*" >&2; exit 1; }

# bench_tools [PACKAGE...]: installs hyperfine, GNU time and the database clients, plus
# the packages named, when absent; then checks that both servers answer.
bench_tools() {
  local missing=() p
  for p in "$@"; do
    command -v "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
  # `command -v time` finds bash's keyword, never the program: ask for GNU time by path.
  command -v /usr/bin/time >/dev/null 2>&1 || missing+=(time)
  command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
  command -v mariadb >/dev/null 2>&1 || missing+=(mariadb-client)
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    local sudo=()
    [[ $(id -u) -ne 0 ]] && sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  pg_isready -q -h "$PGHOST" -p "$PGPORT" || die "no PostgreSQL server answers at $PGHOST:$PGPORT (start it, or set PGHOST/PGPORT)"
  my -e 'SELECT 1' >/dev/null 2>&1 || die "no MariaDB server answers at $BENCH_MY_HOST:$BENCH_MY_PORT as $BENCH_MY_USER (start it, or set BENCH_MY_*)"
}

# bench_build: release binaries; sets BENCH_MIGRATOR (exported) and CODEGEN.
bench_build() {
  log "cargo build --release"
  # Another change may be half-written in the work tree: a failed build is an error here,
  # never something this script works around.
  (cd "$ROOT" && cargo build --release --locked -p seaway-migrator -p seaway-codegen)
  local target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
  export BENCH_MIGRATOR="$target_dir/release/migrator"
  CODEGEN="$target_dir/release/codegen"
}

# A fingerprint of the values (integers only, so every engine prints it alike).
pg_fp() {
  pgval -d "$1" -c "SELECT concat_ws('/', count(*), sum(qty), (sum(amount) * 100)::bigint,
    count(note), sum(length(note)), sum(length(name)), count(*) FILTER (WHERE active),
    sum(floor(extract(epoch FROM created_at)))::bigint,
    sum(extract(microseconds FROM created_at)::bigint % 1000000),
    sum((payload->>'k')::bigint), count(DISTINCT ref), sum(floor(score))::bigint) FROM bench_rows"
}
my_fp() { # [DB], the MariaDB source by default
  my -N -B "${1:-$SRC}" -e "SET time_zone = '+00:00';
    SELECT concat_ws('/', count(*), sum(qty), cast(sum(amount) * 100 AS signed),
    count(note), sum(char_length(note)), sum(char_length(name)), sum(active),
    cast(sum(timestampdiff(SECOND, '1970-01-01 00:00:00', created_at)) AS signed),
    sum(microsecond(created_at)),
    cast(sum(cast(json_value(payload, '\$.k') AS signed)) AS signed), count(DISTINCT ref),
    cast(sum(floor(score)) AS signed)) FROM bench_rows"
}
# bench_generate: (re)creates `bench_rows` with $ROWS rows in both sources; sets SRC_FP
# (the fingerprint), SRC_ROWS and size (PostgreSQL's table size).
bench_generate() {
  log "generating $ROWS rows in PostgreSQL and MariaDB ($SRC)"
  fresh_pg_db "$SRC" >/dev/null
  t0=$(date +%s.%N)
  pg -d "$SRC" <<SQL
CREATE TABLE bench_rows (
  id         bigint PRIMARY KEY,
  qty        integer NOT NULL,
  amount     numeric(12,2) NOT NULL,
  name       varchar(64) NOT NULL,
  note       text,
  created_at timestamptz NOT NULL,
  active     boolean NOT NULL,
  payload    jsonb NOT NULL,
  ref        uuid NOT NULL,
  score      double precision NOT NULL
);
INSERT INTO bench_rows
SELECT g,
       (g * 7919) % 100000,
       ((g * 104729) % 10000000) / 100.0,
       'customer ' || g,
       CASE WHEN g % 10 = 0 THEN NULL ELSE repeat(md5(g::text), 1 + (g % 2)::int) END,
       timestamptz '2020-01-01 00:00:00+00' + g * interval '61 seconds'
         + (g % 1000000) * interval '1 microsecond',
       g % 3 = 0,
       jsonb_build_object('k', g, 'tag', 'tag-' || g % 97, 'flags', jsonb_build_array(g % 2 = 0, g % 5 = 0)),
       -- RFC 4122-shaped (version 4, variant 10xx): MariaDB's uuid type refuses others
       -- (and LOAD DATA LOCAL stores them as all zeros, with only a warning).
       overlay(overlay(md5('ref-' || g) PLACING '4' FROM 13)
               PLACING substr('89ab', (g % 4)::int + 1, 1) FROM 17)::uuid,
       (g % 100000)::float8 / 7
FROM generate_series(1::bigint, $ROWS) AS g;
VACUUM (ANALYZE) bench_rows;
SQL
  size=$(pgval -d "$SRC" -c "SELECT pg_size_pretty(pg_table_size('bench_rows'))")

  my -e "DROP DATABASE IF EXISTS $SRC; CREATE DATABASE $SRC CHARACTER SET utf8mb4"
  my "$SRC" <<'SQL'
CREATE TABLE bench_rows (
  id         bigint NOT NULL PRIMARY KEY,
  qty        int NOT NULL,
  amount     decimal(12,2) NOT NULL,
  name       varchar(64) NOT NULL,
  note       text NULL,
  created_at datetime(6) NOT NULL,
  active     boolean NOT NULL,
  payload    json NOT NULL,
  ref        uuid NOT NULL,
  score      double NOT NULL
) ENGINE=InnoDB;
SQL
  # The same rows, streamed from PostgreSQL: its COPY text format is LOAD DATA's default
  # (tabs, backslash escapes, \N for NULL); timestamps as UTC datetimes, booleans as 0/1.
  pg -d "$SRC" -c "COPY (SELECT id, qty, amount, name, note,
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
    active::int, payload::text, ref, score FROM bench_rows ORDER BY id) TO STDOUT" |
  my --local-infile=1 "$SRC" -e "SET unique_checks = 0;
    LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE bench_rows CHARACTER SET utf8mb4;
    ANALYZE TABLE bench_rows;" >/dev/null
  t1=$(date +%s.%N)

  SRC_FP=$(pg_fp "$SRC")
  SRC_ROWS=${SRC_FP%%/*}
  MY_FP=$(my_fp)
  [[ $SRC_ROWS == "$ROWS" ]] || die "PostgreSQL source has $SRC_ROWS rows, expected $ROWS"
  [[ $MY_FP == "$SRC_FP" ]] || die "the MariaDB source differs from PostgreSQL's:
  postgres $SRC_FP
  mariadb  $MY_FP"
  printf 'generated in %.1f s: %s rows, %s in PostgreSQL; fingerprints match\n' \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$SRC_ROWS" "$size"
}

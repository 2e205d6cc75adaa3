# Re-syncs (compare-first), for bench/transfer.sh: `migrator transfer` into a PostgreSQL
# destination that already holds the source's rows, unchanged, with 1% of them changed
# in ten clustered key ranges, and with 1% changed spread uniformly, each timed against the
# COPY pipe's first load of the same run. Sourced by bench/transfer.sh (which defines
# case_run, seaway_cmd, secs_of and verdict), never run. BENCH_RESYNC=0 skips these cases.

RESYNC_COLS="id, qty, amount, name, note, created_at, active, payload, ref, score"

# resync_prepare DB KIND: what hyperfine runs (untimed) before each re-sync: a fresh
# destination made by seaway's migration, loaded by the COPY pipe, then KIND planted
# (`same`: nothing; `clustered`: `name` changed in ten runs of n/1000 consecutive keys,
# one per tenth of the keys; `uniform`: `name` changed in every 100th row), vacuumed and
# analysed (as autovacuum would have left a table loaded the night before), and a
# CHECKPOINT so that no load's dirty pages are written on the re-sync's time.
resync_prepare() {
  local db=$1 kind=$2
  fresh_pg_db "$db" >/dev/null
  BENCH_DST=$db "$BENCH_MIGRATOR" --config "$BENCH_TMP/pg/seaway.yaml" \
    apply --section pre-data >>"$BENCH_TMP/prepare.log" 2>&1
  psql -X -q -v ON_ERROR_STOP=1 -d "$SRC" -c "COPY bench_rows ($RESYNC_COLS) TO STDOUT" |
    pg -d "$db" -c "COPY bench_rows ($RESYNC_COLS) FROM STDIN"
  case $kind in
    same) ;;
    clustered)
      pg -d "$db" -c "WITH n AS (SELECT count(*) AS n FROM bench_rows)
        UPDATE bench_rows SET name = name || ' changed' FROM n
        WHERE (id - 1) % greatest(n.n / 10, 1) < greatest(n.n / 1000, 1)"
      ;;
    uniform) pg -d "$db" -c "UPDATE bench_rows SET name = name || ' changed' WHERE id % 100 = 0" ;;
    *) die "unknown re-sync case '$kind'" ;;
  esac
  pg -d "$db" -c "VACUUM (ANALYZE) bench_rows"
  pg -d postgres -c CHECKPOINT
}

# resync_cases: the three re-syncs, PostgreSQL->PostgreSQL (`migrator transfer --restart`,
# the same command and workers as the first load). Each must leave exactly the source's
# rows and values (case_run checks the fingerprint).
resync_cases() {
  [[ ${BENCH_RESYNC:-1} == 1 ]] || return 0
  case_run "seaway re-sync, unchanged" "$PGPG" seaway_bench_resync_same resync-same yes "$(seaway_cmd pg)"
  case_run "seaway re-sync, 1% clustered" "$PGPG" seaway_bench_resync_clustered resync-clustered yes "$(seaway_cmd pg)"
  case_run "seaway re-sync, 1% uniform" "$PGPG" seaway_bench_resync_uniform resync-uniform yes "$(seaway_cmd pg)"
}

# resync_ratios: the re-syncs' rows of the ratio table (time / the COPY pipe's first load).
resync_ratios() {
  [[ ${BENCH_RESYNC:-1} == 1 ]] || return 0
  local copy name target s r
  copy=$(secs_of "COPY pipe" "$PGPG")
  for name in "unchanged|0.5" "1% clustered|0.5" "1% uniform|1"; do
    target=${name#*|} name=${name%|*}
    s=$(secs_of "seaway re-sync, $name" "$PGPG")
    r=$(awk -v a="$s" -v b="$copy" 'BEGIN { printf "%.2f", a / b }')
    echo "| seaway re-sync ($name) time / COPY pipe first load ($PGPG) | ${r}x | at most ${target}x | $(verdict "$r" "$target" "<=") |"
  done
}

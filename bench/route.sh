#!/usr/bin/env bash
# The routing benchmark (`just bench-route`): what HAProxy adds to a request. The same
# fixed request rate (open loop: requests leave on a schedule, whatever the answers
# take) is sent to one GET endpoint of the generated catalog service directly and
# through HAProxy running `codegen route`'s config with the service at 100%, in
# alternating rounds of one run. Reported: median and p99 of each side over all rounds
# (every request's latency pooled), the added latency (through HAProxy minus direct),
# and PASS/FAIL against "p99 added under 1 ms" (with a warning when other work
# loaded the machine during the rounds).
#
# It installs what it needs when absent (haproxy, curl, jq and the PostgreSQL client with
# apt-get; oha, the open-loop load generator, with `cargo install`), builds the catalog
# service, codegen and migrator, loads Chinook into its own PostgreSQL database
# (seaway_bench_route), first measures saturation (oha closed-loop, 16 connections,
# direct) so the rate can be checked to be well below it, then runs the rounds. Every
# process and the database it started are removed on exit, pass or fail. It measures;
# it does not gate: a missed target still exits 0, and only a failure to run, or a
# request answered other than 200, exits non-zero.
#
# Environment:
#   BENCH_ROUTE_RATE=300           requests/s, the same for both sides
#   BENCH_ROUTE_SECONDS=30         seconds per side in all (split over the rounds)
#   BENCH_ROUTE_ROUNDS=10          alternating rounds (short, so that a burst of other work
#                                  on the machine falls on both paths alike)
#   BENCH_ROUTE_PATH=/track?limit=50   the endpoint (a catalog resource)
#   BENCH_ROUTE_CONNECTIONS=8      oha connections per side (keep-alive)
#   BENCH_PROFILE=release          cargo profile of the service (`dev` for a quick check)
#   BENCH_KEEP=1                   keep the database and the work directory
#   BENCH_REPORT=FILE              also write the results as Markdown (default target/bench/route.md)
#   PGHOST PGPORT PGUSER PGPASSWORD  the PostgreSQL server (default 127.0.0.1 5432 postgres)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
cd "$ROOT"

RATE=${BENCH_ROUTE_RATE:-300}
SECONDS_PER_SIDE=${BENCH_ROUTE_SECONDS:-30}
ROUNDS=${BENCH_ROUTE_ROUNDS:-10}
URL_PATH=${BENCH_ROUTE_PATH:-/track?limit=50}
CONNS=${BENCH_ROUTE_CONNECTIONS:-8}
PROFILE=${BENCH_PROFILE:-release}
KEEP=${BENCH_KEEP:-0}
REPORT=${BENCH_REPORT:-$ROOT/target/bench/route.md}
DB=seaway_bench_route
OHA_VERSION=1.16.0
for v in RATE SECONDS_PER_SIDE ROUNDS CONNS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
((SECONDS_PER_SIDE % ROUNDS == 0)) || die "BENCH_ROUTE_SECONDS ($SECONDS_PER_SIDE) must be a multiple of BENCH_ROUTE_ROUNDS ($ROUNDS)"
ROUND_SECS=$((SECONDS_PER_SIDE / ROUNDS))

# ---- 1. tools ----------------------------------------------------------------------------
log "tools"
missing=()
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v jq >/dev/null 2>&1 || missing+=(jq)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]} (apt-get)"
  sudo=()
  [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
OHA=$(command -v oha || true)
[[ -z $OHA && -x ${CARGO_HOME:-$HOME/.cargo}/bin/oha ]] && OHA=${CARGO_HOME:-$HOME/.cargo}/bin/oha
if [[ -z $OHA ]]; then
  echo "installing oha $OHA_VERSION (cargo install; a few minutes)"
  cargo install --locked --quiet oha --version "$OHA_VERSION"
  OHA=${CARGO_HOME:-$HOME/.cargo}/bin/oha
fi
echo "$($OHA --version), $(haproxy -v | head -n1)"
pg_isready -q -h "$PGHOST" -p "$PGPORT" || die "no PostgreSQL server answers at $PGHOST:$PGPORT (start it, or set PGHOST/PGPORT)"

# ---- 2. build ----------------------------------------------------------------------------
log "cargo build --profile $PROFILE (catalog service, codegen, migrator)"
# One --bin per binary: a --bin filter applies to every package named with -p.
cargo build --locked --profile "$PROFILE" -p catalog-service --bin catalog-service \
  -p seaway-codegen --bin codegen -p seaway-migrator --bin migrator
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git status --porcelain -- codegen migrator generated Cargo.toml Cargo.lock 2>/dev/null) ]] &&
  commit="$commit+uncommitted"

# ---- 3. database, service, HAProxy -------------------------------------------------------
WORK=$(mktemp -d /tmp/seaway-bench-route.XXXXXX)
PIDS=()
cleanup() {
  local rc=$?
  local pid f
  if ((rc != 0)); then
    for f in "$WORK"/service.log "$WORK"/haproxy.log; do
      [[ -s $f ]] && { echo "--- last lines of $f"; tail -n 20 "$f"; }
    done
  fi
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ $KEEP == 1 ]]; then
    echo "BENCH_KEEP=1: kept database $DB and $WORK"
  else
    pg -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A loopback port nothing listens on (random, so two runs do not collide).
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  die "no free loopback port found"
}
wait_http() { # URL SECONDS: until it answers 200
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  die "$1 did not answer 200 within $2 s"
}

log "Chinook into PostgreSQL database $DB"
fresh_pg_db "$DB" >/dev/null
pg -d "$DB" -f fixtures/chinook/postgres.sql >/dev/null
# Keys as seaway writes the SQLite edition's (bigint), which the services are generated from.
pg -d "$DB" -f fixtures/chinook/postgres-rowid-keys.sql >/dev/null

SVC_PORT=$(free_port)
PROXY_PORT=$(free_port)
# The monolith's address: nothing listens there; at 100% it is never sent a request
# (a request that reached it would fail, and fail the run).
MONO_PORT=$(free_port)
log "catalog service on 127.0.0.1:$SVC_PORT"
# RUST_LOG=warn: no line per request, so what is measured is the hop, not logging.
DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB" BIND_ADDR="127.0.0.1:$SVC_PORT" RUST_LOG=warn \
  "$TARGET/catalog-service" >"$WORK/service.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$SVC_PORT/health" 30

log "codegen route: HAProxy on 127.0.0.1:$PROXY_PORT, monolith 127.0.0.1:$MONO_PORT"
mkdir -p "$WORK/project/generated/schema" "$WORK/project/.seaway/route"
cp generated/schema/chinook.yaml "$WORK/project/generated/schema/"
cat >"$WORK/project/seaway.yaml" <<YAML
connections:
  chinook:
    url: "sqlite://unused.sqlite"
source: chinook
output: generated
services:
  names:
    Track: catalog
    Invoice: sales
  database_naming: snake_case
routing:
  listen: "127.0.0.1:$PROXY_PORT"
  monolith: "127.0.0.1:$MONO_PORT"
  services:
    catalog:
      address: "127.0.0.1:$SVC_PORT"
      strategy: percentage
YAML
(cd "$WORK/project" && "$TARGET/codegen" --config seaway.yaml route >/dev/null)
(cd "$WORK/project" && exec haproxy -db -f generated/route/haproxy.cfg) >"$WORK/haproxy.log" 2>&1 &
PIDS+=($!)
migrator_route() { (cd "$WORK/project" && "$TARGET/migrator" --config seaway.yaml route "$@"); }
for _ in $(seq 1 100); do
  [[ -S $WORK/project/.seaway/route/haproxy.sock ]] && break
  sleep 0.1
done
migrator_route set catalog 100
wait_http "http://127.0.0.1:$PROXY_PORT$URL_PATH" 20
migrator_route status

DIRECT="http://127.0.0.1:$SVC_PORT$URL_PATH"
PROXIED="http://127.0.0.1:$PROXY_PORT$URL_PATH"
echo "response: $(curl -fsS -o /dev/null -w '%{http_code}, %{size_download} bytes' "$DIRECT") direct, \
$(curl -fsS -o /dev/null -w '%{http_code}, %{size_download} bytes' "$PROXIED") through HAProxy"

# ---- 4. saturation -----------------------------------------------------------------------
# Closed loop, 16 connections, directly at the service: the most it answers per second
# here. The fixed rate must stay far below it, or queueing, not the hop, is measured.
log "saturation: oha closed-loop, 16 connections, 5 s, direct"
"$OHA" -z 5s -c 16 --no-tui --output-format json -o "$WORK/saturation.json" "$DIRECT"
SATURATION=$(jq -r '.summary.requestsPerSec | floor' "$WORK/saturation.json")
SHARE=$(awk -v r="$RATE" -v s="$SATURATION" 'BEGIN { printf "%.1f", 100 * r / s }')
echo "saturation: $SATURATION requests/s; the fixed rate $RATE requests/s is $SHARE% of it"
awk -v s="$SHARE" 'BEGIN { exit !(s > 25) }' &&
  echo "warning: $RATE requests/s is above a quarter of saturation: lower BENCH_ROUTE_RATE"

# ---- 5. the rounds -----------------------------------------------------------------------
# oha -n N -q RATE --latency-correction: N requests leave on a fixed schedule and each
# latency runs from its scheduled start (no coordinated omission), with CONNS keep-alive
# connections. Its CSV lists every request that got an answer, latency in seconds in the
# fifth column; N rows, all 200, are required.
N=$((RATE * ROUND_SECS))
oha_fixed() { # URL N CSV
  "$OHA" -n "$2" -q "$RATE" --latency-correction -c "$CONNS" --no-tui \
    --output-format csv -o "$3" "$1"
  local got bad
  got=$(($(wc -l <"$3") - 1))
  bad=$(awk -F, 'NR > 1 && $7 != 200' "$3" | wc -l)
  ((got == $2)) || die "$1: $got of $2 requests answered"
  ((bad == 0)) || die "$1: $bad answers were not 200"
}
log "warm-up: $RATE requests/s for 3 s each way (not recorded)"
oha_fixed "$DIRECT" $((RATE * 3)) "$WORK/warm-direct.csv"
oha_fixed "$PROXIED" $((RATE * 3)) "$WORK/warm-proxy.csv"

# p50 and p99 (nearest rank, in ms with three decimals) of the latencies in CSV files.
percentiles() {
  awk -F, 'FNR > 1 { print $5 * 1000 }' "$@" | sort -g |
    awk '{ v[NR] = $1 } END {
      i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999)
      printf "%.3f %.3f %d\n", v[i50], v[i99], NR }'
}
ROUND_ROWS=()
for ((r = 1; r <= ROUNDS; r++)); do
  # Alternate which side goes first, so a drift in the machine's load favours neither.
  if ((r % 2)); then order=(direct proxy); else order=(proxy direct); fi
  for side in "${order[@]}"; do
    url=$DIRECT
    [[ $side == proxy ]] && url=$PROXIED
    log "round $r/$ROUNDS, $side: $N requests at $RATE/s (${ROUND_SECS} s)"
    oha_fixed "$url" "$N" "$WORK/$side-$r.csv"
    read -r p50 p99 _ < <(percentiles "$WORK/$side-$r.csv")
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "p50 $p50 ms, p99 $p99 ms; load average $load"
    ROUND_ROWS+=("$r|$side|$p50|$p99|$load")
    printf '%s %s %s\n' "$r" "$p50" "$p99" >>"$WORK/rounds-$side.txt"
  done
done

# ---- 6. results --------------------------------------------------------------------------
read -r d50 d99 dn < <(percentiles "$WORK"/direct-*.csv)
read -r h50 h99 hn < <(percentiles "$WORK"/proxy-*.csv)
add50=$(awk -v a="$h50" -v b="$d50" 'BEGIN { printf "%.3f", a - b }')
add99=$(awk -v a="$h99" -v b="$d99" 'BEGIN { printf "%.3f", a - b }')
# The median over rounds of (through HAProxy - direct) of the same round.
pair_diff() { # COLUMN (2: p50, 3: p99)
  paste -d' ' "$WORK/rounds-proxy.txt" "$WORK/rounds-direct.txt" |
    awk -v c="$1" '{ print $c - $(c + 3) }' | sort -g |
    awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
pair50=$(pair_diff 2)
pair99=$(pair_diff 3)
verdict=$(awk -v v="$add99" 'BEGIN { print (v < 1 ? "PASS" : "FAIL") }')
# Other work on the machine shows in the tail long before it shows in the median: say so.
max_load=$(printf '%s\n' "${ROUND_ROWS[@]}" | cut -d'|' -f5 | sort -g | tail -n1)
busy=""
awk -v l="$max_load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }' &&
  busy="warning: the machine was busy (1-minute load average up to $max_load on $(nproc) cores; this benchmark's own processes add a fraction of one): the p99 figures measure that, not the hop; rerun on a quiet machine"
side_name() { [[ $1 == proxy ]] && echo "through HAProxy" || echo "direct"; }
{
  echo "| path | requests | median (ms) | p99 (ms) |"
  echo "|---|---:|---:|---:|"
  echo "| direct | $dn | $d50 | $d99 |"
  echo "| through HAProxy | $hn | $h50 | $h99 |"
  echo "| **added by HAProxy** | | **$add50** | **$add99** |"
  echo
  echo "| round | path | median (ms) | p99 (ms) | load average (1 min) |"
  echo "|---:|---|---:|---:|---:|"
  for row in "${ROUND_ROWS[@]}"; do
    IFS='|' read -r r side p50 p99 load <<<"$row"
    echo "| $r | $(side_name "$side") | $p50 | $p99 | $load |"
  done
  echo
  echo "Per round, through HAProxy minus direct: median of the $ROUNDS differences $pair50 ms (median), $pair99 ms (p99)."
  echo "(The target is judged on the pooled figures above; this one shows whether a few rounds dominate them.)"
  echo
  echo "$verdict: p99 added $add99 ms (target: under 1 ms)"
  [[ -z $busy ]] || echo "$busy"
} >"$WORK/table.md"

header="$(date -u +%Y-%m-%d) on $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), \
load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; seaway $commit ($PROFILE catalog service, \
PostgreSQL $(pgval -d postgres -c 'SHOW server_version' | cut -d' ' -f1)); $(haproxy -v | head -n1 | cut -d' ' -f1-3); \
$($OHA --version) -q $RATE --latency-correction -c $CONNS; GET $URL_PATH; \
$ROUNDS round(s) of $ROUND_SECS s per path ($SECONDS_PER_SIDE s, $((RATE * SECONDS_PER_SIDE)) requests each); \
saturation (direct, closed loop, 16 connections) $SATURATION requests/s, so the rate is $SHARE% of it"

log "results"
echo "$header"
echo
cat "$WORK/table.md"
mkdir -p "$(dirname "$REPORT")"
{
  echo "# Routing benchmark"
  echo
  echo "$header"
  echo
  cat "$WORK/table.md"
} >"$REPORT"
echo
echo "(also written to $REPORT)"

# seaway: keep two relational databases in step, declaratively.
# `just` lists the recipes; every one reads ./seaway.yaml unless SEAWAY_CONFIG says otherwise.

set dotenv-load := true
set shell := ["bash", "-euo", "pipefail", "-c"]

codegen := "cargo run --quiet --locked -p seaway-codegen --bin codegen --"
migrator := "cargo run --quiet --locked -p seaway-migrator --bin migrator --"
# Binaries of the last `cargo build --workspace`.
bin := env_var_or_default("CARGO_TARGET_DIR", "target") / "debug"

# List the recipes.
default:
    @just --list

# Run the pipeline on the bundled Chinook SQLite database (no server needed).
demo:
    {{codegen}} introspect
    {{codegen}} generate
    rm -f .seaway/demo/replica.sqlite
    {{migrator}} apply
    {{codegen}} diff
    {{migrator}} apply --section pre-data
    {{migrator}} transfer --restart
    {{migrator}} apply --section post-data
    {{migrator}} status
    {{migrator}} verify

# Read the source's schema (or --connection NAME, --all) into generated/schema/.
introspect *ARGS:
    {{codegen}} introspect {{ARGS}}

# Write the source's additive changes as the next migration for the destination.
diff *ARGS:
    {{codegen}} diff {{ARGS}}

# Detect service boundaries and write boundaries.yaml, OpenAPI documents and service
# crates under generated/ (--check: exit 1 if they are stale).
generate *ARGS:
    {{codegen}} generate {{ARGS}}

# Write generated/route/haproxy.cfg from boundaries.yaml and `routing:` (--check: exit 1
# if it is stale).
route *ARGS:
    {{codegen}} route {{ARGS}}

# Exit non-zero when snapshots, migrations or the destination are out of step (CI runs it).
check:
    {{codegen}} check

# Copy the source's rows into the destination (upserts; resumes an interrupted run).
transfer *ARGS:
    {{migrator}} transfer {{ARGS}}

# Compare the destination's rows with the source's (--report FILE, --show-values,
# --repair [--delete-extra], --continuous --interval SECS --alert-below PERCENT).
verify *ARGS:
    {{migrator}} verify {{ARGS}}

# Keep the destination in step with the source's changes until stopped (Ctrl-C): an
# initial copy handed over to the change stream, then every source transaction in commit
# order (--no-copy: the destination is already loaded; `sync status`, `sync drop`).
sync *ARGS:
    {{migrator}} sync {{ARGS}}

# Take chunks of distributed transfers (`transfer --distributed`) from the shared state
# store until stopped (--slots N chunks at once, --lease SECS).
worker *ARGS:
    {{migrator}} worker {{ARGS}}

# Write deploy/ (Dockerfile, docker-compose.yml, Kubernetes manifests) for serve and a
# pool of workers (--check: exit 1 if they are stale).
deploy *ARGS:
    {{migrator}} deploy {{ARGS}}

# Time transfer against the COPY pipe and pgloader on 1M generated rows (BENCH_ROWS=20000: quick).
bench-transfer:
    bash bench/transfer.sh

# Time one distributed transfer job with 1, 2 and 4 workers against one transfer process
# (BENCH_ROWS=50000: quick).
bench-workers:
    bash bench/workers.sh

# Time verify against data-diff and a plain read of both tables (BENCH_ROWS=20000: quick).
bench-verify:
    bash bench/verify.sh

# Time boundary detection + rendering on 500 synthetic tables, and wrk against a generated
# list endpoint on Chinook in PostgreSQL (BENCH_PROFILE=dev: no release build).
bench-generate:
    bash bench/generate.sh

# Latency from source commit to destination commit of `migrator sync` (PostgreSQL ->
# PostgreSQL and -> MariaDB, MariaDB -> PostgreSQL) beside native logical replication,
# one pair at a time at a fixed change rate (BENCH_SYNC_RATE=10000, BENCH_SYNC_SECONDS=30,
# BENCH_SYNC_TXN="1 10": changes per source transaction, a run each;
# BENCH_SYNC_STEPS="5000 10000 15000": a step-up; BENCH_PROFILE=dev: no release build).
bench-sync:
    bash bench/sync.sh

# Instructions per change of `migrator sync` under callgrind, on a fixed workload
# (BENCH_COST_CHANGES=20000, 10 per transaction; BENCH_COST_PAIRS="pg-pg my-pg"): valid on a
# loaded machine, where bench-sync's timings are not.
bench-sync-cost:
    bash bench/sync-cost.sh

# Latency HAProxy adds: one fixed rate (oha, open loop) direct and through it (target: p99 +1 ms).
bench-route:
    bash bench/route.sh

# Rewrite the golden files from the current output, on purpose (review the git diff!).
bless:
    SEAWAY_BLESS=1 cargo test --locked --workspace -- convergence services:: service_zoo::
    SEAWAY_BLESS=1 cargo test --locked -p seaway-migrator --test sql_record

# Check that every configured connection answers.
ping:
    {{migrator}} ping

# Apply pending migrations to the destination (--section pre-data|post-data|all, --dry-run).
apply *ARGS:
    {{migrator}} apply {{ARGS}}

# Serve the jobs API, its live events and the dashboard (--bind ADDR; default
# 127.0.0.1:8080). Tokens: SEAWAY_SERVE_TOKENS=name:role:token,... or server.tokens.
serve *ARGS:
    {{migrator}} serve {{ARGS}}

# Rewrite migrator/openapi.json from the API's handlers (a test fails when it is stale).
serve-openapi:
    {{migrator}} serve --openapi > migrator/openapi.json

# Show which migrations the destination has applied, pending or failed.
status:
    {{migrator}} status

# Format, lint and run every test (live PostgreSQL/MariaDB tests skip when absent
# unless SEAWAY_REQUIRE_LIVE=1).
test:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --locked -- -D warnings
    python3 .ci/module-cycles codegen/src migrator/src
    bash .ci/python-tools || echo "warning: schemathesis/openapi-spec-validator not installed; their tests will skip"
    cargo build --workspace --locked
    cargo test --workspace --locked
    # check-generated, with the binaries just built: `cargo run -p` would build the database
    # stack again with one package's features (the generated services enable more).
    rm -f .seaway/demo/replica.sqlite
    {{bin}}/migrator apply
    {{bin}}/codegen check

# Rebuild the demo destination from the committed migrations, then check that snapshots,
# migrations and destination are in step: fails when generated/ is stale.
check-generated:
    rm -f .seaway/demo/replica.sqlite
    {{migrator}} apply
    {{codegen}} check

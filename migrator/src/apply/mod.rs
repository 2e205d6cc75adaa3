//! `migrator apply` and `migrator status`: bringing a destination up to its migration
//! files (`<output>/migrations/<destination>/`), recorded in a ledger table, under a
//! lock so that two runs never apply at once.
//!
//! The steps are the same on every engine and live here, generic over [`Destination`];
//! each engine module holds only its SQL. Engines differ in one way that shapes the
//! algorithm: PostgreSQL and SQLite run DDL in transactions, so a section and its ledger
//! row commit together or not at all; MySQL commits every DDL statement implicitly, so
//! the ledger counts statements as they commit and a re-run resumes after the last one.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

pub(crate) mod destination;
mod error;
pub(crate) mod ledger;
pub(crate) mod lock;
mod options;
mod status;
mod target;

pub(crate) use destination::Destination;
pub use error::{ApplyError, StatementFailure};
pub use options::{ApplyOptions, SectionChoice};
pub use target::Target;

pub use ledger::{LEDGER_TABLE, LedgerRow};
pub use lock::{DEFAULT_LOCK_WAIT, POSTGRES_LOCK_KEY, mysql_lock_name};
pub use status::{ChecksumState, MigrationStatus, SectionState, StatusReport};

use crate::engine;
use ledger::{Key, Loaded, Unit};
use seaway_codegen::config::{Config, Connection};
use seaway_codegen::migrations::{self, MigrationError, Section};
use seaway_codegen::model::Dialect;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What `apply` reports as it goes; `Display` is the line the binary prints.
#[derive(Debug, Clone)]
pub enum Event {
    /// A section was applied: `ran` of its `total` statements (fewer when resuming).
    Applied {
        migration: String,
        section: Section,
        ran: usize,
        total: usize,
        duration: Duration,
    },
    /// `--dry-run`: the SQL that would run, each statement after its `-- ` description.
    WouldApply {
        migration: String,
        section: Section,
        ran: usize,
        total: usize,
        sql: String,
    },
    /// Another run applied this section while this one waited for the lock (SQLite).
    AlreadyApplied { migration: String, section: Section },
}

fn statements(n: usize) -> String {
    format!("{n} statement{}", if n == 1 { "" } else { "s" })
}

fn resumed(ran: usize, total: usize) -> String {
    if ran == total {
        String::new()
    } else {
        format!(" (resuming at statement {} of {total})", total - ran + 1)
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Applied {
                migration,
                section,
                ran,
                total,
                duration,
            } => write!(
                f,
                "{migration} {}: {}{} in {} ms",
                section.as_str(),
                statements(*ran),
                resumed(*ran, *total),
                duration.as_millis()
            ),
            Event::WouldApply {
                migration,
                section,
                ran,
                total,
                sql,
            } => write!(
                f,
                "-- {migration} {}: {}{}\n{sql}",
                section.as_str(),
                statements(*ran),
                resumed(*ran, *total)
            ),
            Event::AlreadyApplied { migration, section } => {
                write!(
                    f,
                    "{migration} {}: already applied by another run",
                    section.as_str()
                )
            }
        }
    }
}

/// How a run ended; `Display` is its last line.
#[derive(Debug, Clone)]
pub struct Summary {
    pub target: Target,
    /// Sections applied (or, dry run, that would be).
    pub sections: usize,
    pub dry_run: bool,
    pub choice: SectionChoice,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = if self.sections == 1 { "" } else { "s" };
        match (self.sections, self.dry_run) {
            (0, _) => {
                write!(f, "nothing to apply to {}", self.target)?;
                match self.choice {
                    SectionChoice::All => Ok(()),
                    SectionChoice::PreData => write!(f, " (--section pre-data)"),
                    SectionChoice::PostData => write!(f, " (--section post-data)"),
                }
            }
            (n, true) => write!(
                f,
                "dry run: {n} section{plural} would be applied to {}; nothing was changed",
                self.target
            ),
            (n, false) => write!(f, "applied {n} section{plural} to {}", self.target),
        }
    }
}

/// The destination's connection, its printable form, and its parsed migration files.
struct Prepared {
    conn: Connection,
    target: Target,
    dir: PathBuf,
    migrations: Vec<Loaded>,
}

/// Finds the destination and reads its migrations; refuses an edited directory
/// (`migrations.sum`) or a malformed file before connecting to anything.
fn prepare(config: &Config) -> Result<Prepared, ApplyError> {
    let Some(name) = &config.destination else {
        return Err(config
            .error_at(
                0,
                "no `destination:` is set; apply and status need the connection to migrate",
            )
            .into());
    };
    let Some(conn) = config.connections.get(name) else {
        let line = config.line_of_key("destination");
        return Err(config
            .error_at(
                line,
                format!("destination `{name}` is not a configured connection"),
            )
            .into());
    };
    let dir = config.output.join("migrations").join(name);
    let migrations = migrations::load_dir(&dir)?
        .into_iter()
        .map(|file| {
            Ok(Loaded {
                statements: migrations::parse(&file.path, &file.contents)?,
                file,
            })
        })
        .collect::<Result<Vec<_>, MigrationError>>()?;
    Ok(Prepared {
        conn: conn.clone(),
        target: Target::of(conn),
        dir,
        migrations,
    })
}

/// Applies the destination's pending migrations (see the module docs), calling
/// `on_event` after each section.
pub async fn apply(
    config: &Config,
    options: &ApplyOptions,
    on_event: &mut dyn FnMut(&Event),
) -> Result<Summary, ApplyError> {
    let prepared = prepare(config)?;
    match prepared.conn.url.dialect() {
        Dialect::Postgres => {
            run::<engine::postgres::apply::Postgres>(&prepared, options, on_event).await
        }
        Dialect::Mysql => run::<engine::mysql::apply::Mysql>(&prepared, options, on_event).await,
        Dialect::Sqlite => run::<engine::sqlite::apply::Sqlite>(&prepared, options, on_event).await,
    }
}

/// Each migration file of the destination against its ledger. Changes nothing.
pub async fn status(config: &Config) -> Result<StatusReport, ApplyError> {
    let prepared = prepare(config)?;
    let ledger = match prepared.conn.url.dialect() {
        Dialect::Postgres => {
            read_only_ledger::<engine::postgres::apply::Postgres>(&prepared).await?
        }
        Dialect::Mysql => read_only_ledger::<engine::mysql::apply::Mysql>(&prepared).await?,
        Dialect::Sqlite => read_only_ledger::<engine::sqlite::apply::Sqlite>(&prepared).await?,
    };
    Ok(StatusReport::new(
        prepared.target,
        prepared.dir,
        &prepared.migrations,
        ledger,
    ))
}

async fn read_only_ledger<D: Destination>(p: &Prepared) -> Result<Vec<LedgerRow>, ApplyError> {
    let Some(mut db) = D::open_read_only(&p.conn).await? else {
        return Ok(Vec::new());
    };
    let ledger = db
        .ledger()
        .await
        .map_err(|e| database_error::<D>(p, Duration::ZERO, "reading the ledger", e));
    db.close().await;
    ledger
}

/// Wraps a driver error with the destination and the step; the engine's "busy" error
/// becomes [`ApplyError::LockBusy`].
fn database_error<D: Destination>(
    p: &Prepared,
    wait: Duration,
    what: &str,
    err: sqlx::Error,
) -> ApplyError {
    if D::is_busy(&err) {
        return ApplyError::LockBusy {
            location: p.target.location.clone(),
            waited: wait,
        };
    }
    ApplyError::Database {
        target: p.target.to_string(),
        what: what.to_string(),
        reason: message(&p.conn, &err),
    }
}

/// The database's own message when there is one (without driver decoration), scrubbed.
#[expect(
    clippy::wildcard_enum_match_arm,
    reason = "sqlx::Error is non_exhaustive: a catch-all is required"
)]
fn message(conn: &Connection, err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => conn.url.scrub(db.message()),
        other => conn.url.scrub(&other.to_string()),
    }
}

/// One run of `apply` on one connection.
struct Run<'a, D> {
    db: D,
    p: &'a Prepared,
    wait: Duration,
}

async fn run<D: Destination>(
    p: &Prepared,
    options: &ApplyOptions,
    on_event: &mut dyn FnMut(&Event),
) -> Result<Summary, ApplyError> {
    let target = p.target.to_string();
    let mut summary = Summary {
        target: p.target.clone(),
        sections: 0,
        dry_run: options.dry_run,
        choice: options.sections,
    };
    if options.dry_run {
        let ledger = read_only_ledger::<D>(p).await?;
        for unit in ledger::plan(&p.migrations, &ledger, options.sections, &target)? {
            on_event(&would_apply(&unit));
            summary.sections += 1;
        }
        return Ok(summary);
    }
    let wait = lock::wait_bound(&p.conn, options.lock_timeout);
    let mut run = Run {
        db: D::open(&p.conn).await?,
        p,
        wait,
    };
    if !run
        .db
        .lock(wait)
        .await
        .map_err(|e| run.error("taking the apply lock", e))?
    {
        return Err(ApplyError::LockBusy {
            location: p.target.location.clone(),
            waited: wait,
        });
    }
    run.db
        .create_ledger()
        .await
        .map_err(|e| run.error("creating the ledger table", e))?;
    let ledger = run
        .db
        .read_ledger()
        .await
        .map_err(|e| run.error("reading the ledger", e))?;
    for unit in ledger::plan(&p.migrations, &ledger, options.sections, &target)? {
        let event = run.apply_unit(&unit).await?;
        if matches!(event, Event::Applied { .. }) {
            summary.sections += 1;
        }
        on_event(&event);
    }
    // Closing the session releases the lock.
    run.db.close().await;
    Ok(summary)
}

fn would_apply(unit: &Unit<'_>) -> Event {
    let sql: String = unit.statements[unit.done..]
        .iter()
        .map(|s| format!("-- {}\n{};\n", s.description, s.sql))
        .collect();
    Event::WouldApply {
        migration: unit.migration.file.name.clone(),
        section: unit.section,
        ran: unit.statements.len() - unit.done,
        total: unit.statements.len(),
        sql,
    }
}

/// Why a section stopped.
enum Stop {
    /// A migration statement failed (index into the section's statements).
    Statement(usize, sqlx::Error),
    /// Writing the ledger failed (the step, for the message).
    Ledger(&'static str, sqlx::Error),
}

impl<D: Destination> Run<'_, D> {
    fn error(&self, what: &str, err: sqlx::Error) -> ApplyError {
        database_error::<D>(self.p, self.wait, what, err)
    }

    /// Applies one section. On transactional engines the statements and the ledger row
    /// commit together; a failure rolls both back and then records the failure on its
    /// own. On MySQL each statement commits, followed by the ledger's count.
    async fn apply_unit(&mut self, unit: &Unit<'_>) -> Result<Event, ApplyError> {
        let started = Instant::now();
        let key = unit.key();
        let migration = unit.migration.file.name.clone();
        if D::TRANSACTIONAL_DDL {
            self.db
                .execute(D::BEGIN)
                .await
                .map_err(|e| self.error("starting a transaction", e))?;
            // On SQLite this is where the lock is taken; a concurrent run may have applied
            // the section while this one waited.
            if self
                .db
                .is_applied(&key)
                .await
                .map_err(|e| self.error("reading the ledger", e))?
            {
                self.db
                    .execute("ROLLBACK")
                    .await
                    .map_err(|e| self.error("ending a transaction", e))?;
                return Ok(Event::AlreadyApplied {
                    migration,
                    section: unit.section,
                });
            }
        }
        match self.run_statements(unit, &key, started).await {
            Ok(()) => {
                if D::TRANSACTIONAL_DDL {
                    self.db
                        .execute("COMMIT")
                        .await
                        .map_err(|e| self.error("committing", e))?;
                }
                let total = unit.statements.len();
                Ok(Event::Applied {
                    migration,
                    section: unit.section,
                    ran: total - unit.done,
                    total,
                    duration: started.elapsed(),
                })
            }
            Err(stop) => {
                if D::TRANSACTIONAL_DDL {
                    // Also undone by the server if this fails (the connection is gone).
                    let _ = self.db.execute("ROLLBACK").await;
                }
                Err(match stop {
                    Stop::Ledger(what, e) => self.error(what, e),
                    Stop::Statement(index, e) => {
                        self.statement_failed(unit, &key, index, &e, started).await
                    }
                })
            }
        }
    }

    async fn run_statements(
        &mut self,
        unit: &Unit<'_>,
        key: &Key<'_>,
        started: Instant,
    ) -> Result<(), Stop> {
        let total = unit.statements.len();
        self.db
            .record_start(key, unit.done)
            .await
            .map_err(|e| Stop::Ledger("recording the start in the ledger", e))?;
        for (index, statement) in unit.statements.iter().enumerate().skip(unit.done) {
            tracing::debug!(migration = key.name, section = key.section, statement = %statement.description, "applying");
            self.db
                .execute(&statement.sql)
                .await
                .map_err(|e| Stop::Statement(index, e))?;
            if !D::TRANSACTIONAL_DDL {
                self.db
                    .record_progress(key, index + 1)
                    .await
                    .map_err(|e| Stop::Ledger("recording progress in the ledger", e))?;
            }
        }
        self.db
            .record_finish(key, total, started.elapsed(), None)
            .await
            .map_err(|e| Stop::Ledger("recording success in the ledger", e))
    }

    /// Records the failure in the ledger (best effort: if the connection is gone, the
    /// ledger already says what is in effect) and builds the one-paragraph error.
    async fn statement_failed(
        &mut self,
        unit: &Unit<'_>,
        key: &Key<'_>,
        index: usize,
        err: &sqlx::Error,
        started: Instant,
    ) -> ApplyError {
        let total = unit.statements.len();
        let statement = unit.statements[index];
        let reason = message(&self.p.conn, err);
        let note = format!(
            "statement {} of {total} ({}): {reason}",
            index + 1,
            statement.description
        );
        let done = if D::TRANSACTIONAL_DDL { 0 } else { index };
        let recorded = async {
            if D::TRANSACTIONAL_DDL {
                // The rollback took the row's start with it.
                self.db.record_start(key, 0).await?;
            }
            self.db
                .record_finish(key, done, started.elapsed(), Some(&note))
                .await
        }
        .await;
        if let Err(e) = recorded {
            tracing::warn!(
                "could not record the failure in the ledger: {}",
                message(&self.p.conn, &e)
            );
        }
        let hint = match (D::TRANSACTIONAL_DDL, done) {
            (true, _) => "Its transaction rolled back, so nothing of this section is applied; fix the cause and re-run.".to_string(),
            (false, 0) => "No statement of this section is applied; fix the cause and re-run: apply resumes at this statement.".to_string(),
            (false, 1) => "Statement 1 stayed applied (MySQL commits each DDL statement); fix the cause and re-run: apply resumes at this statement.".to_string(),
            (false, n) => format!("Statements 1-{n} stayed applied (MySQL commits each DDL statement); fix the cause and re-run: apply resumes at this statement."),
        };
        ApplyError::Statement(Box::new(StatementFailure {
            migration: unit.migration.file.name.clone(),
            section: key.section,
            target: self.p.target.to_string(),
            number: index + 1,
            total,
            description: statement.description.clone(),
            reason,
            hint,
        }))
    }
}

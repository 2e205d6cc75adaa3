//! The ledger table `seaway_migrations`: what a destination has applied, one row per
//! (migration, section), and the plan that follows from comparing it with the files.
//!
//! The plan is pure (no database), so the rules live in one place for every engine:
//! a section with a successful row is done; a failed or interrupted row resumes after
//! its `statements_done` (always 0 on transactional engines, whose failures roll back);
//! and a migration whose recorded checksum differs from its file is refused while any
//! of it is in effect.

use super::error::ApplyError;
use super::options::SectionChoice;
use seaway_codegen::migrations::{Migration, Section, Statement};

/// The ledger's table name in every destination.
pub const LEDGER_TABLE: &str = "seaway_migrations";

/// Reading the ledger is the same SQL on every engine.
pub(crate) const SELECT_LEDGER: &str = "SELECT version, name, section, checksum, success, statements_done, error \
     FROM seaway_migrations ORDER BY version, section";

/// One ledger row: the state of one (migration, section) in the destination.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LedgerRow {
    pub version: i32,
    pub name: String,
    /// `pre-data` or `post-data`.
    pub section: String,
    /// Checksum of the migration file when this section was (last) started.
    pub checksum: String,
    pub success: bool,
    /// Statements of the section in effect: all of them on success; on a failed MySQL
    /// section, those committed before the failure (where a re-run resumes).
    pub statements_done: i32,
    /// The failure, naming the statement; NULL while running and on success.
    pub error: Option<String>,
}

impl LedgerRow {
    pub fn statements_done(&self) -> usize {
        usize::try_from(self.statements_done).unwrap_or(0)
    }

    /// True when some of this section is in effect, so its file must not change.
    pub(crate) fn binds_checksum(&self) -> bool {
        self.success || self.statements_done > 0
    }
}

/// A migration file with its statements parsed (parsing all of them first means a
/// malformed file is refused before anything runs).
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    pub file: Migration,
    pub statements: Vec<Statement>,
}

impl Loaded {
    pub fn section(&self, section: Section) -> Vec<&Statement> {
        self.statements
            .iter()
            .filter(|s| s.section == section)
            .collect()
    }

    pub fn db_version(&self) -> i32 {
        // Versions are four-digit file prefixes, so they always fit.
        i32::try_from(self.file.version).unwrap_or(i32::MAX)
    }

    pub fn row<'r>(&self, ledger: &'r [LedgerRow], section: Section) -> Option<&'r LedgerRow> {
        ledger
            .iter()
            .find(|r| r.version == self.db_version() && r.section == section.as_str())
    }
}

/// How a ledger row is addressed and what it records about the file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key<'a> {
    pub version: i32,
    pub name: &'a str,
    pub section: &'static str,
    pub checksum: &'a str,
}

/// A statement count as stored (the ledger's integer column).
pub(crate) fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A duration as stored in `duration_ms`.
pub(crate) fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// One (migration, section) to apply.
#[derive(Debug, Clone)]
pub(crate) struct Unit<'a> {
    pub migration: &'a Loaded,
    pub section: Section,
    pub statements: Vec<&'a Statement>,
    /// Statements already in effect from an earlier, failed run (MySQL); skipped.
    pub done: usize,
}

impl Unit<'_> {
    pub fn key(&self) -> Key<'_> {
        Key {
            version: self.migration.db_version(),
            name: &self.migration.file.name,
            section: self.section.as_str(),
            checksum: &self.migration.file.checksum,
        }
    }
}

/// Refuses when a migration that is (partly) applied no longer matches its file: the
/// destination would silently differ from what the repository says it has.
pub(crate) fn verify_checksums(
    loaded: &[Loaded],
    ledger: &[LedgerRow],
    target: &str,
) -> Result<(), ApplyError> {
    for m in loaded {
        let changed = [Section::PreData, Section::PostData]
            .into_iter()
            .filter_map(|s| m.row(ledger, s))
            .find(|r| r.binds_checksum() && r.checksum != m.file.checksum);
        if let Some(row) = changed {
            return Err(ApplyError::ChecksumChanged {
                path: m.file.path.clone(),
                target: target.to_string(),
                recorded: row.checksum.clone(),
                current: m.file.checksum.clone(),
            });
        }
    }
    Ok(())
}

/// The sections to apply, in version order (pre-data before post-data within a
/// migration). `--section post-data` refuses while any pre-data section is pending,
/// since post-data (indexes, foreign keys) refers to what pre-data creates.
pub(crate) fn plan<'a>(
    loaded: &'a [Loaded],
    ledger: &[LedgerRow],
    choice: SectionChoice,
    target: &str,
) -> Result<Vec<Unit<'a>>, ApplyError> {
    verify_checksums(loaded, ledger, target)?;
    let mut units = Vec::new();
    for m in loaded {
        for section in [Section::PreData, Section::PostData] {
            let statements = m.section(section);
            let row = m.row(ledger, section);
            if statements.is_empty() || row.is_some_and(|r| r.success) {
                continue;
            }
            if !choice.includes(section) {
                if section == Section::PreData && choice == SectionChoice::PostData {
                    return Err(ApplyError::PreDataPending {
                        migration: m.file.name.clone(),
                    });
                }
                continue;
            }
            let done = row.map_or(0, |r| r.statements_done().min(statements.len()));
            units.push(Unit {
                migration: m,
                section,
                statements,
                done,
            });
        }
    }
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn loaded(version: u32, sections: &[Section]) -> Loaded {
        let name = format!("{version:04}_m");
        Loaded {
            file: Migration {
                version,
                name: name.clone(),
                path: PathBuf::from(format!("{name}.sql")),
                contents: String::new(),
                checksum: format!("h1:{version}"),
            },
            statements: sections
                .iter()
                .map(|&section| Statement {
                    section,
                    description: "d".into(),
                    sql: "s".into(),
                })
                .collect(),
        }
    }

    fn row(version: i32, section: Section, success: bool, done: i32, checksum: &str) -> LedgerRow {
        LedgerRow {
            version,
            name: format!("{version:04}_m"),
            section: section.as_str().into(),
            checksum: checksum.into(),
            success,
            statements_done: done,
            error: (!success).then(|| "boom".into()),
        }
    }

    fn summary(units: &[Unit<'_>]) -> Vec<(u32, &'static str, usize)> {
        units
            .iter()
            .map(|u| (u.migration.file.version, u.section.as_str(), u.done))
            .collect()
    }

    use Section::{PostData as Post, PreData as Pre};

    #[test]
    fn pending_sections_follow_version_then_section_order() {
        let files = [loaded(1, &[Pre, Post]), loaded(2, &[Pre, Pre, Post])];
        let ledger = [row(1, Pre, true, 1, "h1:1")];
        let all = plan(&files, &ledger, SectionChoice::All, "t").unwrap();
        assert_eq!(
            summary(&all),
            [(1, "post-data", 0), (2, "pre-data", 0), (2, "post-data", 0)]
        );
        let pre = plan(&files, &ledger, SectionChoice::PreData, "t").unwrap();
        assert_eq!(summary(&pre), [(2, "pre-data", 0)]);
        assert_eq!(pre[0].statements.len(), 2);
    }

    #[test]
    fn post_data_waits_for_pre_data() {
        let files = [loaded(1, &[Pre, Post])];
        let err = plan(&files, &[], SectionChoice::PostData, "t").unwrap_err();
        assert!(err.to_string().contains("0001_m"), "{err}");
    }

    #[test]
    fn failed_sections_resume_after_their_done_statements() {
        let files = [loaded(1, &[Pre, Pre, Pre])];
        let ledger = [row(1, Pre, false, 2, "h1:1")];
        assert_eq!(
            summary(&plan(&files, &ledger, SectionChoice::All, "t").unwrap()),
            [(1, "pre-data", 2)]
        );
    }

    #[test]
    fn changed_checksums_refuse_only_while_something_is_in_effect() {
        let files = [loaded(1, &[Pre])];
        let err = plan(
            &files,
            &[row(1, Pre, true, 1, "h1:old")],
            SectionChoice::All,
            "t",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("0001_m.sql") && text.contains("h1:old") && text.contains("h1:1"),
            "{text}"
        );
        // A transactional failure left nothing behind: the fixed file may run.
        let units = plan(
            &files,
            &[row(1, Pre, false, 0, "h1:old")],
            SectionChoice::All,
            "t",
        )
        .unwrap();
        assert_eq!(summary(&units), [(1, "pre-data", 0)]);
        // A partial MySQL section must not be continued with different statements.
        assert!(
            plan(
                &files,
                &[row(1, Pre, false, 1, "h1:old")],
                SectionChoice::All,
                "t"
            )
            .is_err()
        );
    }
}

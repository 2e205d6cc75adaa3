//! `migrator status`: each migration file against the destination's ledger.

use super::ledger::{LEDGER_TABLE, LedgerRow, Loaded};
use super::target::Target;
use seaway_codegen::migrations::Section;
use std::fmt;
use std::path::PathBuf;

/// The state of one section of one migration file in the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionState {
    /// The file has no statements in this section.
    Empty,
    Pending,
    Applied,
    /// Failed; `done` of `total` statements are in effect (only ever > 0 on MySQL).
    Failed {
        done: usize,
        total: usize,
    },
    /// Started and not finished: running now, or killed (MySQL; transactional engines
    /// roll such a section back).
    Incomplete {
        done: usize,
        total: usize,
    },
}

/// Does the file still match what was applied?
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChecksumState {
    /// Nothing of the migration is recorded.
    NotRecorded,
    Matches,
    /// The ledger recorded another checksum (`apply` refuses while any of it is in effect).
    Differs {
        recorded: String,
        file: String,
    },
}

#[derive(Debug, Clone)]
pub struct MigrationStatus {
    pub version: u32,
    pub name: String,
    pub pre_data: SectionState,
    pub post_data: SectionState,
    pub checksum: ChecksumState,
}

#[derive(Debug, Clone)]
pub struct StatusReport {
    pub target: Target,
    /// The destination's migration folder.
    pub dir: PathBuf,
    pub migrations: Vec<MigrationStatus>,
    /// Ledger rows whose migration file is gone.
    pub orphans: Vec<LedgerRow>,
}

impl StatusReport {
    pub(crate) fn new(
        target: Target,
        dir: PathBuf,
        files: &[Loaded],
        ledger: Vec<LedgerRow>,
    ) -> Self {
        let migrations = files
            .iter()
            .map(|m| {
                let state = |section| section_state(m, &ledger, section);
                // As `apply` judges it: a failure with nothing in effect binds nothing.
                let recorded = [Section::PreData, Section::PostData]
                    .into_iter()
                    .filter_map(|s| m.row(&ledger, s))
                    .find(|r| r.binds_checksum())
                    .map(|r| &r.checksum);
                let checksum = match recorded {
                    None => ChecksumState::NotRecorded,
                    Some(c) if *c == m.file.checksum => ChecksumState::Matches,
                    Some(c) => ChecksumState::Differs {
                        recorded: c.clone(),
                        file: m.file.checksum.clone(),
                    },
                };
                MigrationStatus {
                    version: m.file.version,
                    name: m.file.name.clone(),
                    pre_data: state(Section::PreData),
                    post_data: state(Section::PostData),
                    checksum,
                }
            })
            .collect();
        let orphans = ledger
            .into_iter()
            .filter(|r| !files.iter().any(|m| m.db_version() == r.version))
            .collect();
        StatusReport {
            target,
            dir,
            migrations,
            orphans,
        }
    }
}

fn section_state(m: &Loaded, ledger: &[LedgerRow], section: Section) -> SectionState {
    let total = m.section(section).len();
    match m.row(ledger, section) {
        _ if total == 0 => SectionState::Empty,
        None => SectionState::Pending,
        Some(r) if r.success => SectionState::Applied,
        Some(r) if r.error.is_some() => SectionState::Failed {
            done: r.statements_done(),
            total,
        },
        Some(r) => SectionState::Incomplete {
            done: r.statements_done(),
            total,
        },
    }
}

impl fmt::Display for SectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SectionState::Empty => f.write_str("-"),
            SectionState::Pending => f.write_str("pending"),
            SectionState::Applied => f.write_str("applied"),
            SectionState::Failed { done: 0, .. } => f.write_str("failed"),
            SectionState::Failed { done, total } => write!(f, "failed ({done}/{total} done)"),
            SectionState::Incomplete { done, total } => {
                write!(f, "incomplete ({done}/{total} done)")
            }
        }
    }
}

impl fmt::Display for ChecksumState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChecksumState::NotRecorded => f.write_str("-"),
            ChecksumState::Matches => f.write_str("ok"),
            ChecksumState::Differs { recorded, file } => {
                write!(f, "CHANGED (ledger {recorded}, file {file})")
            }
        }
    }
}

/// An aligned table, one row per file, then any orphaned ledger rows.
impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: ledger {LEDGER_TABLE}, migrations in {}",
            self.target,
            self.dir.display()
        )?;
        if self.migrations.is_empty() {
            writeln!(f, "no migration files")?;
        } else {
            let mut rows = vec![[
                "version".into(),
                "name".into(),
                "pre-data".into(),
                "post-data".into(),
                "checksum".into(),
            ]];
            rows.extend(self.migrations.iter().map(|m| {
                [
                    format!("{:04}", m.version),
                    m.name.clone(),
                    m.pre_data.to_string(),
                    m.post_data.to_string(),
                    m.checksum.to_string(),
                ]
            }));
            let widths: Vec<usize> = (0..5)
                .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
                .collect();
            for row in &rows {
                let cells: Vec<String> = row
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:w$}"))
                    .collect();
                writeln!(f, "{}", cells.join("  ").trim_end())?;
            }
        }
        if !self.orphans.is_empty() {
            writeln!(f, "in the ledger but without a migration file:")?;
            for r in &self.orphans {
                let state = if r.success { "applied" } else { "failed" };
                writeln!(
                    f,
                    "  {:04} {} {} {state} ({})",
                    r.version, r.name, r.section, r.checksum
                )?;
            }
        }
        Ok(())
    }
}

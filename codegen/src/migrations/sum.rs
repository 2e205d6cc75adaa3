//! `migrations.sum`: the cumulative checksum of a migration directory (atlas.sum's idea).
//!
//! ```text
//! h1:<checksum over every line below>
//! 0001_initial.sql h1:<checksum of the file>
//! 0002_add_currency.sql h1:<...>
//! ```
//!
//! Editing, reordering, adding or deleting a migration file by hand changes the first
//! line, so `migrator apply` and `codegen check` refuse until the directory is
//! regenerated, instead of applying something nobody reviewed.

use super::file::{Migration, checksum};
use std::path::{Path, PathBuf};

pub const SUM_FILE: &str = "migrations.sum";

#[derive(Debug, thiserror::Error)]
pub enum SumError {
    #[error("{}: migration files exist but {SUM_FILE} is missing; regenerate with `just diff`", dir.display())]
    Missing { dir: PathBuf },
    #[error("{}: {detail}; migration files must not be edited by hand (regenerate with `just diff`, or restore the file)", path.display())]
    Mismatch { path: PathBuf, detail: String },
}

/// The text of `migrations.sum` for `migrations` (in version order).
pub fn sum_file(migrations: &[Migration]) -> String {
    let lines: String = migrations
        .iter()
        .map(|m| format!("{}.sql {}\n", m.name, m.checksum))
        .collect();
    format!("{}\n{lines}", checksum(&lines))
}

/// Checks `migrations.sum` in `dir` against the files found there.
pub fn verify_sum(dir: &Path, migrations: &[Migration]) -> Result<(), SumError> {
    let path = dir.join(SUM_FILE);
    let recorded = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(_) if migrations.is_empty() => return Ok(()),
        Err(_) => {
            return Err(SumError::Missing {
                dir: dir.to_path_buf(),
            });
        }
    };
    if recorded == sum_file(migrations) {
        return Ok(());
    }
    let mismatch = |detail: String| SumError::Mismatch {
        path: path.clone(),
        detail,
    };
    let listed: Vec<(&str, &str)> = recorded
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(' '))
        .collect();
    for m in migrations {
        let file = format!("{}.sql", m.name);
        match listed.iter().find(|(f, _)| *f == file) {
            None => return Err(mismatch(format!("{file} is not listed (added by hand?)"))),
            Some((_, sum)) if *sum != m.checksum => {
                return Err(mismatch(format!(
                    "{file} was edited after it was generated"
                )));
            }
            Some(_) => {}
        }
    }
    for (file, _) in &listed {
        if !migrations
            .iter()
            .any(|m| format!("{}.sql", m.name) == *file)
        {
            return Err(mismatch(format!("{file} is listed but missing")));
        }
    }
    Err(mismatch(
        "the file list or its order does not match the recorded sum".to_string(),
    ))
}

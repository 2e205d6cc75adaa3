//! Writing generated files so that a failed run leaves nothing half-written.
//!
//! Every file is produced in memory first, then written to a temporary sibling and
//! renamed into place only when all of them were written: an error while producing or
//! writing (a second connection unreachable, a disk full) leaves `generated/` as it was.
//! The renames themselves are atomic per file; should one fail after another succeeded,
//! the files are each whole, and `migrations.sum` (renamed last) then refuses the set.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A file to be written: its path and its complete contents (sea-orm-codegen's
/// `OutputFile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub path: PathBuf,
    pub contents: String,
}

/// What [`write_all`] did with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write {}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Writes every file atomically (temp file + rename); a file whose contents are already
/// identical is not touched, so its modification time stays and `git status` stays clean.
pub fn write_all(files: &[OutputFile]) -> Result<Vec<WriteOutcome>, WriteError> {
    let mut staged = Vec::new();
    let mut outcomes = Vec::new();
    for file in files {
        let existing = std::fs::read_to_string(&file.path).ok();
        if existing.as_deref() == Some(file.contents.as_str()) {
            outcomes.push(WriteOutcome::Unchanged);
            continue;
        }
        let dir = file
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let err = |source| WriteError {
            path: file.path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
        tmp.write_all(file.contents.as_bytes()).map_err(err)?;
        tmp.as_file().sync_all().map_err(err)?;
        // Temp files are created 0600; generated files are read by CI, reviewers and
        // servers running as other users, so give them the usual mode.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(err)?;
        }
        staged.push((tmp, file.path.clone()));
        outcomes.push(if existing.is_some() {
            WriteOutcome::Updated
        } else {
            WriteOutcome::Created
        });
    }
    for (tmp, path) in staged {
        tmp.persist(&path).map_err(|e| WriteError {
            path: path.clone(),
            source: e.error,
        })?;
    }
    Ok(outcomes)
}

/// Files among `files` whose contents on disk differ (for `--check`).
pub fn stale(files: &[OutputFile]) -> Vec<&Path> {
    files
        .iter()
        .filter(|f| std::fs::read_to_string(&f.path).ok().as_deref() != Some(f.contents.as_str()))
        .map(|f| f.path.as_path())
        .collect()
}

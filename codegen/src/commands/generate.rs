//! `codegen generate`: service boundaries, OpenAPI documents and service crates from the
//! source's committed snapshot (`<output>/schema/<source>.yaml`).
//!
//! It reads the snapshot rather than the live source so generation needs no database,
//! is reproducible from the repository alone, and `check` can tell a stale `generated/`
//! apart from a changed database (which the snapshot check reports).

use crate::config::{Config, ConfigError, validate};
use crate::model::{self, Schema};
use crate::render::{self, RenderError};
use crate::snapshot_io::OutputFile;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(
        "cannot read the source snapshot {}: {source}; run `just introspect` first",
        path.display()
    )]
    Snapshot {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a valid snapshot: {source}", path.display())]
    SnapshotYaml {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Render(RenderError),
}

/// The generated files, not yet written.
#[derive(Debug)]
pub struct Generated {
    pub files: Vec<OutputFile>,
    /// Service name -> table count, for the summary line.
    pub services: Vec<(String, usize)>,
    /// Files under `<output>/services/` that generation no longer produces.
    pub orphans: Vec<PathBuf>,
}

/// Reads the source snapshot named by the config, keeps the selected tables.
pub fn source_model(config: &Config) -> Result<Schema, GenerateError> {
    let path = config
        .output
        .join("schema")
        .join(format!("{}.yaml", config.source));
    let text = std::fs::read_to_string(&path).map_err(|source| GenerateError::Snapshot {
        path: path.clone(),
        source,
    })?;
    let mut schema =
        model::from_yaml(&text).map_err(|source| GenerateError::SnapshotYaml { path, source })?;
    validate::select_tables(config, &mut schema);
    Ok(schema)
}

pub fn run(config: &Config) -> Result<Generated, GenerateError> {
    let schema = source_model(config)?;
    generate_from(config, &schema)
}

/// Renders from an explicit model (tests and benchmarks use synthetic ones).
pub fn generate_from(config: &Config, schema: &Schema) -> Result<Generated, GenerateError> {
    let rendered =
        render::render(schema, &config.services, &config.output).map_err(|e| match e {
            RenderError::Boundary(b) => {
                GenerateError::Config(config.error_at(b.line(), b.to_string()))
            }
            other => GenerateError::Render(other),
        })?;
    let services = rendered
        .boundaries
        .services
        .iter()
        .map(|(n, s)| (n.clone(), s.tables.len()))
        .collect();
    let orphans = orphans(&config.output.join("services"), &rendered.files);
    Ok(Generated {
        files: rendered.files,
        services,
        orphans,
    })
}

/// Files on disk under `dir` that are not among `files` (skipping `target/`).
fn orphans(dir: &Path, files: &[OutputFile]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "target") {
                    stack.push(p);
                }
            } else if !files.iter().any(|f| f.path == p) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

//! `codegen introspect`: read connections, validate the config against the source,
//! and produce the snapshot files.

use crate::config::{Config, ConfigError, closest, validate};
use crate::inspect::{self, InspectError, Introspection};
use crate::model::{self, Summary};
use crate::snapshot_io::OutputFile;

/// Which connections to read.
#[derive(Debug, Clone)]
pub enum Selection {
    Source,
    Named(String),
    All,
}

#[derive(Debug, thiserror::Error)]
pub enum IntrospectError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error(transparent)]
    Stage(#[from] crate::stage::StageError),
    #[error("cannot render the snapshot of `{connection}`")]
    Render {
        connection: String,
        source: serde_yaml::Error,
    },
}

/// The source connection's schema, checked and filtered. Kept for the migrator until it
/// calls [`crate::stage::read_source`] itself.
pub async fn read_source(config: &Config) -> Result<model::Schema, IntrospectError> {
    Ok(crate::stage::read_source(config).await?)
}

/// One connection's result, ready to write.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub connection: String,
    pub summary: Summary,
    pub warnings: Vec<String>,
    pub file: OutputFile,
}

/// Reads every selected connection. Nothing is written: the caller writes all files
/// only once every connection succeeded.
pub async fn run(config: &Config, selection: &Selection) -> Result<Vec<Snapshot>, IntrospectError> {
    let names: Vec<String> = match selection {
        Selection::Source => vec![config.source.clone()],
        Selection::All => config.connections.keys().cloned().collect(),
        Selection::Named(name) if config.connections.contains_key(name) => vec![name.clone()],
        Selection::Named(name) => {
            let known: Vec<&str> = config.connections.keys().map(String::as_str).collect();
            let hint = closest(name, known.iter().copied())
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            return Err(config
                .error_at(
                    config.line_of_key("connections"),
                    format!(
                        "--connection {name}: no such connection{hint} (connections: {})",
                        known.join(", ")
                    ),
                )
                .into());
        }
    };
    let mut out = Vec::new();
    for name in names {
        let conn = &config.connections[&name];
        let Introspection {
            mut schema,
            warnings,
        } = inspect::introspect(conn).await?;
        if name == config.source {
            validate::against_source(config, &schema)?;
            validate::select_tables(config, &mut schema);
        }
        let contents = model::to_yaml(&schema).map_err(|source| IntrospectError::Render {
            connection: name.clone(),
            source,
        })?;
        out.push(Snapshot {
            summary: schema.summary(),
            warnings,
            file: OutputFile {
                path: config.output.join("schema").join(format!("{name}.yaml")),
                contents,
            },
            connection: name,
        });
    }
    Ok(out)
}

//! What rendering shares: its error and the one-trailing-newline rule of every file.

use crate::boundary::BoundaryError;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Boundary(#[from] BoundaryError),
    #[error("cannot serialise {what}: {source}")]
    Yaml {
        what: String,
        source: serde_yaml::Error,
    },
    #[error("template {template}: {source}")]
    Template {
        template: &'static str,
        source: askama::Error,
    },
    #[error("rustfmt failed on {path}: {message}")]
    Rustfmt { path: String, message: String },
}

/// Exactly one trailing newline, whatever the template engine kept.
pub fn one_newline(mut s: String) -> String {
    while s.ends_with('\n') {
        s.pop();
    }
    s.push('\n');
    s
}

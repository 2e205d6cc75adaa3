//! A migration file as read from disk, and its checksum (what `migrations.sum` and the
//! ledger record).

use std::path::PathBuf;

/// A migration file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: u32,
    /// File stem, e.g. `0001_initial`.
    pub name: String,
    pub path: PathBuf,
    pub contents: String,
    /// `h1:` + base64 SHA-256 of the contents.
    pub checksum: String,
}

/// The `h1:` checksum of a file's contents.
pub fn checksum(contents: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(contents.as_bytes());
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

//! The mapping's `mask:` applied to a source value, the same way whether transfer writes
//! it or verify compares it (verify compares the masked value with the destination's).

use seaway_codegen::config::{Config, Mask};

/// Disguises a value per the mapping's `mask:`; a hash is keyed by `SEAWAY_MASK_KEY`
/// (or the config path) so equal inputs give equal outputs and joins still work.
pub fn apply_mask(value: &mut Option<String>, mask: Option<Mask>, config: &Config) {
    let Some(mask) = mask else { return };
    *value = match (mask, value.take()) {
        (_, None) | (Mask::Null, _) => None,
        (Mask::Redact, Some(_)) => Some("REDACTED".to_string()),
        (Mask::Hash, Some(v)) => {
            use sha2::Digest;
            let key = std::env::var("SEAWAY_MASK_KEY")
                .unwrap_or_else(|_| config.path.display().to_string());
            let digest = sha2::Sha256::digest(format!("{key}\u{0}{v}").as_bytes());
            Some(digest.iter().take(12).map(|b| format!("{b:02x}")).collect())
        }
    };
}

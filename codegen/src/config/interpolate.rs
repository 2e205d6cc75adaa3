//! `${VAR}` expansion, from the process environment first and then a `.env` file.
//!
//! Expansion never touches the process environment (no `set_var`): what a run saw is
//! decided once, here, and the `.env` file is only ever read.

use std::collections::BTreeMap;
use std::path::Path;

/// Where variables come from, in order of precedence.
#[derive(Debug, Default, Clone)]
pub struct VarSource {
    dotenv: BTreeMap<String, String>,
    /// The `.env` file that was read, for error messages.
    pub dotenv_path: Option<std::path::PathBuf>,
}

impl VarSource {
    /// Reads `<dir>/.env` if it exists. A malformed `.env` is an error naming its line.
    pub fn load(dir: &Path) -> Result<VarSource, String> {
        let path = dir.join(".env");
        if !path.is_file() {
            return Ok(VarSource {
                dotenv: BTreeMap::new(),
                dotenv_path: None,
            });
        }
        let iter =
            dotenvy::from_path_iter(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut dotenv = BTreeMap::new();
        for item in iter {
            let (k, v) = item.map_err(|e| format!("{}: {e}", path.display()))?;
            dotenv.insert(k, v);
        }
        Ok(VarSource {
            dotenv,
            dotenv_path: Some(path),
        })
    }

    /// A source with these variables as if read from `.env` (the environment still wins).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> VarSource {
        VarSource {
            dotenv: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            dotenv_path: None,
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| self.dotenv.get(name).cloned())
    }

    /// Expands `${NAME}` and `${NAME:-fallback}`; `$$` stands for a literal `$`.
    /// Fails on the first unset variable, unclosed `${`, or `${}` naming no variable.
    pub fn expand(&self, text: &str) -> Result<String, ExpandError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
            } else if let Some(body) = after.strip_prefix('{') {
                let Some(end) = body.find('}') else {
                    return Err(ExpandError::Unterminated {
                        body: body.to_string(),
                    });
                };
                let spec = &body[..end];
                let (name, fallback) = match spec.split_once(":-") {
                    Some((n, f)) => (n, Some(f)),
                    None => (spec, None),
                };
                if name.is_empty() {
                    return Err(ExpandError::NoName {
                        spec: spec.to_string(),
                    });
                }
                match (self.get(name), fallback) {
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(f)) => out.push_str(f),
                    (None, None) => {
                        return Err(ExpandError::Unset {
                            name: name.to_string(),
                        });
                    }
                }
                rest = &body[end + 1..];
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Why a `${...}` could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpandError {
    /// `${NAME}` whose variable is set neither in the environment nor in `.env`.
    Unset { name: String },
    /// `${` with no closing `}`; `body` is what follows the `${`.
    Unterminated { body: String },
    /// `${}` or `${:-fallback}`: the braces name no variable.
    NoName { spec: String },
}

impl ExpandError {
    /// The text as written in the config, for finding its line: `${NAME`, `${body`, `${}`.
    pub fn needle(&self) -> String {
        match self {
            ExpandError::Unset { name } => format!("${{{name}"),
            ExpandError::Unterminated { body } => format!("${{{body}"),
            ExpandError::NoName { spec } => format!("${{{spec}}}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(pairs: &[(&str, &str)]) -> VarSource {
        VarSource::from_pairs(pairs)
    }

    #[test]
    fn expands_from_dotenv_with_fallbacks_and_escapes() {
        let vars = source(&[("SEAWAY_T_PW", "s3cr#t: x")]);
        assert_eq!(
            vars.expand("pg://u:${SEAWAY_T_PW}@h").as_deref(),
            Ok("pg://u:s3cr#t: x@h")
        );
        assert_eq!(
            vars.expand("${SEAWAY_T_UNSET_X:-5432}").as_deref(),
            Ok("5432")
        );
        assert_eq!(
            vars.expand("cost $$5 and $x").as_deref(),
            Ok("cost $5 and $x")
        );
    }

    #[test]
    fn names_the_unset_variable() {
        let err = source(&[]).expand("a ${SEAWAY_T_NOPE_1} b").unwrap_err();
        assert_eq!(
            err,
            ExpandError::Unset {
                name: "SEAWAY_T_NOPE_1".into()
            }
        );
        assert!(matches!(
            source(&[]).expand("${OPEN").unwrap_err(),
            ExpandError::Unterminated { .. }
        ));
    }

    /// Regression: `${}` was reported as "environment variable `` is not set".
    #[test]
    fn empty_braces_name_no_variable() {
        let err = source(&[("", "x")]).expand("pw ${} end").unwrap_err();
        assert_eq!(err, ExpandError::NoName { spec: "".into() });
        assert_eq!(err.needle(), "${}");
        let err = source(&[]).expand("${:-5432}").unwrap_err();
        assert_eq!(err.needle(), "${:-5432}");
    }
}

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
    /// Returns the name of the first unset variable on failure.
    pub fn expand(&self, text: &str) -> Result<String, UnsetVar> {
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
                    return Err(UnsetVar {
                        name: body.to_string(),
                        unterminated: true,
                    });
                };
                let spec = &body[..end];
                let (name, fallback) = match spec.split_once(":-") {
                    Some((n, f)) => (n, Some(f)),
                    None => (spec, None),
                };
                match (self.get(name), fallback) {
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(f)) => out.push_str(f),
                    (None, None) => {
                        return Err(UnsetVar {
                            name: name.to_string(),
                            unterminated: false,
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

/// A `${NAME}` whose variable is set neither in the environment nor in `.env`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsetVar {
    pub name: String,
    /// `${` with no closing `}`.
    pub unterminated: bool,
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
        assert_eq!(err.name, "SEAWAY_T_NOPE_1");
        assert!(source(&[]).expand("${OPEN").unwrap_err().unterminated);
    }
}

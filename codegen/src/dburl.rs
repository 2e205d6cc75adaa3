//! Database URLs: which engine, where, and how to print one without its password.
//!
//! A `DbUrl` never implements `Display` with the secret in it: the only way to get the
//! password-bearing form is [`DbUrl::expose`], which connection code calls and nothing
//! else should. Everything user-facing goes through [`DbUrl::redacted`].

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use crate::model::Dialect;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use std::path::{Path, PathBuf};

/// Replacement for a password in anything printed.
pub const REDACTED: &str = "***";

#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    dialect: Dialect,
    /// The full URL, password included. Private: see [`DbUrl::expose`].
    secret: String,
    redacted: String,
    /// Every form of the password that could show up in a driver's message (decoded,
    /// percent-encoded, as written), longest first; empty when there is none.
    password_forms: Vec<String>,
    /// `host:port` for server engines.
    endpoint: Option<String>,
    database: Option<String>,
    /// Resolved file path for SQLite.
    sqlite_path: Option<PathBuf>,
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DbUrl").field(&self.redacted).finish()
    }
}

impl std::fmt::Display for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// Why a URL was refused. Messages never contain the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("`{redacted}` is not a valid URL ({reason})")]
    Malformed { redacted: String, reason: String },
    #[error(
        "`{redacted}` has scheme `{scheme}`; seaway speaks postgres://, postgresql://, mysql://, mariadb:// and sqlite://"
    )]
    UnknownScheme { redacted: String, scheme: String },
    #[error(
        "`{redacted}`: the {part} holds a `%` escape that does not decode to UTF-8; a `%` followed by two hex digits is read as an escape, so write a literal `%` there as `%25`"
    )]
    BadEscape {
        redacted: String,
        part: &'static str,
    },
    #[error("`{redacted}` names no database; add it to the path, e.g. {example}")]
    NoDatabase {
        redacted: String,
        example: &'static str,
    },
}

impl DbUrl {
    /// Parses a URL. Relative SQLite paths resolve against `base_dir` (the config's folder).
    pub fn parse(text: &str, base_dir: &Path) -> Result<DbUrl, UrlError> {
        let scheme = text
            .split_once(':')
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default();
        if scheme == "sqlite" {
            return Ok(Self::parse_sqlite(text, base_dir));
        }
        let dialect = match scheme.as_str() {
            "postgres" | "postgresql" => Dialect::Postgres,
            "mysql" | "mariadb" => Dialect::Mysql,
            _ => {
                return Err(UrlError::UnknownScheme {
                    redacted: redact_str(text),
                    scheme,
                });
            }
        };
        // The userinfo is split and percent-encoded here, not by `url`: a password may
        // hold `#`, `/`, `?` or `@`, which a URL parser reads as the end of the authority
        // (leaking the rest into the path or fragment, and taking part of the password as
        // the host).
        let (encoded, written_password) = encode_userinfo(text);
        let mut url = url::Url::parse(&encoded).map_err(|e| UrlError::Malformed {
            redacted: redact_str(text),
            reason: e.to_string(),
        })?;
        for (part, value) in [
            ("user name", url.username()),
            ("password", url.password().unwrap_or("")),
        ] {
            // sqlx would refuse it with "invalid utf-8 sequence", naming neither which
            // part nor why.
            if percent_decode_str(value).decode_utf8().is_err() {
                return Err(UrlError::BadEscape {
                    redacted: redact_str(&encoded),
                    part,
                });
            }
        }
        let mut password_forms = Vec::new();
        if let Some(pw) = url.password() {
            let decoded = percent_decode_str(pw).decode_utf8_lossy().into_owned();
            password_forms = vec![decoded, pw.to_string()];
            password_forms.extend(written_password);
            password_forms.retain(|f| !f.is_empty());
            password_forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
            password_forms.dedup();
            // Cannot fail: the URL has a host, or it would not have a password.
            let _ = url.set_password(Some(REDACTED));
        }
        let redacted = url.to_string();
        let host = url.host_str().unwrap_or("localhost").to_string();
        let port = url.port().unwrap_or(match dialect {
            Dialect::Postgres => 5432,
            // An SQLite URL names a file and never reaches this branch.
            Dialect::Mysql | Dialect::Sqlite => 3306,
        });
        let database = url.path().trim_start_matches('/').to_string();
        let database = (!database.is_empty()).then_some(database);
        if crate::engine::traits(dialect).url_needs_database && database.is_none() {
            return Err(UrlError::NoDatabase {
                redacted,
                example: "mysql://user@host:3306/shop",
            });
        }
        let (secret, redacted) = if scheme == "mariadb" {
            // sqlx only knows `mysql://`; MariaDB speaks the same protocol.
            (
                format!("mysql{}", &encoded[scheme.len()..]),
                format!("mysql{}", &redacted[scheme.len()..]),
            )
        } else {
            (encoded, redacted)
        };
        Ok(DbUrl {
            dialect,
            secret,
            redacted,
            password_forms,
            endpoint: Some(format!("{host}:{port}")),
            database,
            sqlite_path: None,
        })
    }

    /// `sqlite://relative/path.db`, `sqlite:///absolute/path.db` or `sqlite:path.db`.
    fn parse_sqlite(text: &str, base_dir: &Path) -> DbUrl {
        let rest = &text["sqlite:".len()..];
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path_part = rest.split('?').next().unwrap_or(rest);
        let path = Path::new(path_part);
        let resolved = if path.is_absolute() {
            path.to_path_buf()
        } else {
            base_dir.join(path)
        };
        DbUrl {
            dialect: Dialect::Sqlite,
            secret: text.to_string(),
            redacted: text.to_string(),
            password_forms: Vec::new(),
            endpoint: None,
            database: Some(path_part.to_string()),
            sqlite_path: Some(resolved),
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The URL with its password replaced by `***`: the only form fit to print.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The URL with its password, for handing to a driver. Never print it.
    pub fn expose(&self) -> &str {
        &self.secret
    }

    /// `host:port` of a server engine.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    pub fn sqlite_path(&self) -> Option<&Path> {
        self.sqlite_path.as_deref()
    }

    /// Removes this URL's password from any text, e.g. a driver's error message, as a
    /// second line of defence behind never formatting the secret in the first place.
    ///
    /// Every non-empty password is scrubbed, in each form a driver might echo (decoded,
    /// percent-encoded, as written), however short: a short password is still a secret,
    /// and a driver message with a few letters starred out is the lesser harm.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.replace(&self.secret, &self.redacted);
        for form in &self.password_forms {
            out = out.replace(form.as_str(), REDACTED);
        }
        out
    }
}

/// Characters left as they are in the user name and password: RFC 3986's unreserved
/// characters and sub-delimiters. Everything else (`#`, `/`, `?`, `@`, `:`, `%` not
/// starting an escape, space, non-ASCII) is percent-encoded.
const USERINFO_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=');

/// Percent-encodes the user name and password of a `scheme://user:password@host/...`
/// URL, so that any character may appear in a password. The userinfo runs from `://` to
/// the *last* `@` (a password may itself contain `@`, `/`, `?` or `#`); the user name
/// ends at its first `:`. Existing `%XX` escapes are kept, so an already-encoded
/// password means what it always did. Returns the URL and the password as written.
fn encode_userinfo(text: &str) -> (String, Option<String>) {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return (text.to_string(), None);
    };
    let Some(at) = text[start..].rfind('@').map(|i| start + i) else {
        return (text.to_string(), None);
    };
    let (userinfo, password) = match text[start..at].split_once(':') {
        Some((user, pw)) => (
            format!("{}:{}", encode_part(user), encode_part(pw)),
            Some(pw.to_string()),
        ),
        None => (encode_part(&text[start..at]), None),
    };
    (
        format!("{}{userinfo}{}", &text[..start], &text[at..]),
        password,
    )
}

/// Percent-encodes what [`USERINFO_KEEP`] does not keep, leaving `%XX` escapes alone.
fn encode_part(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    let mut rest = part;
    while let Some(pos) = rest.find('%') {
        out.extend(utf8_percent_encode(&rest[..pos], USERINFO_KEEP));
        let escape = rest
            .get(pos + 1..pos + 3)
            .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()));
        match escape {
            Some(_) => {
                out.push_str(&rest[pos..pos + 3]);
                rest = &rest[pos + 3..];
            }
            None => {
                out.push_str("%25");
                rest = &rest[pos + 1..];
            }
        }
    }
    out.extend(utf8_percent_encode(rest, USERINFO_KEEP));
    out
}

/// Best-effort redaction of a URL-looking string that did not parse: drops everything
/// between the user name's `:` and the last `@`, the same split [`DbUrl::parse`] makes.
pub fn redact_str(text: &str) -> String {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.to_string();
    };
    let Some(at) = text[start..].rfind('@').map(|i| start + i) else {
        return text.to_string();
    };
    match text[start..at].find(':') {
        Some(colon) => format!("{}:{REDACTED}{}", &text[..start + colon], &text[at..]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_in_every_form() {
        let url = DbUrl::parse(
            "postgres://app:hunter2@db.example:6432/shop",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(url.redacted(), "postgres://app:***@db.example:6432/shop");
        assert_eq!(format!("{url}"), "postgres://app:***@db.example:6432/shop");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.endpoint(), Some("db.example:6432"));
        assert_eq!(
            url.scrub("failed for hunter2 at postgres://app:hunter2@db.example:6432/shop"),
            "failed for *** at postgres://app:***@db.example:6432/shop"
        );
    }

    #[test]
    fn percent_encoded_passwords_are_scrubbed_decoded_too() {
        let url =
            DbUrl::parse("mysql://root:p%40ss%3Aword@127.0.0.1/test", Path::new(".")).unwrap();
        assert_eq!(url.scrub("bad p@ss:word"), "bad ***");
        assert_eq!(url.endpoint(), Some("127.0.0.1:3306"));
    }

    /// The password sqlx will send for `url`, read back the way sqlx parses it.
    fn password_sqlx_sends(url: &DbUrl) -> String {
        use sqlx::ConnectOptions;
        use std::str::FromStr;
        let lossy = match url.dialect() {
            Dialect::Postgres => sqlx::postgres::PgConnectOptions::from_str(url.expose())
                .unwrap()
                .to_url_lossy(),
            Dialect::Mysql | Dialect::Sqlite => {
                sqlx::mysql::MySqlConnectOptions::from_str(url.expose())
                    .unwrap()
                    .to_url_lossy()
            }
        };
        percent_decode_str(lossy.password().unwrap_or(""))
            .decode_utf8()
            .unwrap()
            .into_owned()
    }

    /// Regression: `postgres://postgres:1234#abcSECRET@127.0.0.1:5432/db` was parsed
    /// with host `postgres`, port `1234`, and `#abcSECRET@...` kept in the printed URL's
    /// fragment. Passwords holding URL delimiters must reach the driver intact, leave
    /// the endpoint alone, and never show in the redacted form.
    #[test]
    fn password_with_url_delimiters_keeps_the_endpoint_and_stays_secret() {
        let cases = [
            ("1234#abc", "1234#abc"),
            ("1234#abcSECRET", "1234#abcSECRET"),
            ("a/b?c", "a/b?c"),
            ("p@ss", "p@ss"),
            ("with space", "with space"),
            ("p%40ss", "p@ss"),
            ("plus+sign", "plus+sign"),
            ("50%off:#/?@x", "50%off:#/?@x"),
        ];
        for (written, sent) in cases {
            for (scheme, port) in [("postgres", 5432), ("mysql", 3306), ("mariadb", 3306)] {
                let text = format!("{scheme}://app:{written}@127.0.0.1:{port}/db");
                let url = DbUrl::parse(&text, Path::new(".")).unwrap();
                let shown = if scheme == "mariadb" { "mysql" } else { scheme };
                assert_eq!(
                    url.redacted(),
                    format!("{shown}://app:***@127.0.0.1:{port}/db"),
                    "{written}"
                );
                assert_eq!(format!("{url:?}"), format!("DbUrl({:?})", url.redacted()));
                assert_eq!(url.endpoint(), Some(format!("127.0.0.1:{port}").as_str()));
                assert_eq!(url.database(), Some("db"), "{written}");
                assert_eq!(password_sqlx_sends(&url), sent, "{text}");
                for part in [written, sent] {
                    assert!(!url.redacted().contains(part), "{written}");
                    assert_eq!(url.scrub(&format!("<{part}>")), "<***>", "{written}");
                }
            }
        }
    }

    #[test]
    fn escapes_that_are_not_utf8_are_refused_without_showing_the_password() {
        let err = DbUrl::parse("mysql://root:Ic%Ae@127.0.0.1/db", Path::new(".")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("`mysql://root:***@127.0.0.1/db`: the password holds a `%` escape that does not decode to UTF-8"), "{text}");
        assert!(!text.contains("Ic"), "{text}");
        let url = DbUrl::parse("mysql://root:%C3%A9t%C3%A9@127.0.0.1/db", Path::new(".")).unwrap();
        assert_eq!(password_sqlx_sends(&url), "\u{e9}t\u{e9}");
    }

    #[test]
    fn user_names_with_url_delimiters_are_encoded_too() {
        let url = DbUrl::parse("postgres://a@b#c:p/w@h:1/db", Path::new(".")).unwrap();
        assert_eq!(url.endpoint(), Some("h:1"));
        assert_eq!(url.redacted(), "postgres://a%40b%23c:***@h:1/db");
        assert_eq!(password_sqlx_sends(&url), "p/w");
        let url = DbUrl::parse("postgres://only@h/db", Path::new(".")).unwrap();
        assert_eq!(url.redacted(), "postgres://only@h/db");
        assert_eq!(url.scrub("only"), "only");
    }

    /// Regression: the password was decoded as form data (`+` became a space, while
    /// sqlx sends `+`), and passwords under 3 characters were never scrubbed.
    #[test]
    fn scrub_catches_plus_signs_and_short_passwords() {
        let url = DbUrl::parse("mysql://root:pl+us@127.0.0.1/test", Path::new(".")).unwrap();
        assert_eq!(url.scrub("denied for pl+us"), "denied for ***");
        let url = DbUrl::parse("mysql://root:pl%2Bus@127.0.0.1/test", Path::new(".")).unwrap();
        assert_eq!(url.scrub("denied for pl+us"), "denied for ***");
        assert_eq!(url.scrub("denied for pl%2Bus"), "denied for ***");
        let url = DbUrl::parse("postgres://u:Zq@127.0.0.1/db", Path::new(".")).unwrap();
        assert_eq!(url.scrub("password Zq was wrong"), "password *** was wrong");
        let url = DbUrl::parse("postgres://u:@127.0.0.1/db", Path::new(".")).unwrap();
        assert_eq!(url.scrub("nothing to hide"), "nothing to hide");
    }

    #[test]
    fn unparseable_urls_are_still_redacted() {
        let err = DbUrl::parse("postgres://u:topsecret@[bad/db", Path::new(".")).unwrap_err();
        assert!(!err.to_string().contains("topsecret"), "{err}");
        let err = DbUrl::parse("oracle://u:topsecret@h/db", Path::new(".")).unwrap_err();
        assert!(!err.to_string().contains("topsecret"), "{err}");
    }

    #[test]
    fn sqlite_paths_resolve_against_the_config_folder() {
        let url = DbUrl::parse("sqlite://fixtures/chinook.sqlite", Path::new("/proj")).unwrap();
        assert_eq!(
            url.sqlite_path(),
            Some(Path::new("/proj/fixtures/chinook.sqlite"))
        );
        let url = DbUrl::parse("sqlite:///tmp/x.db", Path::new("/proj")).unwrap();
        assert_eq!(url.sqlite_path(), Some(Path::new("/tmp/x.db")));
    }

    #[test]
    fn mariadb_scheme_is_spoken_as_mysql() {
        let url = DbUrl::parse("mariadb://root:pw@127.0.0.1:3307/shop", Path::new(".")).unwrap();
        assert_eq!(url.dialect(), Dialect::Mysql);
        assert_eq!(url.expose(), "mysql://root:pw@127.0.0.1:3307/shop");
        assert_eq!(url.redacted(), "mysql://root:***@127.0.0.1:3307/shop");
    }
}

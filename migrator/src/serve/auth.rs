//! Who is calling: bearer tokens with roles (`server.tokens` in the config, stored as
//! SHA-256; or `SEAWAY_SERVE_TOKENS` in the environment), and the dashboard's sessions.
//!
//! A browser's `EventSource` cannot send an `Authorization` header, so the dashboard
//! signs in once with a token and then carries an HttpOnly, SameSite=Strict cookie. A
//! cookie is sent by the browser on its own, so every state-changing request made with
//! one must also carry the session's CSRF token in `X-CSRF-Token`, which only a page of
//! this origin can read (`GET /api/session`). Bearer requests need no CSRF token: no
//! browser attaches one by itself.

use super::problem::Problem;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use seaway_codegen::config::{Config, Role};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The dashboard's session cookie.
pub const SESSION_COOKIE: &str = "seaway_session";
/// The header carrying the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts without signing in again.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// `name:role:token,...`: tokens given in the environment instead of the config.
pub const TOKENS_ENV: &str = "SEAWAY_SERVE_TOKENS";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "{TOKENS_ENV}: entry {index} is not `name:role:token` with role viewer, operator or admin and a token of at least 16 characters"
    )]
    BadEnvToken { index: usize },
    #[error(
        "no tokens: set {TOKENS_ENV}=name:role:token (role viewer, operator or admin) or list `server.tokens` in the config; every route but /health needs one"
    )]
    NoTokens,
}

#[derive(Debug)]
struct Token {
    name: String,
    role: Role,
    sha256: [u8; 32],
}

#[derive(Debug, Clone)]
struct Session {
    name: String,
    role: Role,
    csrf: String,
    expires: Instant,
}

/// The known tokens and the open sessions (in memory: a restart signs everyone out).
#[derive(Debug)]
pub struct Auth {
    tokens: Vec<Token>,
    /// Keyed by the SHA-256 of the session id, so the map holds no usable secret.
    sessions: Mutex<HashMap<[u8; 32], Session>>,
}

/// A server state that knows the tokens and sessions (the extractors' only need).
pub trait HasAuth {
    fn auth(&self) -> &Auth;
}

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Bearer,
    Session,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name, recorded in the audit log.
    pub name: String,
    pub role: Role,
    pub via: Via,
}

impl Caller {
    /// 403 unless the caller's role includes `needed`; `what` names the action.
    pub fn require(&self, needed: Role, what: &str) -> Result<(), Problem> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "`{}` has role {}; {what} needs role {} or higher",
                self.name,
                self.role.as_str(),
                needed.as_str()
            )))
        }
    }
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Equal in time independent of where the first difference is.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn parse_role(text: &str) -> Option<Role> {
    match text {
        "viewer" => Some(Role::Viewer),
        "operator" => Some(Role::Operator),
        "admin" => Some(Role::Admin),
        _ => None,
    }
}

/// A fresh random secret, as hex (32 bytes from the OS).
pub fn random_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Auth {
    /// The config's tokens and those in `env_tokens` (the value of [`TOKENS_ENV`]).
    pub fn new(config: &Config, env_tokens: Option<&str>) -> Result<Auth, AuthError> {
        let mut tokens: Vec<Token> = config
            .server
            .tokens
            .iter()
            .filter_map(|t| {
                Some(Token {
                    name: t.name.clone(),
                    role: t.role,
                    // The config checked it is 64 hex digits.
                    sha256: parse_hex(&t.sha256)?,
                })
            })
            .collect();
        for (i, entry) in env_tokens
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let mut parts = entry.splitn(3, ':');
            let (Some(name), Some(role), Some(token)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(AuthError::BadEnvToken { index: i + 1 });
            };
            let Some(role) = parse_role(role) else {
                return Err(AuthError::BadEnvToken { index: i + 1 });
            };
            if name.is_empty() || token.len() < 16 {
                return Err(AuthError::BadEnvToken { index: i + 1 });
            }
            tokens.push(Token {
                name: name.to_string(),
                role,
                sha256: sha256(token),
            });
        }
        if tokens.is_empty() {
            return Err(AuthError::NoTokens);
        }
        Ok(Auth {
            tokens,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// The token's holder, if the token is known. Every token is compared, so the time
    /// taken says nothing about which one came close.
    pub fn check_token(&self, token: &str) -> Option<(String, Role)> {
        let hash = sha256(token);
        let mut found = None;
        for t in &self.tokens {
            if same(&t.sha256, &hash) {
                found = Some((t.name.clone(), t.role));
            }
        }
        found
    }

    /// Opens a session for a token's holder: (session id for the cookie, CSRF token).
    pub fn open_session(&self, name: String, role: Role) -> Result<(String, String), Problem> {
        let id = random_secret().map_err(|e| Problem::internal(format!("no randomness: {e}")))?;
        let csrf = random_secret().map_err(|e| Problem::internal(format!("no randomness: {e}")))?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            sha256(&id),
            Session {
                name,
                role,
                csrf: csrf.clone(),
                expires: now + SESSION_TTL,
            },
        );
        Ok((id, csrf))
    }

    fn session(&self, id: &str) -> Option<Session> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions
            .get(&sha256(id))
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    /// The session's CSRF token (for `GET /api/session`).
    pub fn csrf_of(&self, id: &str) -> Option<String> {
        self.session(id).map(|s| s.csrf)
    }

    pub fn close_session(&self, id: &str) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.remove(&sha256(id));
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_in<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The `Set-Cookie` value opening a session.
pub fn session_cookie(id: &str) -> String {
    format!(
        "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_TTL.as_secs()
    )
}

/// The `Set-Cookie` value ending one.
pub fn cleared_cookie() -> String {
    format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

fn safe_method(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl<S: HasAuth + Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Caller, Problem> {
        let auth = state.auth();
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(|| {
                    Problem::unauthorized("the Authorization header must be `Bearer <token>`")
                })?;
            let (name, role) = auth.check_token(token).ok_or_else(|| {
                Problem::unauthorized("the bearer token is not one this server knows")
            })?;
            return Ok(Caller {
                name,
                role,
                via: Via::Bearer,
            });
        }
        if let Some(id) = cookie_in(&parts.headers, SESSION_COOKIE) {
            let Some(session) = auth.session(id) else {
                return Err(Problem::unauthorized(
                    "the session has ended; sign in again with a token",
                ));
            };
            if !safe_method(&parts.method) {
                let sent = parts
                    .headers
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !same(&sha256(sent), &sha256(&session.csrf)) {
                    return Err(Problem::forbidden(
                        "a request made with the session cookie must carry the session's CSRF token in X-CSRF-Token (a cross-site request cannot read it)",
                    ));
                }
            }
            return Ok(Caller {
                name: session.name,
                role: session.role,
                via: Via::Session,
            });
        }
        Err(Problem::unauthorized(
            "no credentials: send `Authorization: Bearer <token>`, or sign in on the dashboard",
        ))
    }
}

/// A caller whose role is operator or admin, checked before the request's body is read
/// (so a viewer's request is a 403 whatever its body).
#[derive(Debug, Clone)]
pub struct Operator(pub Caller);

impl<S: HasAuth + Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Operator, Problem> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(
            Role::Operator,
            &format!("{} {}", parts.method, parts.uri.path()),
        )?;
        Ok(Operator(caller))
    }
}

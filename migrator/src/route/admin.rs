//! HAProxy's admin socket (the "runtime API"): one command per connection, answered and
//! closed, so a command never waits on another and a dead HAProxy is seen at once.

use super::RouteError;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A client of the admin socket at `path`.
#[derive(Debug, Clone)]
pub struct Admin {
    path: PathBuf,
}

/// How long one command may take; HAProxy answers in microseconds when it is alive.
const TIMEOUT: Duration = Duration::from_secs(5);

impl Admin {
    pub fn new(path: &Path) -> Admin {
        Admin {
            path: path.to_path_buf(),
        }
    }

    /// Sends `command`, returns HAProxy's whole answer.
    pub fn send(&self, command: &str) -> Result<String, RouteError> {
        let mut s = UnixStream::connect(&self.path).map_err(|source| RouteError::Connect {
            path: self.path.clone(),
            source,
        })?;
        let io = |source| RouteError::Io {
            path: self.path.clone(),
            source,
        };
        s.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
        s.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
        s.write_all(format!("{command}\n").as_bytes()).map_err(io)?;
        let mut answer = String::new();
        s.read_to_string(&mut answer).map_err(io)?;
        Ok(answer)
    }

    /// Sends a command that answers nothing on success (`set server ...`); any text back
    /// is HAProxy's refusal.
    pub fn run(&self, command: &str) -> Result<(), RouteError> {
        let answer = self.send(command)?;
        let answer = answer.trim();
        if answer.is_empty() {
            Ok(())
        } else {
            Err(RouteError::Refused {
                command: command.to_string(),
                answer: answer.to_string(),
            })
        }
    }
}

//! What a write did (`Written`, counted by the destination) and why it did not land
//! (`WriteError`): shared by every engine's writer.

use serde::Serialize;

/// What one write did, as the destination counted it: rows it inserted, rows it changed,
/// and rows it already held exactly (left alone: no write, no trigger, no WAL).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Written {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl Written {
    /// Rows the destination now holds from this write, whatever it had to do for them.
    pub fn rows(&self) -> u64 {
        self.inserted + self.updated + self.unchanged
    }

    pub fn inserted(n: u64) -> Written {
        Written {
            inserted: n,
            ..Written::default()
        }
    }

    /// A keyed write of `sent` distinct keys that the destination inserted and updated
    /// as counted: every other key sent was already held exactly (the write checked
    /// that every key is present).
    pub(crate) fn tally(sent: usize, inserted: u64, updated: u64) -> Written {
        Written {
            inserted,
            updated,
            unchanged: (sent as u64).saturating_sub(inserted + updated),
        }
    }
}

impl std::ops::AddAssign for Written {
    fn add_assign(&mut self, other: Written) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
    }
}

/// Why a write did not land.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The destination refused the statement (a value, a constraint, the connection).
    #[error(transparent)]
    Refused(#[from] sqlx::Error),
    /// A row larger than the MySQL server accepts in one packet: sending it would only
    /// have the server drop the connection ("Connection reset by peer").
    #[error(
        "the row is {bytes} bytes, larger than the MySQL/MariaDB server at {endpoint} accepts in one packet (max_allowed_packet = {limit} bytes); raise the server setting max_allowed_packet above {bytes} (SET GLOBAL max_allowed_packet = {suggested}, or max_allowed_packet under [mysqld] in its configuration) and run the transfer again"
    )]
    TooLarge {
        bytes: u64,
        limit: u64,
        suggested: u64,
        endpoint: String,
    },
    /// The destination accepted a write, yet afterwards does not hold every key sent: a
    /// row was dropped or renumbered on the way in (a trigger, a rule, an
    /// `AUTO_INCREMENT` that treated a key as "generate one"). Never a silent success.
    #[error(
        "{missing} of the {sent} row(s) just written are not in the destination afterwards (key {keys}), although it accepted them; something in the destination dropped or renumbered them (a trigger, a rule, an AUTO_INCREMENT column, a server sql_mode). Nothing was counted as written: fix the cause and run again"
    )]
    Missing {
        missing: u64,
        sent: u64,
        keys: String,
    },
    /// A bulk load into an empty key range was not kept (MySQL's `LOAD DATA` warned or
    /// took fewer rows than sent, and was rolled back): the caller upserts the rows.
    #[error("the bulk load was rolled back: {0}")]
    Declined(String),
}

impl WriteError {
    /// Whether the error concerns the rows sent (the caller isolates and rejects them),
    /// rather than the destination as a whole.
    pub fn is_row_refusal(&self) -> bool {
        match self {
            WriteError::Refused(_) | WriteError::TooLarge { .. } | WriteError::Declined(_) => true,
            WriteError::Missing { .. } => false,
        }
    }
}

//! What a caller chooses for one `apply` run.

use seaway_codegen::migrations::Section;
use std::time::Duration;

/// Which sections `apply` runs. A transfer applies `pre-data` (tables, columns), loads
/// the data, then `post-data` (indexes, foreign keys), which would slow the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SectionChoice {
    PreData,
    PostData,
    #[default]
    All,
}

impl SectionChoice {
    pub fn includes(self, section: Section) -> bool {
        match self {
            SectionChoice::PreData => section == Section::PreData,
            SectionChoice::PostData => section == Section::PostData,
            SectionChoice::All => true,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    pub sections: SectionChoice,
    /// Print the SQL that would run; change nothing (not even create the ledger).
    pub dry_run: bool,
    /// How long to wait for another run's lock; `None`: `DEFAULT_LOCK_WAIT` or the
    /// connection's connect_timeout if longer.
    pub lock_timeout: Option<Duration>,
}

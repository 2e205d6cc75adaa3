//! Which source transactions a chunk of the initial copy saw when it was read.
//!
//! The watermark technique (`copy.rs`) assumes that a read made after the low mark
//! committed sees every transaction the stream carries before that mark. That holds
//! where an engine makes transactions visible in the order its stream carries them:
//! SQLite has one writer at a time, and MariaDB/MySQL make each transaction visible
//! in binary log order within group commit (`commit_ordered`) before the next one's
//! commit returns. PostgreSQL does not: a transaction writes its commit record, waits
//! for the flush, and only then leaves the list of running transactions, so a low mark
//! committed in between is ahead of it in the WAL while a read taken right after does
//! not see it yet. Its change then reaches the stream before the low mark, and the
//! chunk's older copy of the row would overwrite it at the high mark (seen: a whole
//! chunk's rows missing one update, about 1 run in 40 on a busy 2-core machine).
//!
//! So a PostgreSQL chunk is read in a REPEATABLE READ transaction that also returns its
//! snapshot (`pg_current_snapshot()`): a streamed transaction the snapshot did not see
//! takes its keys out of the chunk, wherever it falls relative to the low mark.

/// What a chunk's read saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadView {
    /// Every transaction the stream carries before the low mark (the engine makes
    /// transactions visible in stream order).
    StreamOrder,
    /// A PostgreSQL snapshot: transactions below `xmin` had ended, those from `xmax` on
    /// had not started, and of those between, the ones in `running` had not committed.
    /// Kept as 32-bit transaction ids, as pgoutput's Begin messages carry them.
    Snapshot {
        xmin: u32,
        xmax: u32,
        running: Vec<u32>,
    },
}

impl ReadView {
    /// Parses `pg_current_snapshot()`'s text, `xmin:xmax:xip,xip,...` (64-bit ids; the
    /// low 32 bits are the transaction ids of the stream).
    pub fn parse_pg_snapshot(text: &str) -> Option<ReadView> {
        let mut parts = text.trim().splitn(3, ':');
        let xid = |s: &str| s.parse::<u64>().ok().map(low_bits);
        let xmin = xid(parts.next()?)?;
        let xmax = xid(parts.next()?)?;
        let running = match parts.next()? {
            "" => Vec::new(),
            list => list.split(',').map(xid).collect::<Option<Vec<u32>>>()?,
        };
        Some(ReadView::Snapshot {
            xmin,
            xmax,
            running,
        })
    }

    /// Whether the read saw the committed source transaction `xid` (the stream's text of
    /// it). An id that cannot be read counts as not seen: the chunk then drops the row
    /// and the stream's newer state stands, which is never wrong.
    pub fn saw(&self, xid: &str) -> bool {
        match self {
            ReadView::StreamOrder => true,
            ReadView::Snapshot {
                xmin,
                xmax,
                running,
            } => {
                let Ok(xid) = xid.parse::<u32>() else {
                    return false;
                };
                // Transaction ids wrap around: compare by distance, as PostgreSQL does.
                if precedes(xid, *xmin) {
                    true
                } else if !precedes(xid, *xmax) {
                    false
                } else {
                    !running.contains(&xid)
                }
            }
        }
    }
}

/// The 32-bit transaction id of a 64-bit `xid8` (epoch left out).
fn low_bits(xid8: u64) -> u32 {
    (xid8 & u64::from(u32::MAX)) as u32
}

/// `a` is older than `b` in PostgreSQL's circular transaction id order.
fn precedes(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_sees_what_ended_before_it_and_nothing_running_or_later() {
        let view = ReadView::parse_pg_snapshot("100:110:102,105").expect("parses");
        assert!(view.saw("99"), "ended before xmin");
        assert!(view.saw("100"), "xmin itself, not running");
        assert!(view.saw("104"), "between, not running");
        assert!(!view.saw("102"), "running");
        assert!(!view.saw("105"), "running");
        assert!(!view.saw("110"), "xmax: not started yet");
        assert!(!view.saw("4000"), "later still");
        assert!(!view.saw("not a number"), "unreadable counts as unseen");
    }

    #[test]
    fn an_empty_running_list_and_the_epoch_are_read() {
        // Epoch 1: xmin 2^32 + 7, xmax 2^32 + 14.
        let view = ReadView::parse_pg_snapshot("4294967303:4294967310:").expect("parses");
        assert!(view.saw("8"));
        assert!(view.saw("13"));
        assert!(!view.saw("14"));
        assert_eq!(ReadView::parse_pg_snapshot("1:2:x"), None);
        assert_eq!(ReadView::parse_pg_snapshot("1"), None);
    }

    #[test]
    fn ids_compare_across_wraparound() {
        // xmin just below the wrap, xmax past it.
        let view = ReadView::Snapshot {
            xmin: u32::MAX - 5,
            xmax: 3,
            running: vec![u32::MAX - 1],
        };
        assert!(view.saw(&(u32::MAX - 10).to_string()), "before xmin");
        assert!(view.saw(&u32::MAX.to_string()), "between, across the wrap");
        assert!(view.saw("1"), "between, after the wrap");
        assert!(!view.saw(&(u32::MAX - 1).to_string()), "running");
        assert!(!view.saw("3"), "xmax");
    }

    #[test]
    fn stream_order_engines_saw_everything() {
        assert!(ReadView::StreamOrder.saw("anything"));
    }
}

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
            ReadView::Snapshot { .. } => xid.parse::<u32>().is_ok_and(|x| self.saw_xid(x)),
        }
    }

    /// [`ReadView::saw`], for a PostgreSQL transaction id.
    pub fn saw_xid(&self, xid: u32) -> bool {
        match self {
            ReadView::StreamOrder => true,
            ReadView::Snapshot {
                xmin,
                xmax,
                running,
            } => {
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

/// How long a transaction the stream delivered may stay invisible to a new read before
/// sync gives up: its commit is in the WAL, and making it visible takes moments.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs `read` (a read and the view it was made in) again, a moment later, while its
/// view misses one of `xids`, transactions the stream already delivered. Returns the
/// read, or the transaction still unseen after [`PATIENCE`] (`Ok(Err(xid))`).
pub async fn read_seeing<T, E, F, Fut>(xids: &[u32], mut read: F) -> Result<Result<T, u32>, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(T, ReadView), E>>,
{
    let started = std::time::Instant::now();
    loop {
        let (value, view) = read().await?;
        let Some(&unseen) = xids.iter().find(|&&x| !view.saw_xid(x)) else {
            return Ok(Ok(value));
        };
        if started.elapsed() > PATIENCE {
            return Ok(Err(unseen));
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// Why a read gave up on transaction `xid` ([`read_seeing`]), for an error.
pub fn still_unseen(xid: u32) -> String {
    format!(
        "source transaction {xid} arrived in the change stream but is still not visible to a new read after {PATIENCE:?}; the source is not making committed transactions visible (check for a stalled backend), then run sync again: it resumes where it stopped"
    )
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

    #[tokio::test]
    async fn a_read_is_made_again_until_its_view_sees_the_delivered_transactions() {
        let views = [
            ReadView::parse_pg_snapshot("100:110:105").expect("parses"),
            ReadView::parse_pg_snapshot("100:111:").expect("parses"),
        ];
        let mut reads = 0;
        let got = read_seeing(&[105, 107], || {
            reads += 1;
            let view = views[(reads - 1).min(1)].clone();
            async move { Ok::<_, ()>((reads, view)) }
        })
        .await
        .expect("no read error");
        assert_eq!(got, Ok(2), "the first view missed 105: read again");
        let stream_ordered =
            read_seeing(&[1], || async { Ok::<_, ()>(((), ReadView::StreamOrder)) })
                .await
                .expect("no read error");
        assert_eq!(stream_ordered, Ok(()));
    }
}

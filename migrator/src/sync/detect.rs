//! Conflict detection for a sync both ways, by the old image (docs/architecture.md,
//! "Both ways"): a change arriving for a key conflicts when the receiving side's row is
//! no longer the row the sending side changed, so the receiving side changed it too,
//! and the sending side had not seen that change when it wrote. A side's change that was
//! carried across and built upon is not a conflict: the sender's old image then holds
//! it.
//!
//! Pure, like the resolver: the applying stream reads the receiving side's rows for the
//! keys of a run (locked, in the apply transaction) and asks [`check`] for each change.
//! Both sides of a concurrent write see the conflict, each from its end, and
//! `resolve::resolve` gives both the same answer.

use super::change::{Op, Values};

/// What the applying stream does with an arriving change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The receiving side holds what the sender changed: apply the change.
    Apply,
    /// The receiving side already holds the change's end state (both sides made the
    /// same change, or it is a change this stream applied before a restart): nothing
    /// to write, no conflict.
    Held,
    /// Both sides changed the key: decide with `resolve::resolve`.
    Conflict,
}

/// Judges one arriving change of a key: `op`, the sender's row before (`old`, the whole
/// row: `REPLICA IDENTITY FULL`; `None` for an insert) and after it (`new`; `None` for a
/// delete), against the receiving side's row now (`current`; `None` when it does not
/// hold the key). The three are in one column order (the sending side's plan order) and
/// in the comparable form of `rows::values::comparable`, so that equal rows held by two
/// engines compare equal, as `verify` compares them.
pub fn check(
    op: Op,
    old: Option<&Values>,
    new: Option<&Values>,
    current: Option<&Values>,
) -> Verdict {
    if current == new {
        // Inserted or updated to the same row on both sides, or deleted on both.
        return Verdict::Held;
    }
    match op {
        // The receiving side holds the key (with another row): both inserted it.
        Op::Insert => match current {
            None => Verdict::Apply,
            Some(_) => Verdict::Conflict,
        },
        // The receiving side changed or deleted the row since the sender's version of
        // it; an old image that is missing means the sender's capture did not send it,
        // which `REPLICA IDENTITY FULL` rules out, so it is judged a conflict rather
        // than overwriting blindly.
        Op::Update | Op::Delete => {
            if old.is_some() && old == current {
                Verdict::Apply
            } else {
                Verdict::Conflict
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[&str]) -> Values {
        values.iter().map(|v| Some(v.to_string())).collect()
    }

    #[test]
    fn an_update_over_the_row_the_sender_saw_applies() {
        let (a, b) = (row(&["1", "a"]), row(&["1", "b"]));
        assert_eq!(
            check(Op::Update, Some(&a), Some(&b), Some(&a)),
            Verdict::Apply
        );
        assert_eq!(check(Op::Delete, Some(&a), None, Some(&a)), Verdict::Apply);
        assert_eq!(check(Op::Insert, None, Some(&a), None), Verdict::Apply);
    }

    #[test]
    fn a_row_changed_on_both_sides_is_a_conflict() {
        let (a, b, c) = (row(&["1", "a"]), row(&["1", "b"]), row(&["1", "c"]));
        // The sender changed a into b; the receiver had changed a into c.
        assert_eq!(
            check(Op::Update, Some(&a), Some(&b), Some(&c)),
            Verdict::Conflict
        );
        // The receiver deleted it meanwhile.
        assert_eq!(
            check(Op::Update, Some(&a), Some(&b), None),
            Verdict::Conflict
        );
        // The sender deleted what the receiver had changed.
        assert_eq!(
            check(Op::Delete, Some(&a), None, Some(&c)),
            Verdict::Conflict
        );
        // Both inserted the key, with different rows.
        assert_eq!(
            check(Op::Insert, None, Some(&b), Some(&c)),
            Verdict::Conflict
        );
    }

    #[test]
    fn a_change_already_held_is_neither_applied_nor_a_conflict() {
        let (a, b) = (row(&["1", "a"]), row(&["1", "b"]));
        assert_eq!(
            check(Op::Update, Some(&a), Some(&b), Some(&b)),
            Verdict::Held
        );
        assert_eq!(check(Op::Insert, None, Some(&b), Some(&b)), Verdict::Held);
        assert_eq!(check(Op::Delete, Some(&a), None, None), Verdict::Held);
    }

    #[test]
    fn a_change_built_on_the_receivers_own_change_is_not_a_conflict() {
        // The receiver changed a into c, which reached the sender; the sender then
        // changed c into d: its old image is c, what the receiver holds.
        let (c, d) = (row(&["1", "c"]), row(&["1", "d"]));
        assert_eq!(
            check(Op::Update, Some(&c), Some(&d), Some(&c)),
            Verdict::Apply
        );
    }

    #[test]
    fn an_update_without_its_old_image_is_not_applied_blindly() {
        let (b, c) = (row(&["1", "b"]), row(&["1", "c"]));
        assert_eq!(
            check(Op::Update, None, Some(&b), Some(&c)),
            Verdict::Conflict
        );
    }
}

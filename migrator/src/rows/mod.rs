//! The row layer transfer and verify share: what a table's rows are (`plan`), how a
//! table is cut into chunks (`range`), how rows are read as canonical text from either
//! side (`read` builds the SQL, `source` runs it), the canonical forms themselves
//! (`values`), masks (`mask`) and the order tables go in (`order`). It depends on
//! neither of its users: transfer and verify import from here, and verify takes only the
//! writer from transfer.

pub mod mask;
pub mod order;
pub mod plan;
pub mod range;
pub mod read;
pub mod source;
pub mod values;
pub mod write;

pub use mask::apply_mask;
pub use order::load_order;

/// Which side of a transfer or comparison something comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Destination,
}

//! PostgreSQL to PostgreSQL with nothing to convert: a chunk goes as one
//! `COPY (SELECT ...) TO STDOUT` on the source piped into one `COPY ... FROM STDIN` on
//! the destination, bytes passed through untouched. This is the practical speed limit
//! (what `psql | psql` does): no value is decoded into a `String`, no canonical text is
//! built in SQL, and the destination does a plain `COPY`.
//!
//! Only used where it cannot change a value (see `eligible`) and only into a key range the
//! destination does not hold yet, so it never needs `ON CONFLICT`. The destination's
//! `COPY` is one statement, hence atomic: a kill, a refused row or a lost connection leaves
//! the range empty, and the chunk is then loaded page by page by the ordinary path, which
//! isolates any refused rows into the reject file.

// Every match on `Dialect` names every engine (docs/architecture.md, "Adding an engine").
#![deny(clippy::wildcard_enum_match_arm)]

use crate::rows::plan::Target;
use crate::rows::read::quote;
use futures_util::StreamExt;
use seaway_codegen::model::{Column, Dialect};
use sqlx::postgres::PgPoolCopyExt;

/// Rows reported to `on_rows` at most this often, so progress stays cheap.
const REPORT_EVERY: u64 = 5_000;
/// Bytes forwarded to the destination per `COPY` data message.
const BATCH_BYTES: usize = 1 << 20;
/// Buffers read ahead of the destination, per pipe.
const IN_FLIGHT: usize = 4;

/// Whether the chunk's values can pass through as PostgreSQL text unchanged: every
/// destination column has exactly the source column's neutral type (so the source's
/// output syntax is the destination's input syntax) and no mask rewrites a value.
pub fn eligible(src_cols: &[&Column], targets: &[Target], masked: bool) -> bool {
    !masked
        && src_cols.len() == targets.len()
        && src_cols.iter().zip(targets).all(|(s, t)| s.ty == t.ty)
}

/// The source query of a chunk: its columns as stored, the integer key's range `(lo, hi]`
/// and the mapping's `where:`. No `ORDER BY`: the chunk lands in one statement.
pub fn select(
    table: &str,
    src_cols: &[&Column],
    key: Option<&Column>,
    (lo, hi): (Option<i64>, Option<i64>),
    filter: Option<&str>,
) -> String {
    let q = |n: &str| quote(Dialect::Postgres, n);
    let cols: Vec<String> = src_cols.iter().map(|c| q(&c.name)).collect();
    let where_clause = crate::rows::read::where_clause(&crate::rows::read::range_conditions(
        Dialect::Postgres,
        key,
        (lo, hi),
        filter,
    ));
    format!(
        "COPY (SELECT {} FROM {}{where_clause}) TO STDOUT",
        cols.join(", "),
        q(table)
    )
}

/// Pipes `copy_out` on the source into `copy_in` on the destination; returns the rows
/// copied. `on_rows` hears the running count every few thousand rows.
pub async fn pipe(
    source: &sqlx::PgPool,
    destination: &sqlx::PgPool,
    copy_out: &str,
    copy_in: &str,
    on_rows: &mut dyn FnMut(u64),
) -> Result<u64, sqlx::Error> {
    let mut copy = destination.copy_in_raw(copy_in).await?;
    let mut out = match source.copy_out_raw(copy_out).await {
        Ok(out) => out,
        Err(e) => {
            // `abort` ends the COPY with an error so the destination keeps nothing.
            let _ = copy.abort("seaway: the source refused the read").await;
            return Err(e);
        }
    };
    // The source is read on its own task into a few large buffers while the destination
    // takes the previous ones: forwarding each small network read with `send().await`
    // between reads leaves both servers waiting on each other (measured: a single chunk
    // took 2.3x the `psql | psql` pipe that way). Bounded, so memory stays a few MiB.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, sqlx::Error>>(IN_FLIGHT);
    let reader = tokio::spawn(async move {
        let mut buf = Vec::with_capacity(BATCH_BYTES);
        while let Some(bytes) = out.next().await {
            match bytes {
                Ok(b) => {
                    buf.extend_from_slice(&b);
                    if buf.len() >= BATCH_BYTES {
                        let full = std::mem::replace(&mut buf, Vec::with_capacity(BATCH_BYTES));
                        if tx.send(Ok(full)).await.is_err() {
                            return; // the destination gave up
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
        if !buf.is_empty() {
            let _ = tx.send(Ok(buf)).await;
        }
    });
    let (mut rows, mut reported) = (0u64, 0u64);
    while let Some(batch) = rx.recv().await {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                let _ = copy.abort("seaway: the source failed mid-read").await;
                return Err(e);
            }
        };
        // Text format: one line per row; a newline inside a value is escaped as `\n`.
        rows += batch.iter().filter(|&&b| b == b'\n').count() as u64;
        if let Err(e) = copy.send(batch).await {
            reader.abort();
            return Err(e);
        }
        if rows - reported >= REPORT_EVERY {
            on_rows(rows);
            reported = rows;
        }
    }
    // The channel also closes when the reader dies without a word (a panic): then the
    // rows sent so far are only part of the chunk, and must not be committed.
    if let Err(e) = reader.await {
        let _ = copy.abort("seaway: the source reader stopped").await;
        return Err(sqlx::Error::Protocol(format!(
            "the COPY pipe's reader stopped: {e}"
        )));
    }
    copy.finish().await?;
    on_rows(rows);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::values::Family;
    use seaway_codegen::model::NeutralType;

    fn col(name: &str, ty: NeutralType) -> Column {
        Column {
            name: name.into(),
            native: String::new(),
            ty,
            nullable: true,
            default: None,
            identity: None,
            generated: None,
            comment: None,
            extras: vec![],
        }
    }

    fn target(name: &str, ty: NeutralType) -> Target {
        Target {
            name: name.into(),
            source: Family::of(&ty),
            native: String::new(),
            ty,
            is_key: false,
        }
    }

    #[test]
    fn a_cast_or_a_mask_takes_the_converting_path() {
        let int = NeutralType::Int {
            bits: 32,
            unsigned: false,
        };
        let big = NeutralType::Int {
            bits: 64,
            unsigned: false,
        };
        let a = col("a", int.clone());
        assert!(eligible(&[&a], &[target("a", int.clone())], false));
        assert!(!eligible(&[&a], &[target("a", int)], true), "masked");
        assert!(!eligible(&[&a], &[target("a", big)], false), "cast");
    }

    #[test]
    fn the_chunk_query_names_its_range_and_filter() {
        let id = col("id", NeutralType::Text);
        let sql = select(
            "t\"x",
            &[&id],
            Some(&id),
            (Some(10), Some(20)),
            Some("a = 1"),
        );
        assert_eq!(
            sql,
            r#"COPY (SELECT "id" FROM "t""x" WHERE "id" > 10 AND "id" <= 20 AND (a = 1)) TO STDOUT"#
        );
    }
}

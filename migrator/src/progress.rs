//! How a transfer shows progress: on a terminal, a bar per table (rows, rows/s, ETA) under
//! an overall bar of tables; otherwise (CI, logs, pipes) a line every few seconds. The
//! per-table summary lines go to stdout either way, so scripts can read them.

use crate::transfer::{Event, TableReport};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Seconds between log lines when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Display {
    bars: Option<Bars>,
    last_log: Instant,
}

#[derive(Debug)]
struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    table: Option<ProgressBar>,
}

impl Default for Display {
    fn default() -> Display {
        Display::new()
    }
}

impl Display {
    /// Bars when stderr is a terminal, log lines otherwise.
    pub fn new() -> Display {
        let bars = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(0));
            overall.set_style(style(
                "{prefix:>24} [{bar:30}] {pos}/{len} tables, {elapsed}",
            ));
            overall.set_prefix("all tables");
            Bars {
                multi,
                overall,
                table: None,
            }
        });
        Display {
            bars,
            last_log: Instant::now(),
        }
    }

    pub fn event(&mut self, event: &Event<'_>) {
        match (event, &mut self.bars) {
            (Event::Started { tables }, Some(b)) => b.overall.set_length(*tables as u64),
            (Event::Started { .. }, None) => {}
            (
                Event::TableStarted {
                    table, rows, done, ..
                },
                Some(b),
            ) => {
                let bar = b
                    .multi
                    .insert_before(&b.overall, ProgressBar::new(rows.unwrap_or(0)));
                bar.set_style(style(
                    "{prefix:>24} [{bar:30}] {pos}/{len} rows, {per_sec}, ETA {eta}",
                ));
                bar.set_prefix(table.to_string());
                bar.set_position(*done);
                b.table = Some(bar);
            }
            (Event::TableStarted { .. }, None) => {}
            (Event::Page { rows, .. }, Some(b)) => {
                if let Some(bar) = &b.table {
                    bar.set_position(*rows);
                }
            }
            (Event::Page { table, rows }, None) => {
                if self.last_log.elapsed() >= LOG_EVERY {
                    eprintln!("{table}: {rows} rows so far");
                    self.last_log = Instant::now();
                }
            }
            (Event::TableDone(report), Some(b)) => {
                if let Some(bar) = b.table.take() {
                    bar.finish_and_clear();
                }
                b.multi.suspend(|| summary_line(report));
                b.overall.inc(1);
            }
            (Event::TableDone(report), None) => summary_line(report),
            (Event::Deleted { table, rows }, Some(b)) => {
                b.multi.suspend(|| deleted_line(table, *rows));
            }
            (Event::Deleted { table, rows }, None) => deleted_line(table, *rows),
            (
                Event::Distributed {
                    job,
                    chunks,
                    joined,
                    slots,
                },
                _,
            ) => {
                let line = match (joined, slots) {
                    (true, Some(n)) => format!(
                        "joined job `{job}` ({chunks} chunks), which another run of this transfer had started, as a worker with {n} slots: copying its remaining chunks until the job is complete"
                    ),
                    (true, None) => format!(
                        "job `{job}` ({chunks} chunks) was already planned: waiting for it with its workers"
                    ),
                    (false, Some(n)) => format!(
                        "job `{job}`: {chunks} chunks, copied here with {n} slots; another `migrator transfer` of this config or `migrator worker` processes can join it"
                    ),
                    (false, None) => format!(
                        "job `{job}`: {chunks} chunks queued for `migrator worker` processes; waiting for them"
                    ),
                };
                self.say(&line);
            }
            (Event::Queue(depth), _) => {
                let line = format!(
                    "chunks: {} pending, {} running, {} done, {} failed; {} rows",
                    depth.pending, depth.running, depth.done, depth.failed, depth.rows
                );
                self.say(&line);
            }
        }
    }

    /// A line on stderr, above the bars when they are shown.
    fn say(&self, line: &str) {
        match &self.bars {
            Some(b) => b.multi.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Removes the bars before the final summary is printed.
    pub fn finish(&mut self) {
        if let Some(b) = self.bars.take() {
            b.overall.finish_and_clear();
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// One line per table: rows, rejects and time, or why it failed.
fn summary_line(t: &TableReport) {
    match &t.error {
        Some(e) => eprintln!("{}: FAILED: {e}", t.table),
        None => println!(
            "{:<24} {:>10} rows {:>6} rejected {:>8.2} s  ({}{}){}",
            t.table,
            t.rows,
            t.rejected,
            t.seconds,
            written(&t.written),
            compared(t.chunks, t.chunks_equal, t.extra, t.comparison != "none"),
            if t.zero_dates > 0 {
                format!(" ({} MySQL zero dates written as NULL)", t.zero_dates)
            } else {
                String::new()
            }
        ),
    }
}

/// What the destination did in this run: `3 inserted, 1 updated, 996 unchanged`.
pub fn written(w: &crate::rows::write::Written) -> String {
    format!(
        "{} inserted, {} updated, {} unchanged",
        w.inserted, w.updated, w.unchanged
    )
}

/// What compare-first found besides the writes (nothing when it did not run):
/// `; 9 of 10 chunks equal, 3 extra rows (not in the source)`.
pub fn compared(chunks: u64, equal: u64, extra: u64, ran: bool) -> String {
    if !ran {
        return String::new();
    }
    let mut out = format!("; {equal} of {chunks} chunks equal");
    if extra > 0 {
        out.push_str(&format!(", {extra} extra rows (not in the source)"));
    }
    out
}

/// A table's extra rows deleted after every table was copied (`--delete-extra`).
fn deleted_line(table: &str, rows: u64) {
    println!("{table:<24} {rows:>10} extra rows deleted");
}

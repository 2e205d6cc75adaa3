//! A sync both ways (`sync.direction: both`, `migrator sync --both`): what is checked
//! before anything starts, and each table's conflict rules as the resolver
//! (`resolve.rs`) takes them.
//!
//! Built: PostgreSQL and SQLite on either side (`both_run.rs`: two streams, each
//! `stream::run_once` with a [`BothStream`], its receiving end in `receive.rs`, the
//! side's statements in `side.rs`). Refused: a table with a `mask:` or
//! a `where:` filter (it would lose data on the way back), and every other pair of
//! engines, naming what it lacks (docs/architecture.md, "Both ways").

use super::apply::Route;
use super::error::SyncError;
use super::options::BothStream;
use super::receive::{Order, Receiving, TableRules};
use super::resolve::{Rule, Rules, Side, VersionOrder};
use super::side_types::version_table;
use crate::engine::mysql::both as my;
use crate::engine::postgres::both as pg;
use crate::engine::sqlite::both as lite;
use crate::rows::plan::TablePlan;
use crate::rows::source::Source;
use crate::rows::values::Family;
use seaway_codegen::config::sync::{ColumnRule, Conflicts, Direction, SyncSide};
use seaway_codegen::config::{Config, Connection, Mapping, Naming, Pattern, TableFilter};
use seaway_codegen::model::{Column, Dialect, Schema};
use std::collections::BTreeMap;

/// Whether a pair of engines can be synced both ways in this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pair {
    Built,
    /// Named in the refusal: what is missing for the pair.
    NotBuilt(&'static str),
}

/// The pair `source` -> `destination` both ways. Every arm names both engines, so a new
/// engine or a pair built later is decided here and nowhere else.
pub fn pair(source: Dialect, destination: Dialect) -> Pair {
    match source {
        Dialect::Postgres | Dialect::Sqlite => match destination {
            Dialect::Postgres | Dialect::Sqlite | Dialect::Mysql => Pair::Built,
        },
        Dialect::Mysql => match destination {
            Dialect::Postgres | Dialect::Sqlite | Dialect::Mysql => Pair::Built,
        },
    }
}

/// Everything a sync both ways checks before it opens a connection: the tables' maps
/// (no mask, no filter) and the pair of engines.
pub fn check(config: &Config) -> Result<(), SyncError> {
    if let Some(refusal) = config.both_ways_refusal() {
        return Err(SyncError::BothWaysConfig(refusal));
    }
    let source = config.source_connection();
    let destination = config
        .destination_connection("sync")
        .map_err(SyncError::BothWaysConfig)?;
    match pair(source.url.dialect(), destination.url.dialect()) {
        Pair::Built => Ok(()),
        Pair::NotBuilt(missing) => Err(SyncError::PairNotBuilt {
            from: format!(
                "`{}` ({})",
                source.name,
                seaway_codegen::engine::name(source.url.dialect())
            ),
            to: format!(
                "`{}` ({})",
                destination.name,
                seaway_codegen::engine::name(destination.url.dialect())
            ),
            missing,
        }),
    }
}

/// Source table `table`'s conflict settings as the resolver takes them, columns by
/// position in `columns` (the source's columns in plan order). Refuses a column rule or
/// `version_column` naming no column of the table, and a `version_column` whose values
/// do not order versions.
pub fn rules(table: &str, conflicts: &Conflicts, columns: &[Column]) -> Result<Rules, SyncError> {
    let at = |name: &str, key: &str| -> Result<usize, SyncError> {
        columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| SyncError::ConflictRule {
                table: table.to_string(),
                what: format!(
                    "`sync.tables.{table}.{key}` names column `{name}`, which the table does not have{}; name one of: {}",
                    seaway_codegen::config::did_you_mean(name, columns.iter().map(|c| c.name.as_str())),
                    columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            })
    };
    let side = |s: SyncSide| match s {
        SyncSide::Source => Side::Source,
        SyncSide::Destination => Side::Destination,
    };
    let rule = |r: ColumnRule| match r {
        ColumnRule::Source => Rule::Side(Side::Source),
        ColumnRule::Destination => Rule::Side(Side::Destination),
        ColumnRule::LastWriteWins => Rule::LastWriteWins,
    };
    let mut named = Vec::new();
    let mut rest = None;
    for (column, r) in &conflicts.columns {
        if column == "*" {
            rest = Some(rule(*r));
        } else {
            named.push((at(column, "columns")?, rule(*r)));
        }
    }
    let version = match &conflicts.version_column {
        None => None,
        Some(name) => {
            let i = at(name, "version_column")?;
            let order = match Family::of(&columns[i].ty) {
                Family::Number => VersionOrder::Number,
                Family::Date | Family::Time | Family::Timestamp | Family::TimestampTz => {
                    VersionOrder::Text
                }
                Family::Bool
                | Family::Bytes
                | Family::TimeTz
                | Family::Json
                | Family::Array
                | Family::Set
                | Family::Bit
                | Family::Text
                | Family::Other => {
                    return Err(SyncError::ConflictRule {
                        table: table.to_string(),
                        what: format!(
                            "`sync.tables.{table}.version_column` is `{name}`, of type {}, whose values do not say which version is newer; name a timestamp, date or number column that every write sets (e.g. `updated_at`), or leave it out to order versions by commit time",
                            columns[i].native
                        ),
                    });
                }
            };
            Some((i, order))
        }
    };
    Ok(Rules {
        table: conflicts
            .priority
            .map_or(Rule::LastWriteWins, |s| Rule::Side(side(s))),
        columns: named,
        rest,
        delete_wins: conflicts.delete_wins,
        version,
    })
}

/// The config of the way back: the connections swapped, and the forward `plans` (one per
/// table synced) inverted into mappings, so each destination table maps to its source
/// table and each renamed column to its source name. `naming` is `preserve`, since the
/// plans already hold the destination's names; masks and filters cannot occur (`check`
/// refused them). The way back is itself one way: it is one of the two streams.
pub fn way_back(config: &Config, plans: &[&TablePlan]) -> Result<Config, SyncError> {
    let destination = config
        .destination_connection("sync")
        .map_err(SyncError::BothWaysConfig)?
        .name
        .clone();
    let mut back = config.clone();
    back.source = destination;
    back.destination = Some(config.source.clone());
    back.naming = Naming::Preserve;
    back.sync.direction = Direction::OneWay;
    back.tables = TableFilter {
        include: plans
            .iter()
            .map(|p| {
                Pattern::literal(&p.name).map_err(|what| SyncError::Unsupported {
                    table: p.name.clone(),
                    what,
                })
            })
            .collect::<Result<_, _>>()?,
        exclude: Vec::new(),
    };
    back.mappings = plans
        .iter()
        .map(|p| {
            let columns: BTreeMap<String, String> = p
                .targets
                .iter()
                .zip(&p.src_cols)
                .filter(|(t, s)| t.name != s.name)
                .map(|(t, s)| (t.name.clone(), s.name.clone()))
                .collect();
            // A key named in the forward mapping (no primary key) is named back by the
            // destination's names for it.
            let key = match config.mappings.get(&p.source_table) {
                Some(m) if !m.key.is_empty() => p
                    .key_cols
                    .iter()
                    .filter_map(|k| {
                        let i = p.src_cols.iter().position(|c| c.name == k.name)?;
                        Some(p.targets[i].name.clone())
                    })
                    .collect(),
                Some(_) | None => Vec::new(),
            };
            let mapping = Mapping {
                target: Some(p.source_table.clone()),
                columns,
                mask: BTreeMap::new(),
                filter: None,
                types: BTreeMap::new(),
                watermark: None,
                key,
                append_only: false,
                line: 0,
            };
            (p.name.clone(), mapping)
        })
        .collect();
    Ok(back)
}

#[cfg(test)]
mod tests {
    use super::*;
    use seaway_codegen::model::NeutralType;
    use std::collections::BTreeMap;

    fn col(name: &str, ty: NeutralType) -> Column {
        Column {
            name: name.into(),
            ty,
            native: "t".into(),
            nullable: true,
            default: None,
            identity: None,
            generated: None,
            comment: None,
            extras: Vec::new(),
        }
    }

    fn users() -> Vec<Column> {
        vec![
            col(
                "id",
                NeutralType::Int {
                    bits: 64,
                    unsigned: false,
                },
            ),
            col("email", NeutralType::Text),
            col("last_login", NeutralType::Timestamp { precision: None }),
            col("doc", NeutralType::Json),
        ]
    }

    fn target(name: &str, is_key: bool) -> crate::rows::plan::Target {
        crate::rows::plan::Target {
            name: name.into(),
            ty: NeutralType::Text,
            native: "text".into(),
            source: Family::Text,
            is_key,
        }
    }

    #[test]
    fn the_way_back_inverts_connections_tables_and_renames() {
        let config = Config::from_text(
            std::path::Path::new("seaway.yaml"),
            "connections:\n  monolith:\n    url: postgres://u@h/a\n  service:\n    url: postgres://u@h/b\nsource: monolith\ndestination: service\nnaming: snake_case\nmappings:\n  Users:\n    target: accounts\n    columns:\n      EMail: email_address\n  PlayLog:\n    key: [TrackId, PlayedAt]\nsync:\n  direction: both\n",
            &seaway_codegen::config::VarSource::default(),
        )
        .unwrap();
        let users = TablePlan {
            name: "accounts".into(),
            source_table: "Users".into(),
            src_cols: vec![
                col("Id", NeutralType::Text),
                col("EMail", NeutralType::Text),
            ],
            key_cols: vec![col("Id", NeutralType::Text)],
            dest_key_cols: vec![col("id", NeutralType::Text)],
            targets: vec![target("id", true), target("email_address", false)],
            masks: vec![None, None],
            filter: None,
            append_only: false,
        };
        let log = TablePlan {
            name: "play_log".into(),
            source_table: "PlayLog".into(),
            src_cols: vec![
                col("TrackId", NeutralType::Text),
                col("PlayedAt", NeutralType::Text),
            ],
            key_cols: vec![
                col("TrackId", NeutralType::Text),
                col("PlayedAt", NeutralType::Text),
            ],
            dest_key_cols: Vec::new(),
            targets: vec![target("track_id", true), target("played_at", true)],
            masks: vec![None, None],
            filter: None,
            append_only: false,
        };
        let back = way_back(&config, &[&users, &log]).unwrap();
        assert_eq!(back.source, "service");
        assert_eq!(back.destination.as_deref(), Some("monolith"));
        assert_eq!(back.naming, Naming::Preserve);
        assert_eq!(back.sync.direction, Direction::OneWay);
        assert!(back.tables.selects("accounts") && back.tables.selects("play_log"));
        assert!(!back.tables.selects("Users") && !back.tables.selects("other"));
        let m = &back.mappings["accounts"];
        assert_eq!(m.target.as_deref(), Some("Users"));
        assert_eq!(
            m.columns,
            BTreeMap::from([
                ("id".to_string(), "Id".to_string()),
                ("email_address".to_string(), "EMail".to_string())
            ])
        );
        assert!(m.key.is_empty() && m.mask.is_empty() && m.filter.is_none());
        let m = &back.mappings["play_log"];
        assert_eq!(m.target.as_deref(), Some("PlayLog"));
        assert_eq!(m.key, vec!["track_id".to_string(), "played_at".to_string()]);
    }

    #[test]
    fn every_pair_is_built() {
        for s in [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite] {
            for d in [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite] {
                let built = true;
                assert_eq!(matches!(pair(s, d), Pair::Built), built, "{s} -> {d}");
            }
        }
    }

    #[test]
    fn conflict_settings_become_rules_by_position() {
        let conflicts = Conflicts {
            priority: Some(SyncSide::Destination),
            version_column: Some("last_login".into()),
            columns: BTreeMap::from([
                ("email".to_string(), ColumnRule::Source),
                ("*".to_string(), ColumnRule::LastWriteWins),
            ]),
            delete_wins: false,
            line: 0,
        };
        let r = rules("users", &conflicts, &users()).unwrap();
        assert_eq!(r.table, Rule::Side(Side::Destination));
        assert_eq!(r.columns, vec![(1, Rule::Side(Side::Source))]);
        assert_eq!(r.rest, Some(Rule::LastWriteWins));
        assert_eq!(r.version, Some((2, VersionOrder::Text)));
        assert!(!r.delete_wins);
        assert_eq!(
            rules("users", &Conflicts::default(), &users()).unwrap(),
            Rules::default()
        );
    }

    #[test]
    fn an_unknown_column_is_refused_naming_table_and_key() {
        let conflicts = Conflicts {
            columns: BTreeMap::from([("emial".to_string(), ColumnRule::Source)]),
            ..Conflicts::default()
        };
        let e = rules("users", &conflicts, &users())
            .unwrap_err()
            .to_string();
        assert!(e.contains("sync.tables.users.columns"), "{e}");
        assert!(e.contains("`emial`") && e.contains("email"), "{e}");
    }

    #[test]
    fn a_version_column_that_does_not_order_is_refused() {
        let conflicts = Conflicts {
            version_column: Some("doc".into()),
            ..Conflicts::default()
        };
        let e = rules("users", &conflicts, &users())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sync.tables.users.version_column") && e.contains("`doc`"),
            "{e}"
        );
    }
}

/// Why preparing a stream's receiving end failed.
#[derive(Debug)]
pub enum Failed {
    Sync(SyncError),
    Sql(sqlx::Error),
}

impl From<sqlx::Error> for Failed {
    fn from(e: sqlx::Error) -> Failed {
        Failed::Sql(e)
    }
}

/// A stream's receiving end: its origin created (where missing) in the side it writes
/// into, with the version table and the conflict log, and each route's rules in the
/// way there's names and column order. `actual` is the receiving side's schema.
pub async fn receiving(
    stream: &BothStream,
    routes: &[Route],
    actual: &Schema,
    setup: &super::capture::Setup,
    receiving_side: &Source,
    receiving_conn: &Connection,
    config: &Config,
) -> Result<Receiving, Failed> {
    let name = setup.name();
    let versions = version_table(name);
    let deciding = stream.tell.is_some();
    // The side that does not decide needs how far the deciding side had seen its
    // changes (from where its change order stands now, on a first run).
    let (origin, seen) = match receiving_conn.url.dialect() {
        Dialect::Postgres => {
            let Some(pool) = receiving_side.postgres() else {
                return Err(Failed::Sync(SyncError::Unsupported {
                    table: String::new(),
                    what: "the receiving side is not a PostgreSQL connection".into(),
                }));
            };
            let origin = pg::ensure_origin(pool, &stream.origin).await?;
            pg::ensure_tables(pool, &versions).await?;
            let seen = if deciding {
                0
            } else {
                // It records its own deletes (a row's commit time goes with the row).
                let keyed: Vec<(String, Vec<String>)> = routes
                    .iter()
                    .map(|r| {
                        (
                            r.plan.name.clone(),
                            r.plan
                                .targets
                                .iter()
                                .filter(|t| t.is_key)
                                .map(|t| t.name.clone())
                                .collect(),
                        )
                    })
                    .collect();
                pg::ensure_tombstones(pool, name, &keyed).await?;
                match super::side_tables::read_seen(receiving_side, Dialect::Postgres, &versions)
                    .await?
                {
                    Some(seen) => seen,
                    None => pg::clock(pool).await?,
                }
            };
            (origin, seen)
        }
        Dialect::Sqlite => {
            let pool = seaway_codegen::inspect::connect::sqlite_writable(receiving_conn, false)
                .await
                .map_err(|e| Failed::Sync(e.into()))?;
            let seen = async {
                let mut conn = pool.acquire().await?;
                lite::ensure_tables(&mut conn, name).await?;
                let stored =
                    super::side_tables::read_seen(receiving_side, Dialect::Sqlite, &versions)
                        .await?;
                let seen = match (&stream.ask, stored) {
                    (_, Some(seen)) => seen,
                    (Some(other), None) if !deciding => {
                        lite::change_order(&mut conn, other).await?
                    }
                    (_, None) => 0,
                };
                Ok::<i64, sqlx::Error>(seen)
            }
            .await;
            pool.close().await;
            (0, seen?)
        }
        Dialect::Mysql => {
            let Some(pool) = receiving_side.mysql() else {
                return Err(Failed::Sync(SyncError::Unsupported {
                    table: String::new(),
                    what: "the receiving side is not a MySQL/MariaDB connection".into(),
                }));
            };
            // Triggers record its application's changes; where it does not decide (it is
            // the destination), how far the source had seen them is kept too.
            let mut conn = pool.acquire().await?;
            my::ensure_tables(&mut conn, name, &stream.other).await?;
            for route in routes {
                let table = actual.tables.get(&route.plan.name).ok_or_else(|| {
                    Failed::Sync(SyncError::Unsupported {
                        table: route.plan.name.clone(),
                        what: "the receiving side lacks the table".into(),
                    })
                })?;
                let key: Vec<&Column> = route
                    .plan
                    .targets
                    .iter()
                    .filter(|t| t.is_key)
                    .filter_map(|t| table.column(&t.name))
                    .collect();
                my::ensure_triggers(&mut conn, name, &route.plan.name, &key).await?;
            }
            let seen = if deciding {
                0
            } else {
                match super::side_tables::read_seen(receiving_side, Dialect::Mysql, &versions)
                    .await?
                {
                    Some(seen) => seen,
                    None => my::commit_order(&mut conn).await?,
                }
            };
            (0, seen)
        }
    };
    // The stream into a MySQL side that does not decide looks its edits up in the
    // order the other stream reads them in.
    let edit_order = (receiving_conn.url.dialect() == Dialect::Mysql && !deciding)
        .then(|| stream.edit_order.clone());
    let source_order = match setup {
        super::capture::Setup::Postgres { .. } => Order::CommitTime,
        super::capture::Setup::Mysql { .. } => Order::Gtid,
        super::capture::Setup::Sqlite { .. } => Order::Sequence,
    };
    let mut tables = Vec::with_capacity(routes.len());
    for route in routes {
        let here = &route.plan;
        let forward = match stream.side {
            Side::Destination => here,
            Side::Source => stream
                .forward
                .iter()
                .find(|p| p.name == here.source_table)
                .ok_or_else(|| {
                    Failed::Sync(SyncError::Unsupported {
                        table: here.source_table.clone(),
                        what: "the way back has a table the way there does not".into(),
                    })
                })?,
        };
        let from_source = forward
            .targets
            .iter()
            .map(|t| match stream.side {
                Side::Destination => here.targets.iter().position(|h| h.name == t.name),
                Side::Source => here.src_cols.iter().position(|c| c.name == t.name),
            })
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| {
                Failed::Sync(SyncError::Unsupported {
                    table: forward.source_table.clone(),
                    what: "its columns differ between the two sides; make both sides' columns the same (`codegen diff` and `migrator apply`), then start again".into(),
                })
            })?;
        let table = actual.tables.get(&here.name).ok_or_else(|| {
            Failed::Sync(SyncError::Unsupported {
                table: here.name.clone(),
                what: "the receiving side lacks the table".into(),
            })
        })?;
        let columns = here
            .targets
            .iter()
            .map(|t| table.column(&t.name).cloned())
            .collect::<Option<Vec<Column>>>()
            .ok_or_else(|| {
                Failed::Sync(SyncError::Unsupported {
                    table: here.name.clone(),
                    what: "the receiving side lacks a column of the plan".into(),
                })
            })?;
        let conflicts = config
            .sync
            .tables
            .get(&forward.source_table)
            .cloned()
            .unwrap_or_default();
        tables.push(TableRules {
            source_table: forward.source_table.clone(),
            source_columns: forward.src_cols.iter().map(|c| c.name.clone()).collect(),
            rules: rules(&forward.source_table, &conflicts, &forward.src_cols)
                .map_err(Failed::Sync)?,
            from_source,
            columns,
            here_table: here.name.clone(),
        });
    }
    Ok(Receiving {
        side: stream.side,
        stream: name.to_string(),
        origin,
        source_order,
        edit_order,
        versions,
        tell: stream.tell.clone(),
        ask: stream.ask.clone(),
        seen,
        tables,
    })
}

//! `codegen check`: is everything in step? Exits non-zero, saying what differs, when a
//! committed snapshot no longer matches its database, a migration directory was edited
//! by hand, the destination has migrations not applied (or applied from a file that
//! changed since), or the destination has drifted from what the migrations describe.

use super::diff::{DiffError, migrations_dir, read_destination};
use super::introspect::{self, Selection, read_source};
use crate::config::Config;
use crate::migrations::{self, Section};
use crate::snapshot_io;
use crate::target;
use std::collections::BTreeSet;

/// `check` fails in the same ways `diff` does.
pub type CheckError = DiffError;

/// One finding; `check` passes when there are none.
pub type Finding = String;

pub async fn run(config: &Config) -> Result<Vec<Finding>, CheckError> {
    let mut findings = Vec::new();

    // Snapshots that exist on disk must match their live databases.
    let snapshot_dir = config.output.join("schema");
    let with_snapshots: Vec<String> = config
        .connections
        .keys()
        .filter(|name| snapshot_dir.join(format!("{name}.yaml")).is_file())
        .cloned()
        .collect();
    for name in with_snapshots {
        for snap in introspect::run(config, &Selection::Named(name)).await? {
            if !snapshot_io::stale(std::slice::from_ref(&snap.file)).is_empty() {
                findings.push(format!(
                    "{} is stale: the database `{}` changed; run `just introspect` and commit",
                    snap.file.path.display(),
                    snap.connection
                ));
            }
        }
    }

    // Generated services, when any were generated, must match the snapshot.
    if config.output.join("boundaries.yaml").is_file() {
        match super::generate::run(config) {
            Ok(generated) => {
                for p in snapshot_io::stale(&generated.files) {
                    findings.push(format!(
                        "{} is stale; run `just generate` and commit",
                        p.display()
                    ));
                }
                for p in &generated.orphans {
                    findings.push(format!(
                        "{} is not generated any more; run `just generate` and commit",
                        p.display()
                    ));
                }
            }
            Err(e) => findings.push(format!("cannot generate services: {e}")),
        }
    }

    // The routing config, when `routing:` asks for one, must match too.
    match super::route::run(config) {
        Ok(Some(file)) => {
            for p in snapshot_io::stale(std::slice::from_ref(&file)) {
                findings.push(format!(
                    "{} is stale; run `just route` and commit",
                    p.display()
                ));
            }
        }
        Ok(None) => {}
        Err(e) => findings.push(format!("cannot write the routing config: {e}")),
    }

    let Some(dest_name) = &config.destination else {
        return Ok(findings);
    };
    let dest = &config.connections[dest_name];
    let dir = migrations_dir(config, dest_name);
    let files = match migrations::load_dir(&dir) {
        Ok(files) => files,
        Err(e) => {
            findings.push(e.to_string());
            return Ok(findings);
        }
    };

    // Every migration applied, from the file as it is now.
    let applied = migrations::ledger::applied_checksums(dest).await?;
    let mut pending = Vec::new();
    for m in &files {
        let sections: BTreeSet<Section> = migrations::parse(&m.path, &m.contents)?
            .iter()
            .map(|s| s.section)
            .collect();
        for section in sections {
            match applied.get(&(m.version, section)) {
                None => pending.push(format!("{} ({})", m.name, section.as_str())),
                Some(sum) if *sum != m.checksum => findings.push(format!(
                    "{}: applied to `{dest_name}` with checksum {sum}, but the file now has {}",
                    m.path.display(),
                    m.checksum
                )),
                Some(_) => {}
            }
        }
    }
    if !pending.is_empty() {
        findings.push(format!(
            "`{dest_name}` has migrations not applied: {}; run `just apply`",
            pending.join(", ")
        ));
        return Ok(findings);
    }

    // No drift: the destination holds everything the source (after mappings) needs.
    let source = read_source(config).await?;
    let desired = target::desired(&source, config, dest.url.dialect())?;
    let actual = read_destination(dest).await?;
    let decision = migrations::next::additive(dest, &desired.schema, &actual).await?;
    if !decision.emit.is_empty() {
        findings.push(format!(
            "`{dest_name}` lacks {} change(s) the source needs (first: {:?}); run `just diff` and `just apply`",
            decision.emit.len(),
            decision.emit[0]
        ));
    }
    for skipped in decision.reported {
        findings.push(format!("`{dest_name}` drifted: {skipped}"));
    }
    Ok(findings)
}

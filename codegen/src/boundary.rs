//! Service boundaries from the foreign-key graph of the source model.
//!
//! Tables become nodes of an undirected graph whose edges are foreign keys, weighted by
//! how strongly they bind: an *identifying* key (every column of the foreign key is part
//! of the referencing table's primary key, as in a junction table or an order line) weighs
//! 2, any other key 1. Communities are found with Louvain modularity optimisation, because
//! connected components alone put a whole schema that is linked by one chain into one
//! service. Three rules then shape the result:
//!
//! - a *lookup* (referenced from at least `lookup_referrers` other tables, referencing
//!   none) is left out of detection, since it would glue unrelated clusters together, and
//!   is then owned by the service that references it most; the others refer to it by id;
//! - a community larger than `max_tables` is split again, first by modularity on its own
//!   subgraph and, when that finds nothing, at its weakest links;
//! - `services.pin` moves a table to a named service whatever detection said (pins win),
//!   and `services.names` names the detected service holding a table.
//!
//! Everything is deterministic: nodes are visited in table-name order, ties are broken by
//! name, and no hash map's iteration order reaches the output.

use crate::config::{Services, closest};
use crate::model::{Schema, naming::snake_case};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The services a schema is cut into, sorted by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Boundaries {
    pub services: BTreeMap<String, Service>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    /// Each table of the service and why it is there.
    pub tables: BTreeMap<String, Placement>,
}

/// Why a table is in its service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placement {
    pub reason: String,
    /// Foreign keys from or to tables of the same service, as `From.cols -> To`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inside: Vec<String>,
    /// Foreign keys crossing to another service, as `From.cols -> To (service)`; the
    /// generated API carries these as plain id fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub across: Vec<String>,
}

impl Boundaries {
    /// The service owning `table`.
    pub fn service_of(&self, table: &str) -> Option<&str> {
        self.services
            .iter()
            .find(|(_, s)| s.tables.contains_key(table))
            .map(|(n, _)| n.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoundaryError {
    #[error("services.{key}.{table}: table `{table}` does not exist in the source{hint}")]
    UnknownTable {
        key: &'static str,
        table: String,
        line: usize,
        hint: String,
    },
    #[error(
        "services.names: `{first}` and `{second}` are in the same detected service; name it once (or pin one of them)"
    )]
    NamedTwice {
        first: String,
        second: String,
        line: usize,
    },
}

impl BoundaryError {
    /// The config line at fault.
    pub fn line(&self) -> usize {
        match self {
            BoundaryError::UnknownTable { line, .. } | BoundaryError::NamedTwice { line, .. } => {
                *line
            }
        }
    }
}

/// An undirected weighted graph over node indexes; adjacency sorted by neighbour.
#[derive(Debug, Clone)]
struct Graph {
    adj: Vec<Vec<(usize, f64)>>,
}

impl Graph {
    fn new(n: usize, edges: &[(usize, usize, f64)]) -> Graph {
        let mut maps: Vec<BTreeMap<usize, f64>> = vec![BTreeMap::new(); n];
        for &(a, b, w) in edges {
            *maps[a].entry(b).or_default() += w;
            if a != b {
                *maps[b].entry(a).or_default() += w;
            }
        }
        Graph {
            adj: maps.into_iter().map(|m| m.into_iter().collect()).collect(),
        }
    }

    /// Weighted degree; a self-loop counts twice, as in the modularity definition.
    fn degree(&self, i: usize) -> f64 {
        self.adj[i]
            .iter()
            .map(|&(j, w)| if j == i { 2.0 * w } else { w })
            .sum()
    }
}

/// Modularity resolution: below 1 favours fewer, larger communities. FK graphs are
/// sparse and tree-like, where plain modularity (1.0) cuts off every small branch (it
/// would serve `Album` apart from its `Track`s); 0.5 keeps a domain's chain together
/// while still separating domains joined by a single link (Chinook: catalog and sales).
const RESOLUTION: f64 = 0.5;

/// Louvain modularity optimisation; returns a community label per node, labels being
/// the smallest node index of each community (so they are canonical).
fn louvain(n: usize, edges: &[(usize, usize, f64)]) -> Vec<usize> {
    let mut membership: Vec<usize> = (0..n).collect();
    let mut graph = Graph::new(n, edges);
    loop {
        let level = one_level(&graph);
        let groups = canonical(&level);
        let count = groups.iter().copied().max().map_or(0, |m| m + 1);
        if count == graph.adj.len() {
            break;
        }
        for m in &mut membership {
            *m = groups[*m];
        }
        let mut agg = Vec::new();
        for (i, nbrs) in graph.adj.iter().enumerate() {
            for &(j, w) in nbrs {
                if i < j {
                    agg.push((groups[i], groups[j], w));
                } else if i == j {
                    agg.push((groups[i], groups[i], w));
                }
            }
        }
        graph = Graph::new(count, &agg);
    }
    // Relabel by smallest member.
    let mut first: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, &c) in membership.iter().enumerate() {
        first.entry(c).or_insert(i);
    }
    membership.iter().map(|c| first[c]).collect()
}

/// Renumbers labels 0..k in order of first appearance.
fn canonical(labels: &[usize]) -> Vec<usize> {
    let mut map = BTreeMap::new();
    labels
        .iter()
        .map(|l| {
            let next = map.len();
            *map.entry(*l).or_insert(next)
        })
        .collect()
}

/// One pass of local moves: each node joins the neighbouring community with the best
/// modularity gain, until no node moves.
fn one_level(g: &Graph) -> Vec<usize> {
    let n = g.adj.len();
    let degree: Vec<f64> = (0..n).map(|i| g.degree(i)).collect();
    let m2: f64 = degree.iter().sum();
    let mut comm: Vec<usize> = (0..n).collect();
    if m2 == 0.0 {
        return comm;
    }
    let mut tot = degree.clone();
    // Bounded: each sweep that moves a node strictly raises modularity.
    for _ in 0..100 {
        let mut moved = false;
        for i in 0..n {
            let own = comm[i];
            let mut links: BTreeMap<usize, f64> = BTreeMap::new();
            for &(j, w) in &g.adj[i] {
                if j != i {
                    *links.entry(comm[j]).or_default() += w;
                }
            }
            tot[own] -= degree[i];
            let gain = |c: usize, k_in: f64| k_in - RESOLUTION * tot[c] * degree[i] / m2;
            let mut best = own;
            let mut best_gain = gain(own, links.get(&own).copied().unwrap_or(0.0));
            for (&c, &k_in) in &links {
                let g = gain(c, k_in);
                if g > best_gain + 1e-12 {
                    best = c;
                    best_gain = g;
                }
            }
            tot[best] += degree[i];
            if best != own {
                comm[i] = best;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    comm
}

/// Connected components of the nodes in `members` using only `edges`; labels as in
/// [`louvain`].
fn components(n: usize, edges: &[(usize, usize, f64)]) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], x: usize) -> usize {
        let mut r = x;
        while p[r] != r {
            r = p[r];
        }
        let mut y = x;
        while p[y] != r {
            let next = p[y];
            p[y] = r;
            y = next;
        }
        r
    }
    for &(a, b, _) in edges {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            parent[hi] = lo;
        }
    }
    (0..n).map(|i| find(&mut parent, i)).collect()
}

/// Splits `members` (global node indexes) into groups of at most `max` nodes.
fn split(members: &[usize], edges: &[(usize, usize, f64)], max: usize) -> Vec<Vec<usize>> {
    if members.len() <= max {
        return vec![members.to_vec()];
    }
    let local: BTreeMap<usize, usize> = members.iter().enumerate().map(|(l, &g)| (g, l)).collect();
    let mut sub: Vec<(usize, usize, f64)> = edges
        .iter()
        .filter_map(|&(a, b, w)| Some((*local.get(&a)?, *local.get(&b)?, w)))
        .collect();
    let mut labels = louvain(members.len(), &sub);
    if labels.iter().all(|&l| l == labels[0]) {
        // Modularity sees one community: cut the weakest links (lightest first, ties by
        // node order) until the subgraph falls apart.
        sub.sort_by(|x, y| x.2.total_cmp(&y.2).then(x.0.cmp(&y.0)).then(x.1.cmp(&y.1)));
        labels = components(members.len(), &sub);
        while labels.iter().all(|&l| l == labels[0]) && !sub.is_empty() {
            sub.remove(0);
            labels = components(members.len(), &sub);
        }
        if labels.iter().all(|&l| l == labels[0]) {
            // No links at all yet one label: cannot happen, but never loop.
            return members.chunks(max).map(<[usize]>::to_vec).collect();
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (l, &label) in labels.iter().enumerate() {
        groups.entry(label).or_default().push(members[l]);
    }
    groups
        .into_values()
        .flat_map(|g| split(&g, edges, max))
        .collect()
}

/// How a table got into a group before naming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Detected {
        split: bool,
    },
    Lookup {
        referrers: usize,
        here: usize,
    },
    /// Referenced by nothing, its keys all point out of the group detection gave it:
    /// moved to the group they point to most (a partitioned table whose keys were
    /// declared on its partitions, a log table).
    Follows {
        links: usize,
        here: usize,
    },
}

/// Cuts `schema` into services.
pub fn detect(schema: &Schema, cfg: &Services) -> Result<Boundaries, BoundaryError> {
    let names: Vec<&str> = schema.tables.keys().map(String::as_str).collect();
    for (key, map) in [("pin", &cfg.pin), ("names", &cfg.names)] {
        for (table, (_, line)) in map {
            if !schema.tables.contains_key(table) {
                return Err(BoundaryError::UnknownTable {
                    key,
                    table: table.clone(),
                    line: *line,
                    hint: closest(table, names.iter().copied())
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_default(),
                });
            }
        }
    }
    let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let n = names.len();

    // Edges, one per foreign key between distinct known tables.
    let mut edges = Vec::new();
    let mut referrers: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let mut refers: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for (from, table) in &schema.tables {
        let a = index[from.as_str()];
        for fk in &table.foreign_keys {
            let Some(&b) = index.get(fk.references.as_str()) else {
                continue;
            };
            if a == b {
                continue;
            }
            let identifying = table
                .primary_key
                .as_ref()
                .is_some_and(|pk| fk.columns.iter().all(|c| pk.columns.contains(c)));
            edges.push((a, b, if identifying { 2.0 } else { 1.0 }));
            referrers[b].insert(a);
            refers[a].insert(b);
        }
    }

    // Lookups sit out detection.
    let is_lookup: Vec<bool> = (0..n)
        .map(|i| referrers[i].len() >= cfg.lookup_referrers && refers[i].is_empty())
        .collect();
    let core: Vec<usize> = (0..n).filter(|&i| !is_lookup[i]).collect();
    let core_edges: Vec<(usize, usize, f64)> = edges
        .iter()
        .copied()
        .filter(|&(a, b, _)| !is_lookup[a] && !is_lookup[b])
        .collect();
    let local: BTreeMap<usize, usize> = core.iter().enumerate().map(|(l, &g)| (g, l)).collect();
    let sub: Vec<(usize, usize, f64)> = core_edges
        .iter()
        .map(|&(a, b, w)| (local[&a], local[&b], w))
        .collect();
    let labels = louvain(core.len(), &sub);
    let mut detected: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (l, &label) in labels.iter().enumerate() {
        detected.entry(label).or_default().push(core[l]);
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut why: Vec<Why> = vec![Why::Detected { split: false }; n];
    for members in detected.into_values() {
        let parts = split(&members, &core_edges, cfg.max_tables);
        let was_split = parts.len() > 1;
        for part in parts {
            for &t in &part {
                why[t] = Why::Detected { split: was_split };
            }
            groups.push(part);
        }
    }

    // Each lookup joins the group whose tables reference it most.
    let mut group_of: Vec<Option<usize>> = vec![None; n];
    for (g, members) in groups.iter().enumerate() {
        for &t in members {
            group_of[t] = Some(g);
        }
    }
    for t in (0..n).filter(|&i| is_lookup[i]) {
        let mut weight: BTreeMap<usize, f64> = BTreeMap::new();
        for &(a, b, w) in &edges {
            if b == t
                && let Some(g) = group_of[a]
            {
                *weight.entry(g).or_default() += w;
            }
        }
        // Heaviest; ties go to the group listed first (smallest first table name).
        let owner = weight
            .iter()
            .fold(None::<(usize, f64)>, |best, (&g, &w)| match best {
                Some((_, bw)) if bw >= w => best,
                _ => Some((g, w)),
            })
            .map(|(g, _)| g);
        let g = match owner {
            Some(g) => g,
            None => {
                groups.push(Vec::new());
                groups.len() - 1
            }
        };
        let here = referrers[t]
            .iter()
            .filter(|&&r| group_of[r] == Some(g))
            .count();
        groups[g].push(t);
        why[t] = Why::Lookup {
            referrers: referrers[t].len(),
            here,
        };
    }
    // A table nothing references whose keys all point out of its group follows them
    // to the group they point to most.
    for t in 0..n {
        if !referrers[t].is_empty() || refers[t].is_empty() || is_lookup[t] {
            continue;
        }
        let Some(own) = groups.iter().position(|m| m.contains(&t)) else {
            continue;
        };
        let mut weight: BTreeMap<usize, f64> = BTreeMap::new();
        for &(a, b, w) in &edges {
            if a == t
                && let Some(g) = groups.iter().position(|m| m.contains(&b))
            {
                *weight.entry(g).or_default() += w;
            }
        }
        if weight.contains_key(&own) {
            continue;
        }
        let Some((target, _)) =
            weight
                .iter()
                .fold(None::<(usize, f64)>, |best, (&g, &w)| match best {
                    Some((_, bw)) if bw >= w => best,
                    _ => Some((g, w)),
                })
        else {
            continue;
        };
        groups[own].retain(|&m| m != t);
        groups[target].push(t);
        let here = refers[t]
            .iter()
            .filter(|&&r| groups[target].contains(&r))
            .count();
        why[t] = Why::Follows {
            links: refers[t].len(),
            here,
        };
    }
    groups.retain(|m| !m.is_empty());
    for members in &mut groups {
        members.sort_unstable();
    }
    groups.sort();

    // Names: `services.names`, else the snake_case name of the group's central table.
    let mut taken: BTreeSet<String> = cfg.pin.values().map(|(s, _)| s.clone()).collect();
    let mut service_names: Vec<String> = Vec::with_capacity(groups.len());
    let mut named_by: BTreeMap<usize, String> = BTreeMap::new();
    for (table, (_, line)) in &cfg.names {
        let t = index[table.as_str()];
        if let Some(g) = groups.iter().position(|m| m.contains(&t)) {
            if let Some(first) = named_by.get(&g) {
                return Err(BoundaryError::NamedTwice {
                    first: first.clone(),
                    second: table.clone(),
                    line: *line,
                });
            }
            named_by.insert(g, table.clone());
        }
    }
    let mut explicit: BTreeMap<usize, String> = BTreeMap::new();
    for (g, table) in &named_by {
        let service = cfg.names[table].0.clone();
        taken.insert(service.clone());
        explicit.insert(*g, service);
    }
    let mut central: BTreeMap<usize, usize> = BTreeMap::new();
    for (g, members) in groups.iter().enumerate() {
        let anchor = central_table(members, &edges, &is_lookup);
        if members.len() > 1 {
            central.insert(anchor, referenced_inside(anchor, members, &edges));
        }
        if let Some(name) = explicit.get(&g) {
            service_names.push(name.clone());
            continue;
        }
        let base = service_identifier(names.get(anchor).copied().unwrap_or("service"));
        let mut name = base.clone();
        let mut k = 2;
        while taken.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        taken.insert(name.clone());
        service_names.push(name);
    }

    // Assemble, then apply pins.
    let mut service_of: BTreeMap<&str, String> = BTreeMap::new();
    let mut reason: BTreeMap<&str, String> = BTreeMap::new();
    for (g, members) in groups.iter().enumerate() {
        for &t in members {
            service_of.insert(names[t], service_names[g].clone());
            let mut text = describe(why[t]);
            if let Some(by) = central.get(&t) {
                text =
                    format!("{text}; central table (referenced by {by} of this service's tables)");
            }
            reason.insert(names[t], text);
        }
    }
    for (table, (service, _)) in &cfg.pin {
        service_of.insert(table.as_str(), service.clone());
        reason.insert(table.as_str(), "pinned by services.pin".to_string());
    }

    let mut services: BTreeMap<String, Service> = BTreeMap::new();
    for (&table, service) in &service_of {
        let mut inside = Vec::new();
        let mut across = Vec::new();
        for (from, t) in &schema.tables {
            for fk in &t.foreign_keys {
                let touches = from == table || fk.references == table;
                if !touches {
                    continue;
                }
                let other = if from == table {
                    fk.references.as_str()
                } else {
                    from.as_str()
                };
                let link = format!("{from}.{} -> {}", fk.columns.join(","), fk.references);
                match service_of.get(other) {
                    Some(s) if s == service => inside.push(link),
                    Some(s) => across.push(format!("{link} ({s})")),
                    None => across.push(format!("{link} (not in the model)")),
                }
            }
        }
        inside.sort();
        inside.dedup();
        across.sort();
        across.dedup();
        let mut why = reason.get(table).cloned().unwrap_or_default();
        let counts = format!(
            "{} of {} links inside",
            inside.len(),
            inside.len() + across.len()
        );
        if let Some(rest) = why.strip_prefix("linked, split") {
            why = format!(
                "linked: {counts} (split from a larger cluster at its weakest links){rest}"
            );
        } else if let Some(rest) = why.strip_prefix("linked") {
            why = if inside.is_empty() && across.is_empty() {
                format!("no links: a service of its own{rest}")
            } else {
                format!("linked: {counts}{rest}")
            };
        }
        services.entry(service.clone()).or_insert_with(|| Service {
            tables: BTreeMap::new(),
        });
        if let Some(s) = services.get_mut(service) {
            s.tables.insert(
                table.to_string(),
                Placement {
                    reason: why,
                    inside,
                    across,
                },
            );
        }
    }
    Ok(Boundaries { services })
}

fn describe(why: Why) -> String {
    match why {
        Why::Detected { split: false } => "linked".to_string(),
        Why::Detected { split: true } => "linked, split".to_string(),
        Why::Lookup { referrers, here } => format!(
            "lookup referenced by {referrers} tables; owned here, where {here} of them are, and referenced by id elsewhere"
        ),
        Why::Follows { links, here } => format!(
            "referenced by no table; {here} of the {links} tables its keys point to are here, so it is kept with them"
        ),
    }
}

/// How strongly tables of `members` reference `t` (identifying keys weigh 2), self
/// references left out.
fn referenced_weight(t: usize, members: &[usize], edges: &[(usize, usize, f64)]) -> f64 {
    edges
        .iter()
        .filter(|&&(a, b, _)| b == t && a != t && members.contains(&a))
        .map(|e| e.2)
        .sum()
}

/// How many tables of `members` (other than `t`) reference `t`.
fn referenced_inside(t: usize, members: &[usize], edges: &[(usize, usize, f64)]) -> usize {
    let referrers: BTreeSet<usize> = edges
        .iter()
        .filter(|&&(a, b, _)| b == t && a != t && members.contains(&a))
        .map(|e| e.0)
        .collect();
    referrers.len()
}

/// The table a group is named after: the one its other tables reference most (a
/// service is about what the others point at: rentals and payments point at the
/// customer), not a lookup (referenced by everyone, about nothing) while another table
/// is referenced at all; ties go to the most linked inside, then to the first name.
fn central_table(members: &[usize], edges: &[(usize, usize, f64)], is_lookup: &[bool]) -> usize {
    let linked = |t: usize| -> f64 {
        edges
            .iter()
            .filter(|&&(a, b, _)| {
                (a == t && members.contains(&b)) || (b == t && members.contains(&a))
            })
            .map(|e| e.2)
            .sum()
    };
    let candidates: Vec<usize> = members
        .iter()
        .copied()
        .filter(|&t| !is_lookup[t] && referenced_weight(t, members, edges) > 0.0)
        .collect();
    let pool = if candidates.is_empty() {
        members
    } else {
        &candidates
    };
    pool.iter()
        .copied()
        .max_by(|&x, &y| {
            referenced_weight(x, members, edges)
                .total_cmp(&referenced_weight(y, members, edges))
                .then(linked(x).total_cmp(&linked(y)))
                .then(y.cmp(&x))
        })
        .unwrap_or(0)
}

/// `InvoiceLine` -> `invoice_line`; anything outside `[a-z0-9_]` becomes `_`, and a name
/// not starting with a letter is prefixed, so it is a valid service name.
pub fn service_identifier(table: &str) -> String {
    let snake: String = snake_case(table)
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = snake.trim_matches('_').to_string();
    match trimmed.chars().next() {
        Some(c) if c.is_ascii_lowercase() => trimmed,
        _ => format!("s_{trimmed}"),
    }
}

/// `<output>/boundaries.yaml`'s contents.
pub fn to_yaml(b: &Boundaries) -> Result<String, serde_yaml::Error> {
    Ok(format!(
        "# @generated by seaway, do not edit. Regenerate with `just generate`.\n# Service boundaries detected from the source's foreign keys (docs/architecture.md).\n{}",
        serde_yaml::to_string(b)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn louvain_separates_two_triangles_joined_by_one_edge() {
        let e = [
            (0, 1, 1.0),
            (1, 2, 1.0),
            (0, 2, 1.0),
            (3, 4, 1.0),
            (4, 5, 1.0),
            (3, 5, 1.0),
            (2, 3, 1.0),
        ];
        assert_eq!(louvain(6, &e), vec![0, 0, 0, 3, 3, 3]);
    }

    #[test]
    fn split_cuts_a_chain_at_its_weakest_link() {
        let e = [(0, 1, 2.0), (1, 2, 1.0), (2, 3, 2.0)];
        let parts = split(&[0, 1, 2, 3], &e, 2);
        assert_eq!(parts, vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn lookups_have_one_owner_and_no_service_exceeds_the_maximum() {
        let schema = crate::synthetic::schema(200);
        let cfg = Services {
            max_tables: 8,
            ..Services::default()
        };
        let b = detect(&schema, &cfg).expect("detect");
        let placed: usize = b.services.values().map(|s| s.tables.len()).sum();
        assert_eq!(placed, 200, "every table in exactly one service");
        for (name, s) in &b.services {
            // A lookup may join a full service; detection itself stays within the maximum.
            let detected = s
                .tables
                .values()
                .filter(|p| !p.reason.starts_with("lookup"))
                .count();
            assert!(detected <= 8, "{name} has {detected} tables");
        }
        let owner = b.service_of("lookup_000").expect("lookup placed");
        let lookup = &b.services[owner].tables["lookup_000"];
        assert!(
            lookup.reason.starts_with("lookup referenced by"),
            "{}",
            lookup.reason
        );
        assert!(
            !lookup.across.is_empty(),
            "other services reference it by id"
        );
        // Deterministic.
        assert_eq!(detect(&schema, &cfg).expect("again"), b);
    }

    /// pagila's shape: rentals, payments and reviews point at the customer, which points
    /// at its store; staff links to more tables than anyone (the old rule, "most
    /// linked", named the service after it) but only rentals point at it.
    #[test]
    fn a_service_is_named_after_what_its_tables_point_at() {
        use crate::model::{ForeignKey, Table};
        let fk = |col: &str, to: &str| ForeignKey {
            name: format!("{col}_fk"),
            columns: vec![col.into()],
            references: to.into(),
            referenced_columns: vec!["id".into()],
            on_delete: Default::default(),
            on_update: Default::default(),
        };
        let table = |fks: Vec<ForeignKey>| Table {
            foreign_keys: fks,
            ..Table::default()
        };
        let mut schema = Schema::new(crate::model::Dialect::Postgres, "public");
        for (name, fks) in [
            ("customer", vec![fk("store_id", "store")]),
            (
                "rental",
                vec![fk("customer_id", "customer"), fk("staff_id", "staff")],
            ),
            ("payment", vec![fk("customer_id", "customer")]),
            ("review", vec![fk("customer_id", "customer")]),
            (
                "staff",
                vec![
                    fk("store_id", "store"),
                    fk("address_id", "address"),
                    fk("city_id", "city"),
                    fk("country_id", "country"),
                ],
            ),
            ("store", vec![]),
            ("address", vec![]),
            ("city", vec![]),
            ("country", vec![]),
        ] {
            schema.tables.insert(name.into(), table(fks));
        }
        let b = detect(&schema, &Services::default()).expect("detect");
        let service = b.service_of("payment").expect("payment placed");
        assert_eq!(service, "customer", "{b:#?}");
        assert_eq!(b.service_of("rental"), Some("customer"), "{b:#?}");
        let reason = &b.services["customer"].tables["customer"].reason;
        assert!(
            reason.contains("central table (referenced by 3"),
            "{reason}"
        );
    }

    #[test]
    fn identifiers_are_safe() {
        assert_eq!(service_identifier("InvoiceLine"), "invoice_line");
        assert_eq!(service_identifier("2fa codes"), "s_2fa_codes");
        assert_eq!(service_identifier("Ümlaut"), "mlaut");
    }
}

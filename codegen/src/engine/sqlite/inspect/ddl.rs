//! What SQLite keeps only in the `CREATE` text of `sqlite_master`.
//!
//! No pragma reports generated-column expressions, `CHECK` constraints, column
//! collations, constraint names, `AUTOINCREMENT`, partial-index predicates or the text
//! of index expressions; they exist only in the statement SQLite stored. This module
//! reads them with a small tokenizer (strings, quoted identifiers and comments are
//! single tokens or skipped, so a `(` inside `'a (b'` or `-- (` never counts) and
//! balanced-parenthesis scanning. It is deliberately not a SQL parser: it finds the
//! few clauses above and ignores everything else.

/// What a token is; only as fine-grained as the scanning below needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A bare word: keyword, identifier or number.
    Word,
    /// `"x"`, `` `x` `` or `[x]`.
    Quoted,
    /// `'x'`.
    Str,
    /// Any other single ASCII character.
    Punct(u8),
}

/// One token, as byte offsets into the text it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Token {
    pub(super) kind: Kind,
    pub(super) start: usize,
    pub(super) end: usize,
}

impl Token {
    fn text(self, sql: &str) -> &str {
        sql.get(self.start..self.end).unwrap_or("")
    }

    fn is_word(self, sql: &str, keyword: &str) -> bool {
        self.kind == Kind::Word && self.text(sql).eq_ignore_ascii_case(keyword)
    }

    fn is(self, c: u8) -> bool {
        self.kind == Kind::Punct(c)
    }
}

/// Splits SQL text into tokens, dropping whitespace and `--` / `/* */` comments.
///
/// Every token boundary falls on an ASCII byte or the end of the text, so slicing the
/// text at token offsets never splits a UTF-8 character.
pub(super) fn tokenize(sql: &str) -> Vec<Token> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let start = i;
        let kind = match c {
            _ if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while b.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = find(b, i + 2, b"*/").map_or(b.len(), |p| p + 2);
                continue;
            }
            b'\'' => {
                i = quoted_end(b, i, b'\'');
                Kind::Str
            }
            b'"' | b'`' => {
                i = quoted_end(b, i, c);
                Kind::Quoted
            }
            b'[' => {
                i = find(b, i + 1, b"]").map_or(b.len(), |p| p + 1);
                Kind::Quoted
            }
            _ if is_word_byte(c) => {
                while b.get(i).copied().is_some_and(is_word_byte) {
                    i += 1;
                }
                Kind::Word
            }
            _ => {
                i += 1;
                Kind::Punct(c)
            }
        };
        out.push(Token {
            kind,
            start,
            end: i,
        });
    }
    out
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// End (exclusive) of a literal opened by `q` at `start`; a doubled `q` is an escape.
fn quoted_end(b: &[u8], start: usize, q: u8) -> usize {
    let mut i = start + 1;
    while let Some(&c) = b.get(i) {
        if c == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

/// Index of the `)` that closes the `(` at `open`, skipping nested groups.
pub(super) fn matching_close(tokens: &[Token], open: usize) -> Option<usize> {
    if !tokens.get(open)?.is(b'(') {
        return None;
    }
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        if t.is(b'(') {
            depth += 1;
        } else if t.is(b')') {
            depth = depth.checked_sub(1)?;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// The balanced group opened at `open`: the index of its `)` and the text between the
/// parentheses, trimmed and otherwise verbatim.
pub(super) fn group<'s>(sql: &'s str, tokens: &[Token], open: usize) -> Option<(usize, &'s str)> {
    let close = matching_close(tokens, open)?;
    let inner = sql.get(tokens[open].end..tokens[close].start)?.trim();
    Some((close, inner))
}

/// Token ranges between the top-level commas of `tokens[from..to]`.
fn split_commas(tokens: &[Token], from: usize, to: usize) -> Vec<(usize, usize)> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = from;
    for (i, t) in tokens.iter().enumerate().take(to).skip(from) {
        if t.is(b'(') {
            depth += 1;
        } else if t.is(b')') {
            depth = depth.saturating_sub(1);
        } else if t.is(b',') && depth == 0 {
            parts.push((start, i));
            start = i + 1;
        }
    }
    parts.push((start, to));
    parts
}

/// An identifier as SQLite stores it: quotes removed and doubled quotes undone.
pub(super) fn unquote(text: &str) -> String {
    let inner =
        |open: char, close: char| text.strip_prefix(open).and_then(|t| t.strip_suffix(close));
    if let Some(t) = inner('"', '"') {
        t.replace("\"\"", "\"")
    } else if let Some(t) = inner('`', '`') {
        t.replace("``", "`")
    } else if let Some(t) = inner('\'', '\'') {
        t.replace("''", "'")
    } else if let Some(t) = inner('[', ']') {
        t.to_string()
    } else {
        text.to_string()
    }
}

/// `text` without one pair of parentheses around all of it: `(a + b)` -> `a + b`, but
/// `(a) + (b)` is left alone.
pub(super) fn strip_outer_parens(text: &str) -> &str {
    let text = text.trim();
    let tokens = tokenize(text);
    match (tokens.first(), tokens.last()) {
        (Some(first), Some(_))
            if first.is(b'(') && matching_close(&tokens, 0) == Some(tokens.len() - 1) =>
        {
            group(text, &tokens, 0).map_or(text, |(_, inner)| inner)
        }
        _ => text,
    }
}

/// If `text` is exactly one string literal (`'it''s'`, or SQLite's legacy `"x"` in a
/// default), its value.
pub(super) fn string_literal(text: &str) -> Option<String> {
    let text = text.trim();
    match tokenize(text).as_slice() {
        [t] if t.start == 0 && t.end == text.len() && text.len() >= 2 => {
            let quoted = match t.kind {
                Kind::Str => text.ends_with('\''),
                Kind::Quoted => text.starts_with('"') && text.ends_with('"'),
                Kind::Word | Kind::Punct(_) => false,
            };
            quoted.then(|| unquote(text))
        }
        _ => None,
    }
}

/// A `CHECK (...)` clause of a table or of one of its columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CheckDdl {
    /// From a preceding `CONSTRAINT name`.
    pub(super) name: Option<String>,
    pub(super) expression: String,
}

/// A `CONSTRAINT name UNIQUE` clause (SQLite keeps no name for it anywhere else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UniqueDdl {
    pub(super) name: String,
    pub(super) columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ColumnDdl {
    pub(super) name: String,
    /// The expression of `[GENERATED ALWAYS] AS (...)`.
    pub(super) generated: Option<String>,
    /// The `COLLATE` name, as written.
    pub(super) collation: Option<String>,
}

/// What `parse_create_table` found in a `CREATE TABLE` statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct TableDdl {
    pub(super) columns: Vec<ColumnDdl>,
    pub(super) checks: Vec<CheckDdl>,
    pub(super) uniques: Vec<UniqueDdl>,
    /// The statement says `AUTOINCREMENT` (allowed only on the rowid alias).
    pub(super) autoincrement: bool,
}

impl TableDdl {
    /// The definition of `name` (SQLite identifiers match case-insensitively).
    pub(super) fn column(&self, name: &str) -> Option<&ColumnDdl> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
}

const TABLE_CONSTRAINTS: [&str; 5] = ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"];

/// Reads column definitions and constraints from a `CREATE TABLE` statement. Text it
/// cannot make sense of yields an empty result, never an error; `CREATE TABLE ... AS
/// SELECT` has no definitions to read.
pub(super) fn parse_create_table(sql: &str) -> TableDdl {
    let tokens = tokenize(sql);
    let mut ddl = TableDdl {
        autoincrement: tokens.iter().any(|t| t.is_word(sql, "AUTOINCREMENT")),
        ..TableDdl::default()
    };
    let Some(open) = tokens.iter().position(|t| t.is(b'(')) else {
        return ddl;
    };
    if tokens[..open].iter().any(|t| t.is_word(sql, "AS")) {
        return ddl; // CREATE TABLE t AS SELECT ...
    }
    let Some(close) = matching_close(&tokens, open) else {
        return ddl;
    };
    for (from, to) in split_commas(&tokens, open + 1, close) {
        let item = &tokens[from..to];
        let Some(first) = item.first() else { continue };
        let is_constraint = TABLE_CONSTRAINTS.iter().any(|k| first.is_word(sql, k));
        let mut column = (!is_constraint).then(|| ColumnDdl {
            name: unquote(first.text(sql)),
            generated: None,
            collation: None,
        });
        read_item(
            sql,
            item,
            if is_constraint { 0 } else { 1 },
            column.as_mut(),
            &mut ddl,
        );
        ddl.columns.extend(column);
    }
    ddl
}

/// Walks the top level of one column definition or table constraint from `start`.
fn read_item(
    sql: &str,
    item: &[Token],
    start: usize,
    mut column: Option<&mut ColumnDdl>,
    ddl: &mut TableDdl,
) {
    let next_is_open = |i: usize| item.get(i + 1).is_some_and(|t| t.is(b'('));
    let mut pending_name: Option<String> = None;
    let mut i = start;
    while let Some(&t) = item.get(i) {
        if t.is(b'(') {
            // Type parameters, REFERENCES columns, DEFAULT (...), PRIMARY KEY (...).
            i = matching_close(item, i).map_or(item.len(), |c| c + 1);
            continue;
        }
        if t.is_word(sql, "CONSTRAINT") {
            pending_name = item.get(i + 1).map(|n| unquote(n.text(sql)));
            i += 2;
            continue;
        }
        // A constraint name belongs to the constraint right after it, and only to it.
        let name = pending_name.take();
        if t.is_word(sql, "CHECK") && next_is_open(i) {
            if let Some((close, expression)) = group(sql, item, i + 1) {
                ddl.checks.push(CheckDdl {
                    name,
                    expression: expression.to_string(),
                });
                i = close + 1;
                continue;
            }
        } else if t.is_word(sql, "AS") && next_is_open(i) {
            if let (Some(col), Some((close, expression))) =
                (column.as_deref_mut(), group(sql, item, i + 1))
            {
                col.generated = Some(expression.to_string());
                i = close + 1;
                continue;
            }
        } else if t.is_word(sql, "COLLATE") {
            if let (Some(col), Some(n)) = (column.as_deref_mut(), item.get(i + 1)) {
                col.collation = Some(unquote(n.text(sql)));
                i += 2;
                continue;
            }
        } else if t.is_word(sql, "UNIQUE") {
            match (&column, name) {
                (Some(col), Some(name)) => ddl.uniques.push(UniqueDdl {
                    name,
                    columns: vec![col.name.clone()],
                }),
                (None, Some(name)) if next_is_open(i) => {
                    if let Some(close) = matching_close(item, i + 1) {
                        let columns = split_commas(item, i + 2, close)
                            .into_iter()
                            .filter_map(|(a, _)| item.get(a).map(|t| unquote(t.text(sql))))
                            .collect();
                        ddl.uniques.push(UniqueDdl { name, columns });
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
}

/// What `parse_create_index` found in a `CREATE INDEX` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct IndexDdl {
    /// The text of each indexed part, without a trailing `ASC` / `DESC`.
    pub(super) parts: Vec<String>,
    /// The text after `WHERE` of a partial index.
    pub(super) predicate: Option<String>,
}

pub(super) fn parse_create_index(sql: &str) -> Option<IndexDdl> {
    let tokens = tokenize(sql);
    let on = tokens.iter().position(|t| t.is_word(sql, "ON"))?;
    let open = on + tokens[on..].iter().position(|t| t.is(b'('))?;
    let close = matching_close(&tokens, open)?;
    let mut parts = Vec::new();
    for (from, to) in split_commas(&tokens, open + 1, close) {
        let mut part = &tokens[from..to];
        while let [rest @ .., last] = part {
            if last.is_word(sql, "ASC") || last.is_word(sql, "DESC") {
                part = rest;
            } else {
                break;
            }
        }
        let (Some(first), Some(last)) = (part.first(), part.last()) else {
            return None;
        };
        parts.push(sql.get(first.start..last.end)?.to_string());
    }
    let predicate = tokens[close..]
        .iter()
        .find(|t| t.is_word(sql, "WHERE"))
        .and_then(|w| sql.get(w.end..))
        .map(|p| p.trim().trim_end_matches(';').trim_end().to_string())
        .filter(|p| !p.is_empty());
    Some(IndexDdl { parts, predicate })
}

/// The `SELECT` of a `CREATE VIEW` statement (the text after the first top-level `AS`),
/// so views read the same as PostgreSQL's and MySQL's definitions.
pub(super) fn view_select(sql: &str) -> Option<String> {
    let tokens = tokenize(sql);
    let as_kw = tokens.iter().position(|t| t.is_word(sql, "AS"))?;
    let select = tokens.get(as_kw + 1)?;
    Some(
        sql.get(select.start..)?
            .trim()
            .trim_end_matches(';')
            .trim_end()
            .to_string(),
    )
}

/// The names of `candidates` (tables and views) that a view's `SELECT` reads: every
/// identifier token, unquoted, compared without case as SQLite compares names. A column
/// named like a table only adds a harmless ordering constraint.
pub(super) fn names_read<'a>(
    select: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let idents: Vec<String> = tokenize(select)
        .into_iter()
        .filter(|t| matches!(t.kind, Kind::Word | Kind::Quoted))
        .map(|t| unquote(t.text(select)).to_ascii_lowercase())
        .collect();
    candidates
        .filter(|c| idents.contains(&c.to_ascii_lowercase()))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_finds_quoted_and_bare_names_without_case() {
        let read = names_read(
            "SELECT a.x FROM \"Album\" a JOIN track USING (id) WHERE 'artist' = ''",
            ["album", "Track", "artist", "genre"].into_iter(),
        );
        assert_eq!(read, ["album", "Track"]);
    }

    #[test]
    fn view_select_skips_the_create_header() {
        let sql = "CREATE VIEW \"as\" (a, b) AS\n  SELECT 1 AS a, 2 AS b;";
        assert_eq!(view_select(sql).as_deref(), Some("SELECT 1 AS a, 2 AS b"));
    }

    fn words(sql: &str) -> Vec<&str> {
        tokenize(sql).into_iter().map(|t| t.text(sql)).collect()
    }

    #[test]
    fn tokenizer_keeps_literals_whole_and_drops_comments() {
        assert_eq!(
            words("a 'x (y'' )' \"q (\" [b (] `c``(` -- ( comment\n/* ) */ f(1)"),
            [
                "a",
                "'x (y'' )'",
                "\"q (\"",
                "[b (]",
                "`c``(`",
                "f",
                "(",
                "1",
                ")"
            ]
        );
        assert_eq!(words("naïve_col, 'Zoë'"), ["naïve_col", ",", "'Zoë'"]);
        // Unterminated literals and comments run to the end instead of panicking.
        assert_eq!(words("'open"), ["'open"]);
        assert_eq!(words("x /* open"), ["x"]);
    }

    #[test]
    fn group_scanning_is_balanced_and_ignores_quoted_parens() {
        let sql = "AS (f(a, ')') + \"b)\" -- )\n + (c)) VIRTUAL";
        let tokens = tokenize(sql);
        let (close, inner) = group(sql, &tokens, 1).unwrap_or_default();
        assert_eq!(inner, "f(a, ')') + \"b)\" -- )\n + (c)");
        assert_eq!(tokens[close + 1].text(sql), "VIRTUAL");
        let open_only = tokenize("((a)");
        assert_eq!(matching_close(&open_only, 0), None);
        assert_eq!(matching_close(&tokenize("a)"), 0), None);
    }

    #[test]
    fn generated_columns_checks_and_collations() {
        let sql = "CREATE TABLE \"t x\" (\n  id INTEGER PRIMARY KEY AUTOINCREMENT, -- ( not a group\n  \
                   a TEXT COLLATE NOCASE CHECK (a <> 'x)'),\n  len INTEGER GENERATED ALWAYS AS (length(a)) VIRTUAL,\n  \
                   [b c] REAL AS ((a || ')') ) STORED,\n  d NUMERIC(10,2) DEFAULT (1 + 2) CONSTRAINT d_pos CHECK(d > 0),\n  \
                   CONSTRAINT pair UNIQUE (a COLLATE NOCASE, \"b c\"),\n  UNIQUE (d),\n  CHECK (d < 100 AND (a IS NOT NULL))\n) STRICT";
        let ddl = parse_create_table(sql);
        let names: Vec<&str> = ddl.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "a", "len", "b c", "d"]);
        assert!(ddl.autoincrement);
        assert_eq!(
            ddl.column("LEN").and_then(|c| c.generated.as_deref()),
            Some("length(a)")
        );
        assert_eq!(
            ddl.column("b c").and_then(|c| c.generated.as_deref()),
            Some("(a || ')')")
        );
        assert_eq!(
            ddl.column("a").and_then(|c| c.collation.as_deref()),
            Some("NOCASE")
        );
        assert_eq!(ddl.column("d").and_then(|c| c.generated.as_deref()), None);
        assert_eq!(
            ddl.checks,
            [
                CheckDdl {
                    name: None,
                    expression: "a <> 'x)'".into()
                },
                CheckDdl {
                    name: Some("d_pos".into()),
                    expression: "d > 0".into()
                },
                CheckDdl {
                    name: None,
                    expression: "d < 100 AND (a IS NOT NULL)".into()
                },
            ]
        );
        assert_eq!(
            ddl.uniques,
            [UniqueDdl {
                name: "pair".into(),
                columns: vec!["a".into(), "b c".into()]
            }]
        );
    }

    #[test]
    fn comments_and_strings_do_not_fake_clauses() {
        let sql = "CREATE TABLE t (\n  a INT, -- CHECK (a > 0) AUTOINCREMENT\n  b TEXT DEFAULT 'AS (x)' /* CHECK (1) */\n)";
        let ddl = parse_create_table(sql);
        assert!(!ddl.autoincrement);
        assert!(ddl.checks.is_empty());
        assert_eq!(ddl.column("b").and_then(|c| c.generated.as_deref()), None);
        assert_eq!(ddl.columns.len(), 2);
    }

    #[test]
    fn zoo_style_untyped_column_and_ctas() {
        let ddl = parse_create_table(
            "CREATE TABLE z (a INTEGER,  -- neutral: int32\n  b ,  -- neutral: text\n  c BLOB)",
        );
        let names: Vec<&str> = ddl.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(
            parse_create_table("CREATE TABLE t AS SELECT (1) AS x"),
            TableDdl::default()
        );
        assert_eq!(parse_create_table(""), TableDdl::default());
        assert_eq!(
            parse_create_table("CREATE TABLE t (a CHECK ((a)"),
            TableDdl::default()
        );
    }

    #[test]
    fn index_parts_and_predicates() {
        let ddl = parse_create_index(
            "CREATE UNIQUE INDEX \"on\" ON t (lower(name) DESC, \"b\" COLLATE NOCASE ASC, (a + b)) WHERE deleted IS NULL AND x <> ')'",
        );
        assert_eq!(
            ddl,
            Some(IndexDdl {
                parts: vec![
                    "lower(name)".into(),
                    "\"b\" COLLATE NOCASE".into(),
                    "(a + b)".into()
                ],
                predicate: Some("deleted IS NULL AND x <> ')'".into()),
            })
        );
        let plain = parse_create_index("CREATE INDEX [IFK_AlbumArtistId] ON [Album] ([ArtistId])");
        assert_eq!(
            plain,
            Some(IndexDdl {
                parts: vec!["[ArtistId]".into()],
                predicate: None
            })
        );
        assert_eq!(parse_create_index("CREATE INDEX broken"), None);
    }

    #[test]
    fn literals_and_parentheses() {
        assert_eq!(unquote("\"a\"\"b\""), "a\"b");
        assert_eq!(unquote("[a b]"), "a b");
        assert_eq!(unquote("`a``b`"), "a`b");
        assert_eq!(unquote("plain"), "plain");
        assert_eq!(strip_outer_parens(" (a + (b)) "), "a + (b)");
        assert_eq!(strip_outer_parens("(a) + (b)"), "(a) + (b)");
        assert_eq!(strip_outer_parens("((1))"), "(1)");
        assert_eq!(string_literal("'it''s'").as_deref(), Some("it's"));
        assert_eq!(string_literal("\"hello\"").as_deref(), Some("hello"));
        assert_eq!(string_literal("''").as_deref(), Some(""));
        assert_eq!(string_literal("'a' || 'b'"), None);
        assert_eq!(string_literal("x'00'"), None);
        assert_eq!(string_literal("'open"), None);
    }
}

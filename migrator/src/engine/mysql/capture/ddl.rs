//! What a statement in the binlog (a Query event: DDL is logged as its SQL text, even in
//! ROW format) does to tables, as far as sync cares: emptying (`TRUNCATE`), dropping or
//! renaming them, or altering them in a way other than adding (a dropped, changed or
//! renamed column). Added columns are not read from here: the next row change's table map
//! lists them, by name, and sync applies them then (`SyncError::ColumnAdded`).
//!
//! Only the statement's head is read (keywords, table names and the `ALTER TABLE`
//! actions), not its whole grammar: a statement it cannot place is `Other` and ignored,
//! which is what sync does with every statement on tables it does not carry.

/// A table as a statement names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// The database, when the statement qualifies the name (else the session's).
    pub database: Option<String>,
    pub table: String,
}

/// What a statement does, as sync sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    Truncate(Vec<TableRef>),
    /// `DROP TABLE`, `RENAME TABLE` (the old names), `CREATE OR REPLACE TABLE`.
    Gone(Vec<TableRef>),
    /// An `ALTER TABLE` with an action that is not additive (`DROP COLUMN`, `MODIFY`,
    /// `CHANGE`, `RENAME COLUMN`, `RENAME TO`): the action's words.
    Altered {
        table: TableRef,
        action: String,
    },
    DropDatabase(String),
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A bare word (keyword or identifier), as written.
    Word(String),
    /// A back-quoted identifier.
    Quoted(String),
    /// A string literal (its text is never needed).
    Literal,
    Punct(char),
}

impl Token {
    fn is(&self, keyword: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    fn name(&self) -> Option<&str> {
        match self {
            Token::Word(w) | Token::Quoted(w) => Some(w),
            Token::Literal | Token::Punct(_) => None,
        }
    }
}

/// The statement's tokens, comments left out.
fn tokens(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if c == '#' || (c == '-' && chars.get(i + 1) == Some(&'-')) {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '`' {
            let mut name = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == '`' {
                    if chars.get(i + 1) == Some(&'`') {
                        name.push('`');
                        i += 2;
                        continue;
                    }
                    break;
                }
                name.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(Token::Quoted(name));
        } else if c == '\'' || c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(Token::Literal);
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    out
}

/// A cursor over a statement's tokens.
struct Cursor {
    tokens: Vec<Token>,
    at: usize,
}

impl Cursor {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    /// Consumes `keyword` if it comes next.
    fn eat(&mut self, keyword: &str) -> bool {
        if self.peek().is_some_and(|t| t.is(keyword)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// A possibly qualified table name.
    fn table(&mut self) -> Option<TableRef> {
        let first = self.peek()?.name()?.to_string();
        self.at += 1;
        if self.peek() == Some(&Token::Punct('.')) {
            self.at += 1;
            let table = self.peek()?.name()?.to_string();
            self.at += 1;
            return Some(TableRef {
                database: Some(first),
                table,
            });
        }
        Some(TableRef {
            database: None,
            table: first,
        })
    }

    /// Table names separated by commas.
    fn tables(&mut self) -> Vec<TableRef> {
        let mut out = Vec::new();
        while let Some(t) = self.table() {
            out.push(t);
            if self.peek() != Some(&Token::Punct(',')) {
                break;
            }
            self.at += 1;
        }
        out
    }

    fn if_exists(&mut self) {
        if self.eat("IF") {
            self.eat("NOT");
            self.eat("EXISTS");
        }
    }
}

/// What `sql` does to tables.
pub fn classify(sql: &str) -> Statement {
    let mut c = Cursor {
        tokens: tokens(sql),
        at: 0,
    };
    if c.eat("TRUNCATE") {
        c.eat("TABLE");
        return c
            .table()
            .map_or(Statement::Other, |t| Statement::Truncate(vec![t]));
    }
    if c.eat("DROP") {
        if c.eat("DATABASE") || c.eat("SCHEMA") {
            c.if_exists();
            return c
                .peek()
                .and_then(Token::name)
                .map_or(Statement::Other, |d| Statement::DropDatabase(d.to_string()));
        }
        c.eat("TEMPORARY");
        if !c.eat("TABLE") {
            return Statement::Other;
        }
        c.if_exists();
        return Statement::Gone(c.tables());
    }
    if c.eat("RENAME") {
        if !c.eat("TABLE") {
            return Statement::Other;
        }
        let mut gone = Vec::new();
        c.if_exists();
        while let Some(from) = c.table() {
            gone.push(from);
            if !c.eat("TO") {
                break;
            }
            let _ = c.table();
            if c.peek() != Some(&Token::Punct(',')) {
                break;
            }
            c.at += 1;
        }
        return Statement::Gone(gone);
    }
    if c.eat("CREATE") {
        if !(c.eat("OR") && c.eat("REPLACE")) {
            return Statement::Other;
        }
        c.eat("TEMPORARY");
        if !c.eat("TABLE") {
            return Statement::Other;
        }
        return c
            .table()
            .map_or(Statement::Other, |t| Statement::Gone(vec![t]));
    }
    if c.eat("ALTER") {
        c.eat("ONLINE");
        c.eat("IGNORE");
        if !c.eat("TABLE") {
            return Statement::Other;
        }
        c.if_exists();
        let Some(table) = c.table() else {
            return Statement::Other;
        };
        return match altering(&c.tokens[c.at..]) {
            Some(action) => Statement::Altered { table, action },
            None => Statement::Other,
        };
    }
    Statement::Other
}

/// The first action of an `ALTER TABLE` that is not additive, as its leading words.
fn altering(tokens: &[Token]) -> Option<String> {
    let mut depth = 0usize;
    let mut start = true;
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth = depth.saturating_sub(1),
            Token::Punct(',') if depth == 0 => {
                start = true;
                continue;
            }
            Token::Word(_) | Token::Quoted(_) | Token::Literal | Token::Punct(_) => {}
        }
        if start && depth == 0 {
            start = false;
            let next = tokens.get(i + 1);
            let words = |n: usize| -> String {
                tokens[i..tokens.len().min(i + n)]
                    .iter()
                    .filter_map(Token::name)
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let kept = [
                "INDEX",
                "KEY",
                "FOREIGN",
                "CONSTRAINT",
                "CHECK",
                "PRIMARY",
                "UNIQUE",
                "PARTITION",
                "PERIOD",
                "SYSTEM",
                "FULLTEXT",
                "SPATIAL",
                "DEFAULT",
            ];
            let not_additive = if t.is("DROP") {
                !next.is_some_and(|n| kept.iter().any(|k| n.is(k)))
            } else if t.is("RENAME") {
                !next.is_some_and(|n| n.is("INDEX") || n.is("KEY"))
            } else {
                t.is("MODIFY") || t.is("CHANGE")
            };
            if not_additive {
                return Some(words(4));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(database: Option<&str>, table: &str) -> TableRef {
        TableRef {
            database: database.map(str::to_string),
            table: table.to_string(),
        }
    }

    #[test]
    fn statements_are_placed_by_what_they_do_to_tables() {
        assert_eq!(
            classify("TRUNCATE TABLE `items`"),
            Statement::Truncate(vec![t(None, "items")])
        );
        assert_eq!(
            classify("truncate shop.items"),
            Statement::Truncate(vec![t(Some("shop"), "items")])
        );
        assert_eq!(
            classify("DROP TABLE IF EXISTS `a`,`b` /* generated by server */"),
            Statement::Gone(vec![t(None, "a"), t(None, "b")])
        );
        assert_eq!(
            classify("RENAME TABLE a TO a_old, `s`.`b` TO c"),
            Statement::Gone(vec![t(None, "a"), t(Some("s"), "b")])
        );
        assert_eq!(
            classify("ALTER TABLE items ADD COLUMN color varchar(20) DEFAULT 'red, blue'"),
            Statement::Other
        );
        assert_eq!(
            classify(
                "ALTER TABLE items ADD INDEX (name), DROP INDEX x, ALTER COLUMN qty SET DEFAULT 1"
            ),
            Statement::Other
        );
        assert_eq!(
            classify("alter table `items` add column (a int, b int), drop column color"),
            Statement::Altered {
                table: t(None, "items"),
                action: "drop column color".into()
            }
        );
        assert_eq!(
            classify("ALTER TABLE items MODIFY qty bigint"),
            Statement::Altered {
                table: t(None, "items"),
                action: "MODIFY qty bigint".into()
            }
        );
        assert_eq!(
            classify("ALTER TABLE items RENAME TO goods"),
            Statement::Altered {
                table: t(None, "items"),
                action: "RENAME TO goods".into()
            }
        );
        assert_eq!(
            classify("CREATE OR REPLACE TABLE items (id int)"),
            Statement::Gone(vec![t(None, "items")])
        );
        assert_eq!(classify("CREATE TABLE x (id int)"), Statement::Other);
        assert_eq!(
            classify("DROP DATABASE IF EXISTS `shop`"),
            Statement::DropDatabase("shop".into())
        );
        assert_eq!(classify("BEGIN"), Statement::Other);
    }
}

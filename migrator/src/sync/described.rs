//! A stream's description of a source table (PostgreSQL's relation message, MySQL's table
//! map: the names of the columns in the rows that follow it), mapped onto the table sync
//! carries. Shared by the captures whose streams describe tables (a leaf they import).

use super::change::SelectedTable;
use super::error::SyncError;
use std::future::Future;

/// For each of `selected`'s columns, its position among `names`, the description's
/// columns; refuses a table whose columns changed under the sync.
///
/// A selected column the description lacks is one of two things: a column dropped at the
/// source (the sync stops, naming it), or one added after the change was written, which
/// happens when the stream resumes from before a column that sync itself then added to the
/// destination (`None`: the change leaves it as the destination holds it). The source's
/// catalog tells them apart (`source_has`): a column it still has was added later; a key
/// column never is. A described column beyond `known` (the table's columns when sync
/// started) was added at the source: `SyncError::ColumnAdded`.
pub async fn positions<F, Fut>(
    table: &str,
    selected: &SelectedTable,
    known: &[String],
    names: &[String],
    mut source_has: F,
) -> Result<Vec<Option<usize>>, SyncError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<bool, SyncError>>,
{
    let mut positions = Vec::with_capacity(selected.columns.len());
    for (i, col) in selected.columns.iter().enumerate() {
        let position = names.iter().position(|c| *c == col.name);
        if position.is_none()
            && (selected.key.contains(&i) || !source_has(col.name.clone()).await?)
        {
            return Err(SyncError::SchemaChange {
                table: table.to_string(),
                change: format!("column `{}` is gone from the source", col.name),
            });
        }
        positions.push(position);
    }
    if let Some(added) = names.iter().find(|c| !known.contains(c)) {
        return Err(SyncError::ColumnAdded {
            table: table.to_string(),
            column: added.clone(),
        });
    }
    Ok(positions)
}

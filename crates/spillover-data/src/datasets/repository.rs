//! Data files committed in the repository's `data/` folder that default experiments use, compiled
//! into the binary so a run reads the same bytes wherever it starts (no path to find at run
//! time). Their provenance is [`Source::Repository`]: the path in the repository and the sha256
//! of the bytes compiled in. Licences: `data/README.md` and `docs/assets.md`.

use std::path::Path;

use super::error::Result;
use super::item::{Dataset, Source};
use super::prose::wikitext_text;
use super::safety::xstest_csv;
use crate::hash::sha256_bytes;

/// XSTest v2 prompts (CC-BY-4.0): 250 safe prompts and 200 unsafe contrast prompts.
pub const XSTEST_PROMPTS_PATH: &str = "data/xstest/xstest_prompts.csv";
const XSTEST_PROMPTS: &str = include_str!("../../../../data/xstest/xstest_prompts.csv");

/// WikiText-2 test split (tokenized, `<unk>` kept; CC-BY-SA 3.0): 62 Wikipedia articles.
pub const WIKITEXT_TEST_PATH: &str = "data/wikitext-2/test.txt";
const WIKITEXT_TEST: &str = include_str!("../../../../data/wikitext-2/test.txt");

fn source(path: &str, text: &str) -> Source {
    Source::Repository {
        path: path.to_string(),
        sha256: sha256_bytes(text.as_bytes()),
    }
}

/// XSTest's prompts as [`super::xstest`] reads them (`label` safe/unsafe); take either half
/// with [`Dataset::with_label`] (`xstest-safe`, `xstest-unsafe`).
pub fn xstest_repository() -> Result<Dataset> {
    xstest_csv(
        Path::new(XSTEST_PROMPTS_PATH),
        XSTEST_PROMPTS,
        source(XSTEST_PROMPTS_PATH, XSTEST_PROMPTS),
    )
}

/// WikiText-2's test split as [`super::wikitext_file`] reads it (`wikitext-2-test`: one item
/// per line, headings labelled, `category` = the article's title).
pub fn wikitext_repository() -> Result<Dataset> {
    wikitext_text(
        Path::new(WIKITEXT_TEST_PATH),
        WIKITEXT_TEST,
        source(WIKITEXT_TEST_PATH, WIKITEXT_TEST),
        "wikitext-2-test".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_files_are_the_committed_ones() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for (path, text) in [
            (XSTEST_PROMPTS_PATH, XSTEST_PROMPTS),
            (WIKITEXT_TEST_PATH, WIKITEXT_TEST),
        ] {
            let on_disk = std::fs::read_to_string(root.join(path)).unwrap();
            assert_eq!(on_disk, text, "{path}");
        }
        let x = xstest_repository().unwrap();
        assert_eq!(x.with_label("safe").len(), 250);
        assert_eq!(x.with_label("unsafe").len(), 200);
        let Source::Repository { path, sha256 } = &x.source else {
            panic!("{:?}", x.source)
        };
        assert_eq!(path, XSTEST_PROMPTS_PATH);
        assert_eq!(sha256.len(), 64);
        let w = wikitext_repository().unwrap();
        let articles: std::collections::BTreeSet<_> =
            w.items.iter().filter_map(|i| i.category.clone()).collect();
        assert!(articles.len() > 50, "{}", articles.len());
    }
}

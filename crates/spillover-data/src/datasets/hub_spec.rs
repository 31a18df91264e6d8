//! Naming dataset files on the Hugging Face hub: `hf:ORG/NAME[@REVISION][/PATH/IN/REPO]`, and
//! the built-in routes (`xstest-hub`, `gsm8k-hub`, `wikitext-2-hub`) for the sets Spillover
//! knows how to read from there.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::{DatasetError, Result};

/// The branch used when a spec names no revision.
pub const DEFAULT_REVISION: &str = "main";

/// Which loader reads a hub file (and so which item shape it gets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HubKind {
    /// XSTest prompts, as [`crate::datasets::xstest`] reads them.
    Xstest,
    /// GSM8K questions, as [`crate::datasets::gsm8k_file`] reads them.
    Gsm8k,
    /// WikiText-2 lines, as [`crate::datasets::wikitext_file`] reads them.
    Wikitext,
}

/// A built-in hub dataset: a short name for `spillover fetch` and `--data`, and its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubRoute {
    /// The short name, e.g. `gsm8k-hub`.
    pub name: &'static str,
    /// The dataset repo, `ORG/NAME`.
    pub repo: &'static str,
    /// The file inside the repo (at the default revision).
    pub file: &'static str,
    /// The loader that reads it.
    pub kind: HubKind,
    /// One line for listings.
    pub description: &'static str,
    /// Licence of the content, as the dataset card states it.
    pub licence: &'static str,
    /// The same data as a file in the project's `data`, for the offline hint.
    pub local_example: &'static str,
}

/// The hub datasets Spillover knows.
///
/// Sources (public pages and code seen while writing this; not re-checked at run time):
/// - `walledai/XSTest`: the dataset card lists the columns `prompt, focus, type, note, label`
///   (450 rows, split `test` read from `data/train-*`), and the repo tree shows
///   `data/train-00000-of-00001.parquet`. It has no `id` column, so `source_id` becomes the
///   row number; that its row order is the order of `xstest_prompts.csv` was not confirmed.
/// - `openai/gsm8k`: `main/test-00000-of-00001.parquet` with `question` and `answer`, as used
///   by several public projects (one pins revision `740312add88f781978c0658806c59bc2815b9866`).
/// - `Salesforce/wikitext`: `wikitext-2-v1/test-00000-of-00001.parquet` (the tokenized set,
///   4,358 test rows, one line each) with the column `text`.
pub const HUB_ROUTES: [HubRoute; 3] = [
    HubRoute {
        name: "xstest-hub",
        repo: "walledai/XSTest",
        file: "data/train-00000-of-00001.parquet",
        kind: HubKind::Xstest,
        description: "XSTest v2 prompts, 250 safe + 200 unsafe (hub parquet, no id column)",
        licence: "CC-BY-4.0",
        local_example: "data/xstest/xstest_prompts.csv",
    },
    HubRoute {
        name: "gsm8k-hub",
        repo: "openai/gsm8k",
        file: "main/test-00000-of-00001.parquet",
        kind: HubKind::Gsm8k,
        description: "GSM8K test set, 1,319 questions (hub parquet, question/answer)",
        licence: "MIT",
        local_example: "data/gsm8k/test.jsonl",
    },
    HubRoute {
        name: "wikitext-2-hub",
        repo: "Salesforce/wikitext",
        file: "wikitext-2-v1/test-00000-of-00001.parquet",
        kind: HubKind::Wikitext,
        description: "WikiText-2 (tokenized) test split (hub parquet, one line per row)",
        licence: "CC-BY-SA-3.0",
        local_example: "data/wikitext-2/test.txt",
    },
];

impl HubRoute {
    /// The route's file at the default revision.
    pub fn file(&self) -> HubFile {
        HubFile {
            repo: self.repo.to_string(),
            revision: DEFAULT_REVISION.to_string(),
            path: self.file.to_string(),
        }
    }
}

/// The built-in route called `name`.
pub fn hub_route(name: &str) -> Option<&'static HubRoute> {
    HUB_ROUTES.iter().find(|r| r.name == name)
}

/// True for a hub spec (`hf:...`) or the name of a built-in hub route.
pub fn is_hub_spec(spec: &str) -> bool {
    spec.starts_with("hf:") || hub_route(spec).is_some()
}

/// One file of a dataset repo on the hub.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HubFile {
    /// `ORG/NAME`.
    pub repo: String,
    /// Branch, tag or commit (default `main`).
    pub revision: String,
    /// `/`-separated path inside the repo.
    pub path: String,
}

impl HubFile {
    /// The built-in route this file belongs to (same repo, any revision, same path).
    pub fn route(&self) -> Option<&'static HubRoute> {
        HUB_ROUTES
            .iter()
            .find(|r| r.repo.eq_ignore_ascii_case(&self.repo) && r.file == self.path)
    }

    /// The loader of the built-in route, if this is one.
    pub fn kind(&self) -> Option<HubKind> {
        self.route().map(|r| r.kind)
    }
}

impl FromStr for HubFile {
    type Err = DatasetError;

    /// Parses `hf:ORG/NAME[@REVISION][/PATH]` or a route name (`gsm8k-hub`). Without a path,
    /// `ORG/NAME` must be the repo of a built-in route, whose file is taken.
    fn from_str(spec: &str) -> Result<Self> {
        if let Some(route) = hub_route(spec) {
            return Ok(route.file());
        }
        let bad = |reason: String| {
            DatasetError::Config(format!("invalid hub dataset `{spec}`: {reason}"))
        };
        let rest = spec
            .strip_prefix("hf:")
            .ok_or_else(|| bad("expected hf:ORG/NAME[@REVISION][/PATH/IN/REPO]".to_string()))?;
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.len() < 2 {
            return Err(bad("expected hf:ORG/NAME, e.g. hf:openai/gsm8k".into()));
        }
        let (name, revision) = match parts[1].split_once('@') {
            Some((n, r)) => (n, r),
            None => (parts[1], DEFAULT_REVISION),
        };
        if let Some(p) = [parts[0], name, revision]
            .into_iter()
            .chain(parts[2..].iter().copied())
            .find(|p| p.is_empty() || *p == "." || *p == ".." || p.contains(char::is_whitespace))
        {
            return Err(bad(format!("`{p}` is not a usable name or path segment")));
        }
        let repo = format!("{}/{name}", parts[0]);
        let path = parts[2..].join("/");
        if !path.is_empty() {
            return Ok(HubFile {
                repo,
                revision: revision.to_string(),
                path,
            });
        }
        match HUB_ROUTES
            .iter()
            .find(|r| r.repo.eq_ignore_ascii_case(&repo))
        {
            Some(route) => Ok(HubFile {
                repo: route.repo.to_string(),
                revision: revision.to_string(),
                path: route.file.to_string(),
            }),
            None => Err(bad(format!(
                "name the file inside the repo, e.g. hf:{repo}/data/test-00000-of-00001.parquet \
                 (a path is optional only for {})",
                known_repos()
            ))),
        }
    }
}

impl fmt::Display for HubFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hf:{}", self.repo)?;
        if self.revision != DEFAULT_REVISION {
            write!(f, "@{}", self.revision)?;
        }
        write!(f, "/{}", self.path)
    }
}

/// `hf:walledai/XSTest, hf:openai/gsm8k, ...` for messages.
fn known_repos() -> String {
    let names: Vec<String> = HUB_ROUTES
        .iter()
        .map(|r| format!("hf:{}", r.repo))
        .collect();
    names.join(", ")
}

/// The dataset split a hub file holds, from its name: `test-00000-of-00001.parquet` → `test`
/// (the `-NNNNN-of-NNNNN` shard suffix the hub uses is dropped), `test.jsonl` → `test`.
pub(crate) fn split_name(file_stem: &str) -> &str {
    let bytes = file_stem.as_bytes();
    let n = bytes.len();
    // `-` 5 digits `-of-` 5 digits = 15 bytes
    if n > 15 {
        let tail = &file_stem[n - 15..];
        let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
        if tail.starts_with('-')
            && &tail[6..10] == "-of-"
            && digits(&tail[1..6])
            && digits(&tail[10..])
        {
            return &file_stem[..n - 15];
        }
    }
    file_stem
}

#[cfg(test)]
mod tests {
    use super::*;
    use spillover_errors::UserFixable;

    #[test]
    fn specs_parse_with_and_without_path_and_revision() {
        let f: HubFile = "hf:openai/gsm8k".parse().unwrap();
        assert_eq!(f, HUB_ROUTES[1].file());
        assert_eq!(
            f.to_string(),
            "hf:openai/gsm8k/main/test-00000-of-00001.parquet"
        );
        let f: HubFile = "hf:OpenAI/GSM8K@abc123".parse().unwrap();
        assert_eq!(
            (f.repo.as_str(), f.revision.as_str()),
            ("openai/gsm8k", "abc123")
        );
        assert_eq!(f.kind(), Some(HubKind::Gsm8k));
        let f: HubFile = "hf:me/set@v2/data/x.parquet".parse().unwrap();
        assert_eq!(f.to_string(), "hf:me/set@v2/data/x.parquet");
        assert_eq!(f.kind(), None);
        assert_eq!(
            "xstest-hub".parse::<HubFile>().unwrap().repo,
            "walledai/XSTest"
        );
        assert!(is_hub_spec("wikitext-2-hub") && is_hub_spec("hf:a/b") && !is_hub_spec("x.csv"));
    }

    #[test]
    fn bad_specs_say_what_is_expected() {
        for (spec, needle) in [
            ("hf:gsm8k", "hf:ORG/NAME"),
            ("hf:me/set", "name the file inside the repo"),
            ("hf:me/set/../x.parquet", "`..`"),
            ("hf:me//x.parquet", "``"),
            ("gsm8k", "expected hf:"),
        ] {
            let err = spec.parse::<HubFile>().unwrap_err();
            assert!(err.user_can_fix());
            let msg = err.to_string();
            assert!(msg.contains(needle) && msg.contains(spec), "{spec}: {msg}");
        }
    }

    #[test]
    fn split_names_drop_the_shard_suffix() {
        assert_eq!(split_name("test-00000-of-00001"), "test");
        assert_eq!(split_name("validation-00003-of-00010"), "validation");
        assert_eq!(split_name("test"), "test");
        assert_eq!(split_name("my-set-0001-of-2"), "my-set-0001-of-2");
    }
}

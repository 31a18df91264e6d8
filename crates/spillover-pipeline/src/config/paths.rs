//! Dataset and model files named in an experiment: relative paths are read from the folder of the
//! file they are written in (not the current directory), and every file is checked to exist before
//! anything runs (`--dry-run` included), so a missing file is a config error (exit 2) naming the
//! key.

use crate::error::ConfigError;
use crate::interventions::external::{local_form, names_a_path};
use spillover_data::datasets::{is_hub_spec, parse_tier_spec, Builtin, UserFileSpec};
use spillover_data::hub::HubModel;
use std::path::Path;

use super::Experiment;

/// The file a dataset spec names, or None for a packaged dataset, a hub spec or an arithmetic
/// tier list.
pub fn spec_file(spec: &str) -> Option<UserFileSpec> {
    if spec.parse::<Builtin>().is_ok() || is_hub_spec(spec) || parse_tier_spec(spec).is_some() {
        return None;
    }
    spec.parse().ok()
}

/// The file of `data.harmful_pool` (None for `advbench` and `harmbench`).
fn pool_file(spec: &str) -> Option<UserFileSpec> {
    match spec {
        "advbench" | "harmbench" => None,
        _ => spec.parse().ok(),
    }
}

/// Whether a `model.id` (or `intervention.model`) names a file or folder (not a packaged name, a
/// tiny-* model or `hf:`): it has a path separator, starts with `.`, or ends in `.gguf`.
pub fn is_model_path(id: &str) -> bool {
    !id.starts_with("hf:") && (id.contains('/') || id.starts_with('.') || id.ends_with(".gguf"))
}

/// Rewrites the relative dataset and model paths of an experiment file's `table` to paths under `dir`
/// (the file's folder). Runs before `--set` overrides, whose paths stay relative to the
/// current directory as any command-line path.
pub(super) fn anchor(table: &mut toml::Table, dir: &Path) {
    let fix = |v: &mut toml::Value, pool: bool| {
        let Some(spec) = v.as_str() else { return };
        let file = if pool {
            pool_file(spec)
        } else {
            spec_file(spec)
        };
        if let Some(mut f) = file.filter(|f| f.path.is_relative()) {
            f.path = dir.join(&f.path);
            *v = toml::Value::String(f.to_string());
        }
    };
    if let Some(v) = table
        .get_mut("data")
        .and_then(|d| d.as_table_mut())
        .and_then(|d| d.get_mut("harmful_pool"))
    {
        fix(v, true);
    }
    type IsPath = fn(&str) -> bool;
    let rules: [(&str, &str, IsPath); 2] = [
        ("model", "id", is_model_path),
        ("intervention", "model", names_a_path),
    ];
    for (section, key, is_path) in rules {
        if let Some(v) = table
            .get_mut(section)
            .and_then(|m| m.as_table_mut())
            .and_then(|m| m.get_mut(key))
        {
            if let Some(id) = v
                .as_str()
                .filter(|id| is_path(id) && Path::new(id).is_relative())
            {
                *v = toml::Value::String(dir.join(id).display().to_string());
            }
        }
    }
    if let Some(b) = table.get_mut("benchmarks").and_then(|b| b.as_table_mut()) {
        for (_, section) in b.iter_mut() {
            if let Some(v) = section.as_table_mut().and_then(|s| s.get_mut("dataset")) {
                fix(v, false);
            }
        }
    }
}

/// Checks that every model and dataset file the experiment names exists (and that an external
/// tuned model's path is an adapter, a model folder or a GGUF file): an error naming the key and
/// the path otherwise.
pub fn check_inputs(exp: &Experiment) -> Result<(), ConfigError> {
    // A hub id is checked for its form here, before anything runs (fetching it comes later).
    let hub_ids = [
        ("model.id", Some(exp.model.id.as_str())),
        ("intervention.model", exp.intervention.model.as_deref()),
    ];
    for (key, id) in hub_ids {
        if let Some(repo) = id.and_then(|m| m.strip_prefix("hf:")) {
            HubModel::parse(repo).map_err(|e| ConfigError::new(key, e.to_string()))?;
        }
    }
    if let Some(tuned) = exp
        .intervention
        .model
        .as_deref()
        .filter(|m| names_a_path(m))
    {
        local_form(Path::new(tuned)).map_err(|m| ConfigError::new("intervention.model", m))?;
    }
    if is_model_path(&exp.model.id) && !Path::new(&exp.model.id).exists() {
        return Err(ConfigError::new(
            "model.id",
            format!(
                "no such file or folder: {} (a relative path in an experiment file is read from \
                 that file's folder; on the command line, from the current directory)",
                exp.model.id
            ),
        ));
    }
    let mut files = Vec::new();
    if let Some(f) = pool_file(&exp.data.harmful_pool) {
        files.push(("data.harmful_pool".to_string(), f));
    }
    for (name, section) in exp.benchmarks.iter() {
        if let Some(f) = section.dataset.as_deref().and_then(spec_file) {
            files.push((format!("benchmarks.{name}.dataset"), f));
        }
    }
    for (key, f) in files {
        if !f.path.is_file() {
            return Err(ConfigError::new(
                key,
                format!(
                    "no such file: {} (a relative path in an experiment file is read from that \
                     file's folder; on the command line, from the current directory); packaged \
                     datasets: {}",
                    f.path.display(),
                    Builtin::ALL.map(|b| b.asset_id()).join(", ")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_relative_file_specs_are_anchored() {
        let mut t: toml::Table = toml::from_str(
            "[model]\nid = \"models/m.gguf\"\n\
             [intervention]\nmodel = \"../adapters/a\"\n\
             [data]\nharmful_pool = \"pool.jsonl:prompt\"\n\
             [benchmarks.refusal]\ndataset = \"sub/h.csv:text\"\n\
             [benchmarks.over_refusal]\ndataset = \"rho-overrefusal\"\n\
             [benchmarks.perplexity]\ndataset = \"wikitext-2-hub\"\n\
             [benchmarks.kl]\ndataset = \"/abs/k.txt\"\n",
        )
        .unwrap();
        anchor(&mut t, Path::new("/exp"));
        assert_eq!(t["model"]["id"].as_str(), Some("/exp/models/m.gguf"));
        assert_eq!(
            t["intervention"]["model"].as_str(),
            Some("/exp/../adapters/a")
        );
        let mut named: toml::Table =
            toml::from_str("[model]\nid = \"smollm2-135m-instruct\"\n").unwrap();
        anchor(&mut named, Path::new("/exp"));
        assert_eq!(named["model"]["id"].as_str(), Some("smollm2-135m-instruct"));
        let mut tiny: toml::Table =
            toml::from_str("[intervention]\nmodel = \"tiny-llama\"\n").unwrap();
        anchor(&mut tiny, Path::new("/exp"));
        assert_eq!(tiny["intervention"]["model"].as_str(), Some("tiny-llama"));
        let mut bare: toml::Table =
            toml::from_str("[intervention]\nmodel = \"my-adapter\"\n").unwrap();
        anchor(&mut bare, Path::new("/exp"));
        assert_eq!(
            bare["intervention"]["model"].as_str(),
            Some("/exp/my-adapter")
        );
        let mut hub: toml::Table = toml::from_str("[model]\nid = \"hf:org/name\"\n").unwrap();
        anchor(&mut hub, Path::new("/exp"));
        assert_eq!(hub["model"]["id"].as_str(), Some("hf:org/name"));
        assert_eq!(
            t["data"]["harmful_pool"].as_str(),
            Some("/exp/pool.jsonl:prompt")
        );
        let b = &t["benchmarks"];
        assert_eq!(
            b["refusal"]["dataset"].as_str(),
            Some("/exp/sub/h.csv:text")
        );
        assert_eq!(
            b["over_refusal"]["dataset"].as_str(),
            Some("rho-overrefusal")
        );
        assert_eq!(b["perplexity"]["dataset"].as_str(), Some("wikitext-2-hub"));
        assert_eq!(b["kl"]["dataset"].as_str(), Some("/abs/k.txt"));
    }
}

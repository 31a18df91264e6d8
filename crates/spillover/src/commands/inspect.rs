//! `spillover inspect`: what a model is.

use crate::cli::InspectArgs;
use crate::models::load_model;
use anyhow::Result;
use spillover_model::hooks::all_hook_names;
use spillover_model::Arch;

pub fn run(a: InspectArgs) -> Result<()> {
    let lm = load_model(&a.model)?;
    let c = lm.config();
    let hooks = all_hook_names(c.num_layers, c.arch == Arch::Gpt2).len();
    let v = serde_json::json!({
        "source": lm.source.display().to_string(),
        "format": lm.format,
        "architecture": c.arch.name(),
        "parameters": lm.model.num_params(),
        "layers": c.num_layers,
        "heads": c.num_heads,
        "kv_heads": c.num_kv_heads,
        "head_dim": c.head_dim,
        "d_model": c.hidden_size,
        "d_mlp": c.intermediate_size,
        "vocab_size": c.vocab_size,
        "max_positions": c.max_positions,
        "tied_embeddings": c.tie_word_embeddings,
        "rope_theta": (c.arch != Arch::Gpt2).then_some(c.rope_theta),
        "sliding_window": c.sliding_window,
        "tokenizer": lm.tokenizer.is_some(),
        "chat_template": lm.chat.is_some(),
        "hook_points": hooks,
    });
    if a.json {
        println!("{v}");
        return Ok(());
    }
    for (k, val) in v.as_object().expect("object") {
        if !val.is_null() {
            println!(
                "{k:>16}: {}",
                val.as_str().map_or_else(|| val.to_string(), str::to_string)
            );
        }
    }
    Ok(())
}

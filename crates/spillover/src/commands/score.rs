//! `spillover score`: next-token top-k and per-token log-probabilities of a text.

use crate::cli::ScoreArgs;
use crate::exit::UsageError;
use crate::models::load_model;
use anyhow::Result;
use spillover_engine::{token_logprobs, top_k_next};

pub fn run(a: ScoreArgs) -> Result<()> {
    let lm = load_model(&a.model)?;
    let tok = lm.tokenizer()?;
    // As `generate` tokenizes a plain prompt: BOS exactly when the model's tokenizer adds one.
    let mut ids = tok.encode(&a.text, true)?;
    if ids.is_empty() {
        return Err(UsageError("--text is empty after tokenization".into()).into());
    }
    // Scoring stops at the model's context: the first `context` tokens are scored.
    let context = lm.model.config().max_positions;
    let finish = if ids.len() > context {
        eprintln!(
            "warning: --text has {} tokens; only the first {context} (the model's context) are \
             scored (finish_reason \"length\")",
            ids.len()
        );
        ids.truncate(context);
        "length"
    } else {
        "stop"
    };
    let top = top_k_next(&lm.model, &ids, a.top_k)?;
    let logprobs = token_logprobs(&lm.model, std::slice::from_ref(&ids), lm.pad_id())?.remove(0);
    if a.json {
        let top: Vec<_> = top
            .iter()
            .map(|(id, l)| serde_json::json!({"id": id, "logit": l}))
            .collect();
        let v = serde_json::json!({
            "token_ids": ids, "top_k": top, "token_logprobs": logprobs, "finish_reason": finish,
        });
        println!("{v}");
        return Ok(());
    }
    println!("next-token top {}:", a.top_k);
    for (id, logit) in &top {
        let piece = tok.decode(&[*id], false)?;
        println!("  {id:>7}  {logit:>10.4}  {piece:?}");
    }
    println!("per-token log p(token | prefix):");
    for (i, lp) in logprobs.iter().enumerate() {
        let id = ids[i + 1];
        println!(
            "  {:>4} {id:>7}  {lp:>10.4}  {:?}",
            i + 1,
            tok.decode(&[id], false)?
        );
    }
    Ok(())
}

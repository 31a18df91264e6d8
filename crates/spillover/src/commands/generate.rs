//! `spillover generate`: greedy continuation of one prompt.

use crate::cli::GenerateArgs;
use crate::models::load_model;
use anyhow::Result;
use spillover_engine::{generate, GenerateOptions};

pub fn run(a: GenerateArgs) -> Result<()> {
    let lm = load_model(&a.model)?;
    let tok = lm.tokenizer()?;
    let prompt_ids = if a.chat {
        let text = lm.chat()?.render_user(&a.prompt)?;
        tok.encode(&text, false)?
    } else {
        tok.encode(&a.prompt, true)?
    };
    if prompt_ids.is_empty() {
        return Err(crate::exit::UsageError("--prompt is empty after tokenization".into()).into());
    }
    let context = lm.model.config().max_positions;
    if prompt_ids.len() > context {
        return Err(crate::exit::UsageError(format!(
            "--prompt has {} tokens, more than the model's context of {context} positions",
            prompt_ids.len()
        ))
        .into());
    }
    let room = context - prompt_ids.len();
    if a.max_new_tokens > room {
        eprintln!(
            "warning: --max-new-tokens {} exceeds the {room} positions the prompt leaves in the \
             model's context of {context}; generation stops there (finish_reason \"length\")",
            a.max_new_tokens
        );
    }
    let opts = GenerateOptions {
        max_new_tokens: a.max_new_tokens,
        stop_ids: lm.stop_ids(),
        pad_id: lm.pad_id(),
    };
    let out = generate(&lm.model, std::slice::from_ref(&prompt_ids), &opts, None)?.remove(0);
    let text = tok.decode(&out.new_ids, true)?;
    if a.json {
        let v = serde_json::json!({
            "prompt_token_ids": prompt_ids,
            "new_token_ids": out.new_ids,
            "text": text,
            "finish_reason": out.finish,
        });
        println!("{v}");
    } else {
        println!("{text}");
    }
    Ok(())
}

//! Weight orthogonalization: the directional ablation of `steer::ablate_hooks` baked into the
//! weights, W ← W − r̂ r̂ᵀ W for every matrix that writes to the residual stream, so the edited model
//! runs with no hooks (and so on the engine's fast paths).
//!
//! Edited: the token embedding (and GPT-2's position embedding), every attention output projection
//! (`o_proj`, GPT-2 `attn.c_proj`) and every MLP down projection (`down_proj`, GPT-2 `mlp.c_proj`),
//! their biases, and the `B` matrix of any LoRA adapter on them (so P(W + sBA) = PW + s(PB)A
//! holds whether the adapter is merged or not). The unembedding is left alone even when it is tied
//! to the embedding: the hooks do not touch it either, so the edited model computes the same
//! function as the hooked one (up to float rounding).
//!
//! Gemma-3 is refused. Its attention and MLP outputs pass through RMSNorms (`post_attention_layernorm`,
//! `post_feedforward_layernorm`) before they reach the residual stream; a norm rescales each
//! position by its own RMS and weights each coordinate, so removing r̂ from the projection's output
//! does not remove it from what is added to the stream, and no edit of the linear weights alone
//! reproduces the ablation. Use the ablation hooks on Gemma-3.

use crate::direction::{direction_tensor, norm, unit};
use crate::direction_analysis::{residual_role, ResidualRole};
use anyhow::{ensure, Result};
use candle_core::{DType, Tensor};
use spillover_model::Model;

/// Why `orthogonalize` refuses Gemma-2, Gemma-3 and OLMo-2 (also the error message).
pub const GEMMA3_REFUSAL: &str =
    "weight orthogonalization is not exact for Gemma-2, Gemma-3 and OLMo-2: \
their attention and MLP outputs pass through post-attention / post-feedforward RMSNorms before the \
residual add, so \
projecting the direction out of o_proj / down_proj does not project it out of the residual stream; \
use the ablation hooks (spillover_mri::steer::ablate_hooks) instead";

/// Bakes the ablation of `unit(direction)` into the weights (see the module notes). Returns the HF
/// names of the edited tensors. Errors: a direction of the wrong width or all zeros, or a model with
/// post-attention / post-feedforward norms (Gemma-2/3, OLMo-2; a bad-input error naming the reason).
pub fn orthogonalize(model: &mut Model, direction: &[f32]) -> Result<Vec<String>> {
    let d = model.config().hidden_size;
    if model.has_post_norms() {
        let arch = model.config().arch.name();
        return Err(spillover_model::Error::bad_input(arch, GEMMA3_REFUSAL).into());
    }
    ensure!(
        norm(direction) > 0.0,
        "orthogonalize: the direction is all zeros"
    );
    let r = direction_tensor(&unit(direction), d, model.device())?;
    let mut edited = Vec::new();
    match model {
        Model::Gpt2(m) => {
            m.wte = project_rows(&m.wte, &r)?;
            m.wpe = project_rows(&m.wpe, &r)?;
            edited.extend([
                "transformer.wte.weight".into(),
                "transformer.wpe.weight".into(),
            ]);
        }
        Model::Decoder(m) => {
            m.embed_tokens = project_rows(&m.embed_tokens, &r)?;
            edited.push("model.embed_tokens.weight".into());
        }
    }
    for (name, lin) in model.linears_mut() {
        if residual_role(&name) != Some(ResidualRole::Writer) {
            continue;
        }
        lin.weight = keep_layout(&lin.weight, project_columns(&lin.weight, &r)?)?;
        edited.push(format!("{name}.weight"));
        if let Some(b) = &lin.bias {
            lin.bias = Some(project_rows(&b.unsqueeze(0)?, &r)?.squeeze(0)?);
            edited.push(format!("{name}.bias"));
        }
        if let Some(l) = lin.lora.as_mut() {
            l.b = project_columns(&l.b, &r)?;
            edited.push(format!("{name}.lora_B"));
        }
    }
    Ok(edited)
}

/// Rows of m [n, d] with r̂ projected out: m − (m r̂) r̂ᵀ (f32 arithmetic, m's dtype kept).
fn project_rows(m: &Tensor, r: &Tensor) -> candle_core::Result<Tensor> {
    let mf = m.to_dtype(DType::F32)?;
    let coef = mf.matmul(&r.unsqueeze(1)?)?; // (n, 1)
    (&mf - coef.broadcast_mul(&r.unsqueeze(0)?)?)?.to_dtype(m.dtype())
}

/// Outputs of w [d, k] (a map into the residual stream) with r̂ projected out: w − r̂ (r̂ᵀ w).
fn project_columns(w: &Tensor, r: &Tensor) -> candle_core::Result<Tensor> {
    let wf = w.to_dtype(DType::F32)?;
    let rt_w = r.unsqueeze(0)?.matmul(&wf)?; // (1, k)
    (&wf - r.unsqueeze(1)?.broadcast_mul(&rt_w)?)?.to_dtype(w.dtype())
}

/// `new` in the memory layout of `old` (a transposed view stays one; see `use_inference_layout`).
fn keep_layout(old: &Tensor, new: Tensor) -> candle_core::Result<Tensor> {
    if old.is_contiguous() {
        new.contiguous()
    } else {
        new.t()?.contiguous()?.t()
    }
}

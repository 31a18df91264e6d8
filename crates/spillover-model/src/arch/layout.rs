//! What distinguishes the decoder-only architectures that share `Decoder`'s block: which norms a
//! block has and where, q/k norms, output-projection bias, fused projections, the MLP activation
//! and Gemma's embedding scale and (1 + w) norm weights. One table row per architecture; the
//! per-layer attention kind (sliding or global), soft-caps and query scaling come from the config.
//!
//! Block, in order (`None` = absent):
//!
//! ```text
//! a = attn(input_norm(x));  x = x + post_attn_norm(a)
//! m = mlp(pre_mlp_norm(x));  x = x + post_mlp_norm(m)
//! ```

use crate::blocks::GateAct;
use crate::config::Arch;

/// Where a block's q/k RMSNorm applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QkNorm {
    /// No q/k norm.
    None,
    /// Over each head's `head_dim` values, one weight of size `head_dim` (Qwen3, Gemma-3).
    PerHead,
    /// Over all heads at once, weights of size `heads · head_dim` (OLMo-2).
    AllHeads,
}

/// The structure of one architecture's decoder block and embedding.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// HF name (under `model.layers.{l}.`) of the norm before attention.
    pub input_norm: Option<&'static str>,
    /// The norm applied to the attention output before the residual add.
    pub post_attn_norm: Option<&'static str>,
    /// The norm before the MLP (Llama calls it `post_attention_layernorm`).
    pub pre_mlp_norm: Option<&'static str>,
    /// The norm applied to the MLP output before the residual add.
    pub post_mlp_norm: Option<&'static str>,
    pub qk_norm: QkNorm,
    /// Whether `o_proj` has a bias when the config's `attention_bias` is set (not for Qwen2).
    pub o_bias: bool,
    /// `self_attn.qkv_proj` instead of q/k/v_proj (Phi-3).
    pub fused_qkv: bool,
    /// `mlp.gate_up_proj` instead of gate/up_proj (Phi-3).
    pub fused_gate_up: bool,
    pub act: GateAct,
    /// Gemma: embeddings times sqrt(hidden), norm weights used as 1 + w.
    pub gemma: bool,
}

const LLAMA: Layout = Layout {
    input_norm: Some("input_layernorm"),
    post_attn_norm: None,
    pre_mlp_norm: Some("post_attention_layernorm"),
    post_mlp_norm: None,
    qk_norm: QkNorm::None,
    o_bias: true,
    fused_qkv: false,
    fused_gate_up: false,
    act: GateAct::Silu,
    gemma: false,
};

const GEMMA: Layout = Layout {
    input_norm: Some("input_layernorm"),
    post_attn_norm: Some("post_attention_layernorm"),
    pre_mlp_norm: Some("pre_feedforward_layernorm"),
    post_mlp_norm: Some("post_feedforward_layernorm"),
    qk_norm: QkNorm::None,
    o_bias: true,
    fused_qkv: false,
    fused_gate_up: false,
    act: GateAct::GeluTanh,
    gemma: true,
};

impl Layout {
    /// The layout of `arch`; `None` for GPT-2, which has its own module.
    pub fn of(arch: Arch) -> Option<Layout> {
        Some(match arch {
            Arch::Gpt2 => return None,
            // Mistral's sliding window is a per-layer attention kind from the config.
            Arch::Llama | Arch::Mistral => LLAMA,
            Arch::Qwen2 => Layout {
                o_bias: false,
                ..LLAMA
            },
            Arch::Qwen3 => Layout {
                qk_norm: QkNorm::PerHead,
                ..LLAMA
            },
            Arch::Phi3 => Layout {
                fused_qkv: true,
                fused_gate_up: true,
                ..LLAMA
            },
            Arch::Olmo2 => Layout {
                input_norm: None,
                post_attn_norm: Some("post_attention_layernorm"),
                pre_mlp_norm: None,
                post_mlp_norm: Some("post_feedforward_layernorm"),
                qk_norm: QkNorm::AllHeads,
                ..LLAMA
            },
            Arch::Gemma2 => GEMMA,
            Arch::Gemma3 => Layout {
                qk_norm: QkNorm::PerHead,
                ..GEMMA
            },
        })
    }
}

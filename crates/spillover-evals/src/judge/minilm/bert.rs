//! A BERT encoder (the architecture of all-MiniLM-L6-v2), written out in full:
//! embeddings → N post-LayerNorm transformer layers → last hidden state.
//!
//! Shapes: B batch, T tokens, H hidden size, nh heads, hs = H / nh head size, I intermediate size.
//! Weight names are those of HF `BertModel` (`embeddings.word_embeddings.weight`,
//! `encoder.layer.{i}.attention.self.query.weight`, ...).

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;
use spillover_model::packed::{kernel_available, PackedWeight};

/// The fields of an HF BERT `config.json` that the forward pass needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
}

fn default_act() -> String {
    "gelu".to_string()
}

struct Embeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
}

impl Embeddings {
    fn load(cfg: &BertConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Embeddings {
            word: embedding(cfg.vocab_size, cfg.hidden_size, vb.pp("word_embeddings"))?,
            position: embedding(
                cfg.max_position_embeddings,
                cfg.hidden_size,
                vb.pp("position_embeddings"),
            )?,
            token_type: embedding(
                cfg.type_vocab_size,
                cfg.hidden_size,
                vb.pp("token_type_embeddings"),
            )?,
            norm: layer_norm(cfg.hidden_size, cfg.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    /// ids (B, T) u32 → (B, T, H); positions 0..T, token type 0 everywhere.
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let (_b, t) = ids.dims2()?;
        let positions = Tensor::arange(0u32, t as u32, ids.device())?;
        let types = Tensor::zeros(t, DType::U32, ids.device())?;
        let x = self.word.forward(ids)?; // (B, T, H)
        let pos = self.position.forward(&positions)?; // (T, H)
        let typ = self.token_type.forward(&types)?; // (T, H)
        let x = x.broadcast_add(&(pos + typ)?)?;
        self.norm.forward(&x)
    }
}

/// A linear layer. The encoder never trains, so on a CPU with the AVX-512 kernel its weight is
/// packed once and served by spillover-model's prepacked product (as the language models'
/// layers are); elsewhere candle's matmul. The two differ only in summation order.
struct Proj {
    linear: Linear,
    packed: Option<PackedWeight>,
}

impl Proj {
    fn load(inp: usize, out: usize, vb: VarBuilder, pack: bool) -> Result<Self> {
        let linear = linear(inp, out, vb)?;
        let w = linear.weight();
        let packed = (pack && kernel_available() && w.device().is_cpu() && w.dtype() == DType::F32)
            .then(|| PackedWeight::new(w))
            .transpose()?;
        Ok(Proj { linear, packed })
    }

    /// x (..., in) → (..., out).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let Some(p) = &self.packed else {
            return self.linear.forward(x);
        };
        let mut dims = x.dims().to_vec();
        let inp = *dims.last().expect("a feature axis");
        let y = p.forward(&x.reshape((x.elem_count() / inp, inp))?)?;
        let y = match self.linear.bias() {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        *dims.last_mut().expect("a feature axis") = p.out_dim();
        y.reshape(dims)
    }
}

struct Layer {
    query: Proj,
    key: Proj,
    value: Proj,
    attn_out: Proj,
    attn_norm: LayerNorm,
    intermediate: Proj,
    output: Proj,
    out_norm: LayerNorm,
    heads: usize,
}

impl Layer {
    fn load(cfg: &BertConfig, vb: VarBuilder, pack: bool) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let att = vb.pp("attention");
        Ok(Layer {
            query: Proj::load(h, h, att.pp("self").pp("query"), pack)?,
            key: Proj::load(h, h, att.pp("self").pp("key"), pack)?,
            value: Proj::load(h, h, att.pp("self").pp("value"), pack)?,
            attn_out: Proj::load(h, h, att.pp("output").pp("dense"), pack)?,
            attn_norm: layer_norm(h, cfg.layer_norm_eps, att.pp("output").pp("LayerNorm"))?,
            intermediate: Proj::load(h, i, vb.pp("intermediate").pp("dense"), pack)?,
            output: Proj::load(i, h, vb.pp("output").pp("dense"), pack)?,
            out_norm: layer_norm(h, cfg.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
            heads: cfg.num_attention_heads,
        })
    }

    /// (B, nh, T, hs) view of a (B, T, H) projection.
    fn split_heads(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, h) = x.dims3()?;
        x.reshape((b, t, self.heads, h / self.heads))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// x (B, T, H), additive key bias (B, 1, 1, T) → (B, T, H).
    fn forward(&self, x: &Tensor, key_bias: &Tensor) -> Result<Tensor> {
        let (b, t, h) = x.dims3()?;
        let hs = h / self.heads;
        let q = self.split_heads(&self.query.forward(x)?)?; // (B, nh, T, hs)
        let k = self.split_heads(&self.key.forward(x)?)?;
        let v = self.split_heads(&self.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?.contiguous()?)? / (hs as f64).sqrt())?; // (B, nh, T, T)
        let probs = candle_nn::ops::softmax_last_dim(&scores.broadcast_add(key_bias)?)?;
        let ctx = probs.matmul(&v)?; // (B, nh, T, hs)
        let ctx = ctx.transpose(1, 2)?.contiguous()?.reshape((b, t, h))?;
        let x = self
            .attn_norm
            .forward(&(self.attn_out.forward(&ctx)? + x)?)?;
        let inner = self.intermediate.forward(&x)?.gelu_erf()?; // (B, T, I)
        self.out_norm.forward(&(self.output.forward(&inner)? + x)?)
    }
}

/// The encoder: embeddings and layers.
pub struct Bert {
    embeddings: Embeddings,
    layers: Vec<Layer>,
}

impl Bert {
    /// Builds the model from HF `BertModel` weights (no `bert.` prefix). With `pack`, linear
    /// layers use the prepacked product where the CPU has it (see `Proj`).
    pub fn load(cfg: &BertConfig, vb: VarBuilder, pack: bool) -> Result<Self> {
        if cfg.hidden_act != "gelu" {
            candle_core::bail!(
                "unsupported hidden_act {:?} (expected gelu)",
                cfg.hidden_act
            );
        }
        if cfg.hidden_size / cfg.num_attention_heads * cfg.num_attention_heads != cfg.hidden_size {
            candle_core::bail!("hidden_size is not a multiple of num_attention_heads");
        }
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::load(cfg, vb.pp(format!("encoder.layer.{i}")), pack))
            .collect::<Result<Vec<_>>>()?;
        Ok(Bert {
            embeddings: Embeddings::load(cfg, vb.pp("embeddings"))?,
            layers,
        })
    }

    /// ids (B, T) u32, mask (B, T) f32 with 1 for real tokens and 0 for padding → (B, T, H).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        // Padding keys get a large negative bias, so their softmax weight is exactly 0.
        let key_bias = ((mask.ones_like()? - mask)? * -1e30)?.reshape((b, 1, 1, t))?;
        let mut x = self.embeddings.forward(ids)?;
        for layer in &self.layers {
            x = layer.forward(&x, &key_bias)?;
        }
        Ok(x)
    }
}

/// Mean of the hidden states over the real tokens, then L2-normalised: (B, T, H) → (B, H).
pub fn mean_pool_normalize(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let m = mask.unsqueeze(D::Minus1)?; // (B, T, 1)
    let summed = hidden.broadcast_mul(&m)?.sum(1)?; // (B, H)
    let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?; // (B, 1)
    let mean = summed.broadcast_div(&counts)?;
    let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    mean.broadcast_div(&norm)
}

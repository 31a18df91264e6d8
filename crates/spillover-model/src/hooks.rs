//! TransformerLens-style hook points. Every activation the architectures expose has a stable name
//! (`blocks.3.attn.hook_pattern`, `blocks.3.hook_resid_post`, ...). A forward pass given a `Hooks`
//! first runs the edit callbacks registered for a name (patching, ablation, steering) and then stores
//! the resulting value if that name is being cached. A forward pass given no `Hooks` never builds a
//! name and pays nothing.
//!
//! Shapes (b = batch, t = query positions, k = key positions, h = heads, d = d_head):
//! - `hook_embed`, `hook_pos_embed`, `blocks.{l}.hook_resid_{pre,mid,post}`, `blocks.{l}.hook_attn_out`,
//!   `blocks.{l}.hook_mlp_out`, `ln_final.hook_normalized`: [b, t, d_model]
//! - `blocks.{l}.attn.hook_{q,k,v}`: [b, t, h, d] (k and v have the key/value heads; q and k are
//!   taken before the rotary embedding, after Gemma-3's q/k norms)
//! - `blocks.{l}.attn.hook_attn_scores`, `blocks.{l}.attn.hook_pattern`: [b, h, t, k]
//!   (scores are scaled, soft-capped and masked; the pattern is their softmax)
//! - `blocks.{l}.attn.hook_z`: [b, t, h, d] (per-head attention output, before the output projection)
//! - `blocks.{l}.mlp.hook_pre` (gate or fc pre-activation), `blocks.{l}.mlp.hook_post` (input of
//!   the down projection): [b, t, d_mlp]

use candle_core::{Result, Tensor};
use std::collections::{BTreeMap, HashSet};

/// An edit callback: receives the hook name and the activation, returns the replacement.
pub type HookFn = Box<dyn FnMut(&str, &Tensor) -> Result<Tensor> + Send>;

/// A hook factory: builds an intervention's edits (activation addition, directional ablation)
/// afresh for every forward pass or engine call. The workspace's one spelling of the type: analyses
/// and benchmarks borrow it (`&'a HookFactory<'a>`, so it may borrow locals), the pipeline owns it
/// (`Box<HookFactory<'static>>`).
pub type HookFactory<'a> = dyn Fn() -> Hooks + Send + Sync + 'a;

/// All hook point names of one layer, in forward order.
pub const BLOCK_HOOKS: &[&str] = &[
    "hook_resid_pre",
    "attn.hook_q",
    "attn.hook_k",
    "attn.hook_v",
    "attn.hook_attn_scores",
    "attn.hook_pattern",
    "attn.hook_z",
    "hook_attn_out",
    "hook_resid_mid",
    "mlp.hook_pre",
    "mlp.hook_post",
    "hook_mlp_out",
    "hook_resid_post",
];

/// Every hook point name of a model with `layers` blocks (`hook_pos_embed` only for GPT-2).
pub fn all_hook_names(layers: usize, has_pos_embed: bool) -> Vec<String> {
    let mut names = vec!["hook_embed".to_string()];
    if has_pos_embed {
        names.push("hook_pos_embed".to_string());
    }
    for l in 0..layers {
        names.extend(BLOCK_HOOKS.iter().map(|h| format!("blocks.{l}.{h}")));
    }
    names.push("ln_final.hook_normalized".to_string());
    names
}

enum CacheFilter {
    Nothing,
    Everything,
    Names(HashSet<String>),
}

/// The registered edits and the activation cache of one (or several) forward passes.
pub struct Hooks {
    filter: CacheFilter,
    /// Cached activations by hook name (last value written wins; with a KV cache the decode steps
    /// overwrite earlier ones, so cache on a single forward pass).
    pub cache: BTreeMap<String, Tensor>,
    edits: Vec<(String, HookFn)>,
}

impl Default for Hooks {
    fn default() -> Self {
        Self::new()
    }
}

impl Hooks {
    /// No caching, no edits.
    pub fn new() -> Self {
        Hooks {
            filter: CacheFilter::Nothing,
            cache: BTreeMap::new(),
            edits: Vec::new(),
        }
    }

    /// Cache every hook point.
    pub fn cache_all() -> Self {
        Hooks {
            filter: CacheFilter::Everything,
            ..Self::new()
        }
    }

    /// Cache the named hook points.
    pub fn cache_names<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        let set = names.into_iter().map(Into::into).collect();
        Hooks {
            filter: CacheFilter::Names(set),
            ..Self::new()
        }
    }

    /// Register an edit for the hook point `name`; edits on one name run in registration order.
    pub fn add_hook(
        &mut self,
        name: impl Into<String>,
        f: impl FnMut(&str, &Tensor) -> Result<Tensor> + Send + 'static,
    ) -> &mut Self {
        self.edits.push((name.into(), Box::new(f)));
        self
    }

    /// Replace the activation at `name` with a fixed tensor (activation patching).
    pub fn patch(&mut self, name: impl Into<String>, value: Tensor) -> &mut Self {
        self.add_hook(name, move |_, _| Ok(value.clone()))
    }

    pub fn clear_edits(&mut self) {
        self.edits.clear();
    }

    /// The cached activation at `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.cache.get(name)
    }

    fn wants(&self, name: &str) -> bool {
        match &self.filter {
            CacheFilter::Nothing => false,
            CacheFilter::Everything => true,
            CacheFilter::Names(s) => s.contains(name),
        }
    }

    /// Runs the edits for `name` on `x`, caches the result if requested, and returns it.
    pub fn point(&mut self, name: &str, mut x: Tensor) -> Result<Tensor> {
        for (n, f) in self.edits.iter_mut() {
            if n == name {
                let y = f(name, &x)?;
                if y.dims() != x.dims() {
                    candle_core::bail!(
                        "hook {name}: the edit returned shape {:?}, expected {:?}",
                        y.dims(),
                        x.dims()
                    );
                }
                x = y;
            }
        }
        if self.wants(name) {
            self.cache.insert(name.to_string(), x.clone());
        }
        Ok(x)
    }
}

/// Applies the hook `name` when hooks are present; the name is only built when they are.
#[inline]
pub(crate) fn at(
    hooks: &mut Option<&mut Hooks>,
    name: impl FnOnce() -> String,
    x: Tensor,
) -> Result<Tensor> {
    match hooks {
        Some(h) => h.point(&name(), x),
        None => Ok(x),
    }
}

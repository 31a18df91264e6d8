//! The thing an analysis runs: a model, plus the hooks of a hook-based intervention (activation
//! addition, directional ablation) when there is one. Every forward pass of an analysis starts from
//! the subject's own hooks and adds its reading (recording) and patching edits after them, so it
//! sees the intervened activations and a patch overrides the intervention at the patched point.

use anyhow::{Context, Result};
use candle_core::Tensor;
use spillover_model::{HookFactory, Hooks, Model, Step};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A model and, for a hook-based intervention, the factory of its hooks.
#[derive(Clone, Copy)]
pub struct Subject<'a> {
    pub model: &'a Model,
    pub hooks: Option<&'a HookFactory<'a>>,
}

impl<'a> Subject<'a> {
    /// The model as it is.
    pub fn plain(model: &'a Model) -> Self {
        Subject { model, hooks: None }
    }

    /// The model run with the hooks `factory` builds on every forward pass.
    pub fn with_hooks(model: &'a Model, factory: &'a HookFactory<'a>) -> Self {
        Subject {
            model,
            hooks: Some(factory),
        }
    }

    /// A fresh `Hooks` holding the intervention's edits (empty for a plain model).
    pub fn new_hooks(&self) -> Hooks {
        self.hooks.map_or_else(Hooks::new, |f| f())
    }

    /// One forward pass over `step` that records the activations at `names` (as they are after the
    /// subject's edits). Returns the final normalized hidden states and the recorded activations.
    pub fn run_recorded(
        &self,
        step: &Step,
        names: &[String],
    ) -> Result<(Tensor, BTreeMap<String, Tensor>)> {
        let mut hooks = self.new_hooks();
        let store = record(&mut hooks, names);
        let hidden = self.model.forward_hidden(step, None, Some(&mut hooks))?;
        drop(hooks);
        let map = Arc::try_unwrap(store)
            .map_err(|_| anyhow::anyhow!("recording hooks still alive"))?
            .into_inner()
            .map_err(|_| anyhow::anyhow!("recording lock poisoned"))?;
        for n in names {
            map.get(n)
                .with_context(|| format!("hook {n} was not reached"))?;
        }
        Ok((hidden, map))
    }
}

/// Adds, for each name, an edit that stores the activation as it is at that point (after every
/// edit registered before it) and passes it on unchanged.
pub fn record(hooks: &mut Hooks, names: &[String]) -> Arc<Mutex<BTreeMap<String, Tensor>>> {
    let store = Arc::new(Mutex::new(BTreeMap::new()));
    for name in names {
        let s = store.clone();
        hooks.add_hook(name.clone(), move |n, x| {
            s.lock()
                .map_err(|_| candle_core::Error::msg("recording lock poisoned"))?
                .insert(n.to_string(), x.clone());
            Ok(x.clone())
        });
    }
    store
}

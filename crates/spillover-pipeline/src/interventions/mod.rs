//! The interventions and how each turns the base model into the model evaluated "after".
//!
//! | kind          | intervention stage writes               | the "after" model                  |
//! |---------------|-----------------------------------------|------------------------------------|
//! | lora_sft      | a PEFT adapter                          | base + adapter                     |
//! | full_ft       | the fine-tuned linear weights           | base with those weights            |
//! | interpolate   | (uses a shared training stage)          | base + α·(tuned − base)            |
//! | actadd        | (uses a shared direction stage)         | base + hooks adding c·r̂ at a layer |
//! | ablate        | (uses a shared direction stage)         | base + hooks projecting r̂ out      |
//! | orthogonalize | (uses a shared direction stage)         | base with r̂ projected out of W     |
//! | external      | (nothing: the tuned model is given)     | base + adapter, or the tuned model |

pub mod direction;
pub mod external;
pub mod interpolate;
pub mod training;

use crate::config::{Experiment, InterventionKind, InterventionSection};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use spillover_model::{HookFactory, LoadedModel};
use std::path::PathBuf;

/// What the "after" model is made from (the intervention stage's summary).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recipe {
    pub kind: InterventionKind,
    /// The adapter or fine-tuned weights folder (training kinds).
    pub weights: Option<PathBuf>,
    /// lora_sft / full_ft: which of the two `weights` holds.
    pub method: Option<InterventionKind>,
    /// interpolate: α.
    pub alpha: Option<f64>,
    /// Direction kinds: the raw direction, its layer and the actadd coefficient.
    pub direction: Option<Vec<f32>>,
    pub layer: Option<usize>,
    pub coeff: Option<f64>,
    /// external: the tuned model loaded instead of the base (None when `weights` holds an
    /// adapter applied to the base).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// The model evaluated after the intervention.
pub struct Intervened {
    pub lm: LoadedModel,
    pub hooks: Option<Box<HookFactory<'static>>>,
}

/// The model evaluated after the intervention: the tuned model of an external intervention that
/// gives a whole model, else `recipe` applied to a fresh copy of the base.
pub fn load_after(exp: &Experiment, recipe: &Recipe) -> Result<Intervened> {
    if let Some(spec) = &recipe.model {
        let dtype = crate::models::dtype(&exp.model.dtype)?;
        let device = crate::models::device(&exp.model.device, "model.device")?;
        let lm = crate::models::load_model(spec, dtype, &device)?;
        return Ok(Intervened { lm, hooks: None });
    }
    apply(crate::experiment::load_fresh(exp)?, recipe)
}

/// Applies `recipe` to `lm` (a fresh copy of the base model).
pub fn apply(mut lm: LoadedModel, recipe: &Recipe) -> Result<Intervened> {
    use InterventionKind::*;
    let dev = lm.model.device().clone();
    let hooks: Option<Box<HookFactory<'static>>> = match recipe.kind {
        LoraSft | FullFt | External => {
            let Some(weights) = recipe.weights.as_ref() else {
                anyhow::bail!(
                    "{} has no weights to apply (a whole tuned model is loaded by load_after)",
                    recipe.kind.as_str()
                );
            };
            crate::adapters::apply(&mut lm.model, weights)?;
            None
        }
        Interpolate => {
            let dir = recipe.weights.as_ref().expect("interpolate has weights");
            let alpha = recipe.alpha.expect("interpolate has alpha");
            if recipe.method == Some(FullFt) {
                interpolate::mix_full(&mut lm.model, dir, alpha)?;
            } else {
                crate::adapters::apply(&mut lm.model, dir)?;
                interpolate::scale_lora(&mut lm.model, alpha)?;
            }
            None
        }
        Actadd => {
            let (d, layer) = direction_of(recipe)?;
            let coeff = recipe.coeff.expect("actadd has a coefficient") as f32;
            Some(Box::new(spillover_mri::actadd_hooks(
                d, layer, coeff, &dev,
            )?))
        }
        Ablate => {
            let (d, _) = direction_of(recipe)?;
            let layers = lm.config().num_layers;
            Some(Box::new(spillover_mri::ablate_hooks(d, layers, &dev)?))
        }
        Orthogonalize => {
            let (d, _) = direction_of(recipe)?;
            spillover_mri::orthogonalize(&mut lm.model, d)?;
            None
        }
    };
    Ok(Intervened { lm, hooks })
}

fn direction_of(recipe: &Recipe) -> Result<(&[f32], usize)> {
    match (&recipe.direction, recipe.layer) {
        (Some(d), Some(l)) => Ok((d, l)),
        _ => anyhow::bail!("{} needs a direction and a layer", recipe.kind.as_str()),
    }
}

/// The recipe of a direction intervention from the direction stage's summary.
pub fn direction_recipe(section: &InterventionSection, d: &direction::DirectionSummary) -> Recipe {
    let coeff = (section.kind == InterventionKind::Actadd).then(|| {
        section
            .coeff
            .unwrap_or_else(|| spillover_mri::direction::norm(&d.direction) as f64)
    });
    Recipe {
        kind: section.kind,
        weights: None,
        method: None,
        alpha: None,
        direction: Some(d.direction.clone()),
        layer: Some(d.layer),
        coeff,
        model: None,
    }
}

/// The recipe of an external intervention: its adapter as `weights`, or its model as `model`.
pub fn external_recipe(ext: &external::External) -> Recipe {
    let location = Some(ext.location.clone());
    let adapter = ext.form == external::Form::Adapter;
    Recipe {
        kind: InterventionKind::External,
        weights: adapter.then(|| PathBuf::from(&ext.location)),
        method: None,
        alpha: None,
        direction: None,
        layer: None,
        coeff: None,
        model: if adapter { None } else { location },
    }
}

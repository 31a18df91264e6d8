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

/// What the "after" model is made from (the intervention stage's summary). Each variant holds
/// exactly what its kinds need; it is stored (the stage's summary.json, results.json's
/// `intervention`) as one flat object, [`RecipeRecord`], whose text is unchanged from when the
/// recipe was a struct of optional fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "RecipeRecord", try_from = "RecipeRecord")]
pub enum Recipe {
    /// lora_sft / full_ft (`method`): the adapter or fine-tuned linear weights in `weights`.
    Trained {
        method: InterventionKind,
        weights: PathBuf,
    },
    /// interpolate: base + α·(tuned − base), tuned by `method` into `weights`.
    Interpolate {
        method: InterventionKind,
        weights: PathBuf,
        alpha: f64,
    },
    /// actadd / ablate / orthogonalize (`kind`): the raw direction and its layer; `coeff` is the
    /// actadd coefficient (None for the other two).
    Direction {
        kind: InterventionKind,
        direction: Vec<f32>,
        layer: usize,
        coeff: Option<f64>,
    },
    /// external: an adapter (or fine-tuned weights) folder applied to the base.
    ExternalWeights { weights: PathBuf },
    /// external: a whole tuned model loaded instead of the base.
    ExternalModel { model: String },
}

impl Recipe {
    pub fn kind(&self) -> InterventionKind {
        match self {
            Recipe::Trained { method, .. } => *method,
            Recipe::Interpolate { .. } => InterventionKind::Interpolate,
            Recipe::Direction { kind, .. } => *kind,
            Recipe::ExternalWeights { .. } | Recipe::ExternalModel { .. } => {
                InterventionKind::External
            }
        }
    }
    /// The direction's layer (direction kinds).
    pub fn layer(&self) -> Option<usize> {
        match self {
            Recipe::Direction { layer, .. } => Some(*layer),
            _ => None,
        }
    }
}

/// The stored form of a [`Recipe`]: every field but `model` written, null where it does not apply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecipeRecord {
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

impl From<Recipe> for RecipeRecord {
    fn from(r: Recipe) -> RecipeRecord {
        let kind = r.kind();
        let mut rec = RecipeRecord {
            kind,
            weights: None,
            method: None,
            alpha: None,
            direction: None,
            layer: None,
            coeff: None,
            model: None,
        };
        match r {
            Recipe::Trained { method, weights } => {
                rec.method = Some(method);
                rec.weights = Some(weights);
            }
            Recipe::Interpolate {
                method,
                weights,
                alpha,
            } => {
                rec.method = Some(method);
                rec.weights = Some(weights);
                rec.alpha = Some(alpha);
            }
            Recipe::Direction {
                direction,
                layer,
                coeff,
                ..
            } => {
                rec.direction = Some(direction);
                rec.layer = Some(layer);
                rec.coeff = coeff;
            }
            Recipe::ExternalWeights { weights } => rec.weights = Some(weights),
            Recipe::ExternalModel { model } => rec.model = Some(model),
        }
        rec
    }
}

impl TryFrom<RecipeRecord> for Recipe {
    type Error = String;
    fn try_from(r: RecipeRecord) -> Result<Recipe, String> {
        use InterventionKind::*;
        let kind = r.kind;
        let need = |field: &str| format!("a {} recipe needs `{field}`", kind.as_str());
        let training_method = |m: Option<InterventionKind>| match m {
            Some(m @ (LoraSft | FullFt)) => Ok(m),
            Some(m) => Err(format!(
                "a {} recipe's `method` = \"{}\": expected \"lora_sft\" or \"full_ft\"",
                kind.as_str(),
                m.as_str()
            )),
            None => Err(need("method")),
        };
        Ok(match kind {
            LoraSft | FullFt => {
                let method = training_method(r.method)?;
                if method != kind {
                    return Err(format!(
                        "a {} recipe's `method` = \"{}\": expected \"{}\"",
                        kind.as_str(),
                        method.as_str(),
                        kind.as_str()
                    ));
                }
                Recipe::Trained {
                    method,
                    weights: r.weights.ok_or_else(|| need("weights"))?,
                }
            }
            Interpolate => Recipe::Interpolate {
                method: training_method(r.method)?,
                weights: r.weights.ok_or_else(|| need("weights"))?,
                alpha: r.alpha.ok_or_else(|| need("alpha"))?,
            },
            Actadd | Ablate | Orthogonalize => Recipe::Direction {
                kind,
                direction: r.direction.ok_or_else(|| need("direction"))?,
                layer: r.layer.ok_or_else(|| need("layer"))?,
                coeff: match (kind, r.coeff) {
                    (Actadd, None) => return Err(need("coeff")),
                    (_, c) => c,
                },
            },
            External => match (r.weights, r.model) {
                (Some(weights), None) => Recipe::ExternalWeights { weights },
                (None, Some(model)) => Recipe::ExternalModel { model },
                _ => return Err("an external recipe needs one of `weights` and `model`".into()),
            },
        })
    }
}

/// The model evaluated after the intervention.
pub struct Intervened {
    pub lm: LoadedModel,
    pub hooks: Option<Box<HookFactory<'static>>>,
}

/// The model evaluated after the intervention: the tuned model of an external intervention that
/// gives a whole model, else `recipe` applied to a fresh copy of the base.
pub fn load_after(exp: &Experiment, recipe: &Recipe) -> Result<Intervened> {
    if let Recipe::ExternalModel { model } = recipe {
        let dtype = crate::models::dtype(&exp.model.dtype)?;
        let device = crate::models::device(&exp.model.device, "model.device")?;
        let lm = crate::models::load_model(model, dtype, &device)?;
        return Ok(Intervened { lm, hooks: None });
    }
    apply(crate::experiment::load_fresh(exp)?, recipe)
}

/// Applies `recipe` to `lm` (a fresh copy of the base model).
pub fn apply(mut lm: LoadedModel, recipe: &Recipe) -> Result<Intervened> {
    use InterventionKind::*;
    let dev = lm.model.device().clone();
    let hooks: Option<Box<HookFactory<'static>>> = match recipe {
        Recipe::Trained { weights, .. } | Recipe::ExternalWeights { weights } => {
            crate::adapters::apply(&mut lm.model, weights)?;
            None
        }
        Recipe::ExternalModel { .. } => anyhow::bail!(
            "external has no weights to apply (a whole tuned model is loaded by load_after)"
        ),
        Recipe::Interpolate {
            method,
            weights,
            alpha,
        } => {
            if *method == FullFt {
                interpolate::mix_full(&mut lm.model, weights, *alpha)?;
            } else {
                crate::adapters::apply(&mut lm.model, weights)?;
                interpolate::scale_lora(&mut lm.model, *alpha)?;
            }
            None
        }
        Recipe::Direction {
            kind,
            direction,
            layer,
            coeff,
        } => match kind {
            Actadd => {
                let coeff = coeff.expect("actadd has a coefficient") as f32;
                Some(Box::new(spillover_mri::actadd_hooks(
                    direction, *layer, coeff, &dev,
                )?))
            }
            Ablate => {
                let layers = lm.config().num_layers;
                Some(Box::new(spillover_mri::ablate_hooks(
                    direction, layers, &dev,
                )?))
            }
            _ => {
                spillover_mri::orthogonalize(&mut lm.model, direction)?;
                None
            }
        },
    };
    Ok(Intervened { lm, hooks })
}

/// The recipe of a direction intervention from the direction stage's summary.
pub fn direction_recipe(section: &InterventionSection, d: &direction::DirectionSummary) -> Recipe {
    let coeff = (section.kind == InterventionKind::Actadd).then(|| {
        section
            .coeff
            .unwrap_or_else(|| spillover_mri::direction::norm(&d.direction) as f64)
    });
    Recipe::Direction {
        kind: section.kind,
        direction: d.direction.clone(),
        layer: d.layer,
        coeff,
    }
}

/// The recipe of an external intervention: its adapter as `weights`, or its model as `model`.
pub fn external_recipe(ext: &external::External) -> Recipe {
    if ext.form == external::Form::Adapter {
        Recipe::ExternalWeights {
            weights: PathBuf::from(&ext.location),
        }
    } else {
        Recipe::ExternalModel {
            model: ext.location.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored text of each kind of recipe, as written before `Recipe` was an enum.
    const STORED: [&str; 7] = [
        r#"{"kind":"lora_sft","weights":"/s/w","method":"lora_sft","alpha":null,"direction":null,"layer":null,"coeff":null}"#,
        r#"{"kind":"full_ft","weights":"/s/w","method":"full_ft","alpha":null,"direction":null,"layer":null,"coeff":null}"#,
        r#"{"kind":"interpolate","weights":"/s/w","method":"full_ft","alpha":0.25,"direction":null,"layer":null,"coeff":null}"#,
        r#"{"kind":"actadd","weights":null,"method":null,"alpha":null,"direction":[0.5,-1.0],"layer":3,"coeff":2.0}"#,
        r#"{"kind":"ablate","weights":null,"method":null,"alpha":null,"direction":[0.5,-1.0],"layer":3,"coeff":null}"#,
        r#"{"kind":"external","weights":"/a","method":null,"alpha":null,"direction":null,"layer":null,"coeff":null}"#,
        r#"{"kind":"external","weights":null,"method":null,"alpha":null,"direction":null,"layer":null,"coeff":null,"model":"hf:o/m"}"#,
    ];

    #[test]
    fn stored_recipes_round_trip_to_the_same_text() {
        for text in STORED {
            let r: Recipe = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&r).unwrap(), text);
        }
    }

    #[test]
    fn stored_recipes_read_as_their_variants() {
        let r: Recipe = serde_json::from_str(STORED[2]).unwrap();
        assert_eq!(
            r,
            Recipe::Interpolate {
                method: InterventionKind::FullFt,
                weights: "/s/w".into(),
                alpha: 0.25
            }
        );
        let r: Recipe = serde_json::from_str(STORED[4]).unwrap();
        assert_eq!(r.kind(), InterventionKind::Ablate);
        assert_eq!(r.layer(), Some(3));
        let r: Recipe = serde_json::from_str(STORED[6]).unwrap();
        assert_eq!(
            r,
            Recipe::ExternalModel {
                model: "hf:o/m".into()
            }
        );
    }

    #[test]
    fn a_recipe_missing_a_field_or_of_an_unknown_kind_is_an_error_saying_which() {
        let no_alpha = STORED[2].replace(r#""alpha":0.25"#, r#""alpha":null"#);
        let e = serde_json::from_str::<Recipe>(&no_alpha)
            .unwrap_err()
            .to_string();
        assert!(e.contains("interpolate recipe needs `alpha`"), "{e}");
        let no_coeff = STORED[3].replace(r#""coeff":2.0"#, r#""coeff":null"#);
        let e = serde_json::from_str::<Recipe>(&no_coeff)
            .unwrap_err()
            .to_string();
        assert!(e.contains("actadd recipe needs `coeff`"), "{e}");
        let bad_method = STORED[0].replace(r#""method":"lora_sft""#, r#""method":"full_ft""#);
        let e = serde_json::from_str::<Recipe>(&bad_method)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`method` = \"full_ft\": expected \"lora_sft\""),
            "{e}"
        );
        let unknown = STORED[0].replace(r#""kind":"lora_sft""#, r#""kind":"lora""#);
        let e = serde_json::from_str::<Recipe>(&unknown)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`lora`") && e.contains("lora_sft") && e.contains("external"),
            "{e}"
        );
    }
}

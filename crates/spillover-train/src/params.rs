//! The trainable tensors: LoRA's A and B, or the base weights of selected linear layers (full
//! fine-tuning). Each becomes a candle `Var` whose storage the model's layers share, so an optimizer
//! step changes the model in place.

use candle_core::{Result, Var};
use spillover_model::Model;

/// Trainable tensors by name (PEFT names for LoRA, `<module>.weight` for full fine-tuning).
pub struct Trainable {
    pub names: Vec<String>,
    pub vars: Vec<Var>,
}

impl Trainable {
    /// Every LoRA A and B of the model, in module order.
    pub fn lora(model: &mut Model) -> Result<Self> {
        let mut t = Trainable {
            names: vec![],
            vars: vec![],
        };
        for (name, lin) in model.linears_mut() {
            if let Some(l) = lin.lora.as_mut() {
                let a = Var::from_tensor(&l.a)?;
                let b = Var::from_tensor(&l.b)?;
                l.a = a.as_tensor().clone();
                l.b = b.as_tensor().clone();
                t.names
                    .push(format!("base_model.model.{name}.lora_A.weight"));
                t.vars.push(a);
                t.names
                    .push(format!("base_model.model.{name}.lora_B.weight"));
                t.vars.push(b);
            }
        }
        if t.vars.is_empty() {
            candle_core::bail!("the model has no LoRA adapter to train");
        }
        Ok(t)
    }

    /// The weights of every linear layer whose module path `select` accepts (full fine-tuning).
    pub fn full(model: &mut Model, select: impl Fn(&str) -> bool) -> Result<Self> {
        let mut t = Trainable {
            names: vec![],
            vars: vec![],
        };
        for (name, lin) in model.linears_mut() {
            if select(&name) {
                let w = Var::from_tensor(&lin.weight)?;
                lin.weight = w.as_tensor().clone();
                t.names.push(format!("{name}.weight"));
                t.vars.push(w);
            }
        }
        if t.vars.is_empty() {
            candle_core::bail!("no linear layer was selected for full fine-tuning");
        }
        Ok(t)
    }

    /// Number of trainable values.
    pub fn count(&self) -> usize {
        self.vars.iter().map(|v| v.elem_count()).sum()
    }
}

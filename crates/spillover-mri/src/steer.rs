//! Interventions on the residual stream as hooks: activation addition (steering along a direction)
//! and directional ablation (projecting a direction out everywhere).
//!
//! `Hooks` holds `FnMut` edits and cannot be cloned, so the public constructors return factories
//! (`Fn() -> Hooks`) that build a fresh `Hooks` for each generation or scoring call; `add_actadd`
//! and `add_ablation` add the same edits to a `Hooks` the caller already has (e.g. one that also
//! caches activations).
//!
//! Where the ablation acts: on the residual stream itself — `blocks.0.hook_resid_pre` (the
//! embeddings, positions included) and `hook_resid_mid` / `hook_resid_post` of every layer
//! (`resid_pre` of layer l > 0 is `resid_post` of layer l − 1, already projected). Each residual
//! point then carries exactly zero projection on the direction, as a cache taken with these hooks
//! shows, and the final norm reads an ablated stream. Projecting the stream after each addition
//! is the same function as projecting each write (embeddings, attn_out, mlp_out), because
//! x + P a = P(x + a) when x already has no component along r̂; it is what `orthogonalize` bakes
//! into the weights. Editing the residual points rather than the writes also holds for Gemma-3,
//! whose writes pass through post-norms, and leaves `hook_attn_out` / `hook_mlp_out` showing what
//! the components actually wrote.

use crate::direction::{direction_tensor, unit};
use anyhow::Result;
use candle_core::{DType, Device, Tensor, D};
use spillover_model::Hooks;

/// x − (x·r̂) r̂ over the last dimension, computed in f32 and returned in x's dtype.
/// `r_hat` is a unit vector [d].
pub fn project_out(x: &Tensor, r_hat: &Tensor) -> candle_core::Result<Tensor> {
    let d = r_hat.dims1()?;
    if x.dim(D::Minus1)? != d {
        candle_core::bail!(
            "direction has {d} values, the activation {:?} (last dimension must match)",
            x.dims()
        );
    }
    let xf = x.to_dtype(DType::F32)?;
    let proj = xf.broadcast_mul(r_hat)?.sum_keepdim(D::Minus1)?; // (..., 1)
    (xf - proj.broadcast_mul(r_hat)?)?.to_dtype(x.dtype())
}

/// Projection of x on the unit vector r̂ over the last dimension: [...] (f32).
pub fn projection(x: &Tensor, r_hat: &Tensor) -> candle_core::Result<Tensor> {
    x.to_dtype(DType::F32)?.broadcast_mul(r_hat)?.sum(D::Minus1)
}

/// Adds `coeff · unit(direction)` to `blocks.{layer}.hook_resid_pre` at every position.
pub fn add_actadd(
    hooks: &mut Hooks,
    direction: &[f32],
    layer: usize,
    coeff: f32,
    device: &Device,
) -> Result<()> {
    push_actadd(hooks, &steering_vector(direction, coeff, device)?, layer);
    Ok(())
}

/// Projects `unit(direction)` out of the residual stream of a model with `n_layers` blocks (see the
/// module notes for where).
pub fn add_ablation(
    hooks: &mut Hooks,
    direction: &[f32],
    n_layers: usize,
    device: &Device,
) -> Result<()> {
    let r = direction_tensor(&unit(direction), direction.len(), device)?;
    push_ablation(hooks, &r, n_layers);
    Ok(())
}

/// The hook names `add_ablation` edits: `blocks.0.hook_resid_pre` and every layer's
/// `hook_resid_mid` and `hook_resid_post`.
pub fn ablation_points(n_layers: usize) -> Vec<String> {
    let mut names = vec!["blocks.0.hook_resid_pre".to_string()];
    for l in 0..n_layers {
        names.push(format!("blocks.{l}.hook_resid_mid"));
        names.push(format!("blocks.{l}.hook_resid_post"));
    }
    names
}

/// A factory of `Hooks` that add `coeff · unit(direction)` to `blocks.{layer}.hook_resid_pre` at
/// every position (activation addition). Pass `Some(&mut factory())` to a forward or engine call.
pub fn actadd_hooks(
    direction: &[f32],
    layer: usize,
    coeff: f32,
    device: &Device,
) -> Result<impl Fn() -> Hooks + Send + Sync> {
    let v = steering_vector(direction, coeff, device)?;
    Ok(move || {
        let mut h = Hooks::new();
        push_actadd(&mut h, &v, layer);
        h
    })
}

/// A factory of `Hooks` that project `unit(direction)` out of the residual stream at every layer and
/// position (directional ablation; see the module notes).
pub fn ablate_hooks(
    direction: &[f32],
    n_layers: usize,
    device: &Device,
) -> Result<impl Fn() -> Hooks + Send + Sync> {
    let r = direction_tensor(&unit(direction), direction.len(), device)?;
    Ok(move || {
        let mut h = Hooks::new();
        push_ablation(&mut h, &r, n_layers);
        h
    })
}

/// coeff · unit(direction) as an f32 tensor [d].
fn steering_vector(direction: &[f32], coeff: f32, device: &Device) -> Result<Tensor> {
    Ok((direction_tensor(&unit(direction), direction.len(), device)? * coeff as f64)?)
}

fn push_actadd(hooks: &mut Hooks, v: &Tensor, layer: usize) {
    let v = v.clone();
    hooks.add_hook(format!("blocks.{layer}.hook_resid_pre"), move |name, x| {
        let d = v.dims1()?;
        if x.dim(D::Minus1)? != d {
            candle_core::bail!(
                "{name}: steering vector has {d} values, activation {:?}",
                x.dims()
            );
        }
        x.broadcast_add(&v.to_dtype(x.dtype())?)
    });
}

fn push_ablation(hooks: &mut Hooks, r_hat: &Tensor, n_layers: usize) {
    for name in ablation_points(n_layers) {
        let r = r_hat.clone();
        hooks.add_hook(name, move |_, x| project_out(x, &r));
    }
}

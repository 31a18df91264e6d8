//! The MRI as one call: attention maps, direct logit attribution and activation patching on each
//! probe, the refusal-direction analysis, and causal validation, on the base and the tuned model.
//! Returns a serialisable summary and the named tensors behind it (see `export::write_outputs`).

use crate::attention::{attention_patterns, head_changes, most_changed, HeadChange};
use crate::attribution::{direct_logit_attribution, Attribution};
use crate::claims::{test_claims, Ablation, Candidate, ClaimInputs, Claims};
use crate::direction_analysis::{analyse_direction, DirectionAnalysis, DirectionInputs};
use crate::export::{matrix, vector, Tensors};
use crate::findings::{findings, Findings};
use crate::patching::{patch_sweep, PatchSweep};
use crate::probe::Probe;
use crate::steer::add_ablation;
use crate::subject::Subject;
use crate::validate::{
    add_head_ablation, measure, CapabilityItem, Condition, IsRefusal, ValidationSet,
};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use spillover_engine::GenerateOptions;
use spillover_model::Hooks;

/// What the MRI runs on. Prompts are token ids, already templated.
pub struct MriInputs<'a> {
    /// The model before the intervention, and after it (a second model for LoRA / full fine-tuning
    /// / weight edits, or the same model with the intervention's hooks).
    pub base: Subject<'a>,
    pub tuned: Subject<'a>,
    /// Probes for attention maps, attribution and patching (see `Probe`).
    pub probes: Vec<Probe>,
    /// Harmful and harmless prompts for the refusal direction (and harmful ones for validation).
    pub harmful: Vec<Vec<u32>>,
    /// The harmful prompts as text, in the order of `harmful`: what the judge reads.
    pub harmful_texts: Vec<String>,
    pub harmless: Vec<Vec<u32>>,
    /// Capability items: projection on the direction, and validation's accuracy.
    pub capability: Vec<CapabilityItem>,
    pub pad_id: u32,
    pub stop_ids: Vec<u32>,
    pub decode: &'a (dyn Fn(&[u32]) -> String + Sync),
    /// The run's refusal judge, for validation's refusal rates.
    pub is_refusal: IsRefusal<'a>,
    /// Called with a short line as each analysis starts (`None`: silent).
    pub progress: Option<&'a (dyn Fn(&str) + Sync)>,
}

impl MriInputs<'_> {
    fn note(&self, what: &str) {
        if let Some(p) = self.progress {
            p(what);
        }
    }
}

/// Settings of the MRI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MriOptions {
    /// Components listed per ranking, and heads ablated in validation.
    pub top_k: usize,
    pub batch_size: usize,
    /// Layer of the refusal direction (`None`: the best-separating one).
    pub layer: Option<usize>,
    /// Singular vectors of each ΔW compared with the direction.
    pub svd_k: usize,
    pub patching: bool,
    pub validate: bool,
    /// Tokens generated per reply in validation.
    pub max_new_tokens: usize,
    /// How the claims knock a direction out (see `claims`).
    #[serde(default)]
    pub ablation: Ablation,
    /// Random draws in each claim's null (0: no claims are tested).
    #[serde(default = "default_ablation_nulls")]
    pub ablation_nulls: usize,
    /// Harmful (and harmless reference) prompts the claims are measured on.
    #[serde(default = "default_null_prompts")]
    pub null_prompts: usize,
}

fn default_ablation_nulls() -> usize {
    100
}

fn default_null_prompts() -> usize {
    4
}

impl Default for MriOptions {
    fn default() -> Self {
        MriOptions {
            top_k: 5,
            batch_size: 16,
            layer: None,
            svd_k: 4,
            patching: true,
            validate: true,
            max_new_tokens: 40,
            ablation: Ablation::Mean,
            ablation_nulls: default_ablation_nulls(),
            null_prompts: default_null_prompts(),
        }
    }
}

/// The analyses of one probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub name: String,
    pub tokens: Vec<String>,
    pub prompt_len: usize,
    pub marks: std::collections::BTreeMap<String, Vec<usize>>,
    /// Mean JS divergence of attention per layer (averaged over heads).
    pub attention_layer_jsd: Vec<f32>,
    /// Every head's attention change (layer-major).
    pub attention: Vec<HeadChange>,
    /// The `top_k` heads whose attention changed most.
    pub attention_top: Vec<HeadChange>,
    /// logit(refusal) − logit(answer) attributions, when the probe names both tokens.
    pub attribution_base: Option<Attribution>,
    pub attribution_tuned: Option<Attribution>,
    /// Patching base → tuned (restoring) and tuned → base (inducing), when the probe has an answer.
    pub patch_base_to_tuned: Option<PatchSweep>,
    pub patch_tuned_to_base: Option<PatchSweep>,
}

/// Model shape, for readers of the summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    pub arch: String,
    pub layers: usize,
    pub heads: usize,
    pub d_model: usize,
}

/// Everything the MRI found (the JSON summary).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MriResult {
    pub shape: Shape,
    pub options: MriOptions,
    pub probes: Vec<ProbeResult>,
    pub direction: Option<DirectionAnalysis>,
    pub validation: Vec<Condition>,
    /// The causal claims and their controls (absent when none were tested).
    #[serde(default)]
    pub claims: Option<Claims>,
    pub findings: Findings,
}

/// Runs the MRI. The returned tensors are named `{probe}.attn.{base,tuned}` [L, H, t, t],
/// `{probe}.attn.jsd` [L, H], `{probe}.dla.{base,tuned}.heads` [L, H] and `.mlp` [L],
/// `{probe}.patch.{base_to_tuned,tuned_to_base}.heads` [L, H] and `.{site}` [L] (fractions of the
/// gap when defined, else patched log-probabilities, see the summary), and `direction.{base,tuned}`
/// [L, d], `direction.unit` [d].
pub fn mri(inp: &MriInputs, opts: &MriOptions) -> Result<(MriResult, Tensors)> {
    let cfg = inp.tuned.model.config();
    let mut tensors = Tensors::new();
    let mut probes = Vec::with_capacity(inp.probes.len());
    for probe in &inp.probes {
        probe.validate()?;
        let r = analyse_probe(inp, opts, probe, &mut tensors)
            .with_context(|| format!("probe {:?}", probe.name))?;
        probes.push(r);
    }
    let direction = if inp.harmful.is_empty() || inp.harmless.is_empty() {
        None
    } else {
        let capability: Vec<Vec<u32>> = inp.capability.iter().map(|c| c.ids.clone()).collect();
        inp.note("refusal direction");
        let mut d = analyse_direction(
            &inp.base,
            &inp.tuned,
            &DirectionInputs {
                harmful: &inp.harmful,
                harmless: &inp.harmless,
                capability: &capability,
                pad_id: inp.pad_id,
                batch_size: opts.batch_size,
                layer: opts.layer,
                svd_k: opts.svd_k,
                lens_k: 10,
            },
        )
        .context("refusal direction")?;
        let text = |v: &[(u32, f32)]| v.iter().map(|(i, _)| (inp.decode)(&[*i])).collect();
        d.lens_up_text = text(&d.lens_up);
        d.lens_down_text = text(&d.lens_down);
        tensors.insert("direction.base".into(), matrix(&d.base.per_layer)?);
        tensors.insert("direction.tuned".into(), matrix(&d.tuned.per_layer)?);
        tensors.insert("direction.unit".into(), vector(&d.direction)?);
        Some(d)
    };
    let heads = implicated_heads(&probes, opts.top_k);
    let validation = if opts.validate {
        inp.note("causal validation");
        validate(inp, opts, direction.as_ref(), &heads).context("causal validation")?
    } else {
        vec![]
    };
    let claims = if opts.ablation_nulls > 0 && !inp.harmful.is_empty() {
        inp.note("claims against their nulls");
        Some(run_claims(inp, opts, direction.as_ref(), &heads).context("claims")?)
    } else {
        None
    };
    let findings = findings(
        &probes,
        direction.as_ref(),
        &validation,
        cfg.num_layers,
        opts.top_k,
    );
    let result = MriResult {
        shape: Shape {
            arch: cfg.arch.name().into(),
            layers: cfg.num_layers,
            heads: cfg.num_heads,
            d_model: cfg.hidden_size,
        },
        options: opts.clone(),
        probes,
        direction,
        validation,
        claims,
        findings,
    };
    Ok((result, tensors))
}

fn analyse_probe(
    inp: &MriInputs,
    opts: &MriOptions,
    probe: &Probe,
    tensors: &mut Tensors,
) -> Result<ProbeResult> {
    let n = &probe.name;
    inp.note(&format!("probe {n}: attention and attribution"));
    let (pb, pt) = (
        attention_patterns(&inp.base, &probe.ids)?,
        attention_patterns(&inp.tuned, &probe.ids)?,
    );
    let changes = head_changes(&pb, &pt, &probe.marks)?;
    let heads = pb.heads();
    let jsd: Vec<Vec<f32>> = changes
        .chunks(heads)
        .map(|c| c.iter().map(|h| h.jsd_mean).collect())
        .collect();
    tensors.insert(format!("{n}.attn.base"), pb.stacked()?);
    tensors.insert(format!("{n}.attn.tuned"), pt.stacked()?);
    tensors.insert(format!("{n}.attn.jsd"), matrix(&jsd)?);
    let prompt = probe.prompt();
    let (attribution_base, attribution_tuned) = match (probe.refusal, probe.answer) {
        (Some(refusal), Some(answer)) => {
            let b = direct_logit_attribution(&inp.base, prompt, refusal, answer)?;
            let t = direct_logit_attribution(&inp.tuned, prompt, refusal, answer)?;
            for (tag, a) in [("base", &b), ("tuned", &t)] {
                tensors.insert(format!("{n}.dla.{tag}.heads"), matrix(&a.heads)?);
                tensors.insert(format!("{n}.dla.{tag}.mlp"), vector(&a.mlp)?);
            }
            (Some(b), Some(t))
        }
        _ => (None, None),
    };
    let (patch_base_to_tuned, patch_tuned_to_base) = match probe.answer {
        Some(answer) if opts.patching => {
            inp.note(&format!("probe {n}: activation patching"));
            let fwd = patch_sweep(&inp.base, &inp.tuned, prompt, answer, opts.batch_size)?;
            let rev = patch_sweep(&inp.tuned, &inp.base, prompt, answer, opts.batch_size)?;
            for (tag, s) in [("base_to_tuned", &fwd), ("tuned_to_base", &rev)] {
                let heads = s.head_fraction.as_ref().unwrap_or(&s.heads);
                tensors.insert(format!("{n}.patch.{tag}.heads"), matrix(heads)?);
                let layers = s.layer_fraction.as_ref().unwrap_or(&s.layers);
                for (site, v) in layers {
                    tensors.insert(format!("{n}.patch.{tag}.{site}"), vector(v)?);
                }
            }
            (Some(fwd), Some(rev))
        }
        _ => (None, None),
    };
    Ok(ProbeResult {
        name: n.clone(),
        tokens: probe.tokens.clone(),
        prompt_len: probe.prompt_len,
        marks: probe.marks.clone(),
        attention_layer_jsd: jsd
            .iter()
            .map(|l| l.iter().sum::<f32>() / heads.max(1) as f32)
            .collect(),
        attention_top: most_changed(&changes, opts.top_k),
        attention: changes,
        attribution_base,
        attribution_tuned,
        patch_base_to_tuned,
        patch_tuned_to_base,
    })
}

/// The heads validation ablates: the `k` whose base activation restores most of the lost answer
/// log-probability (first probe with patching), else the `k` whose logit attribution changed most,
/// else the `k` whose attention changed most.
pub fn implicated_heads(probes: &[ProbeResult], k: usize) -> Vec<(usize, usize)> {
    let ranked = |m: &[Vec<f32>]| -> Vec<(usize, usize)> {
        let mut all: Vec<(usize, usize, f32)> = m
            .iter()
            .enumerate()
            .flat_map(|(l, row)| row.iter().enumerate().map(move |(h, v)| (l, h, *v)))
            .collect();
        all.sort_by(|a, b| b.2.total_cmp(&a.2));
        all.into_iter().take(k).map(|(l, h, _)| (l, h)).collect()
    };
    if let Some(f) = probes
        .iter()
        .find_map(|p| p.patch_base_to_tuned.as_ref()?.head_fraction.as_ref())
    {
        return ranked(f);
    }
    if let Some((b, t)) = probes
        .iter()
        .find_map(|p| Some((p.attribution_base.as_ref()?, p.attribution_tuned.as_ref()?)))
    {
        let delta: Vec<Vec<f32>> = b
            .heads
            .iter()
            .zip(&t.heads)
            .map(|(x, y)| x.iter().zip(y).map(|(a, b)| (b - a).abs()).collect())
            .collect();
        return ranked(&delta);
    }
    probes
        .first()
        .map(|p| p.attention_top.iter().map(|h| (h.layer, h.head)).collect())
        .unwrap_or_default()
}

/// The candidates the claims test: the refusal direction, the direction the intervention shifts
/// the stream along, and the implicated heads.
pub fn candidates(
    direction: Option<&DirectionAnalysis>,
    heads: &[(usize, usize)],
) -> Vec<Candidate> {
    let mut out = Vec::new();
    if let Some(d) = direction {
        out.push(Candidate::Direction {
            id: "refusal_direction".into(),
            label: format!("the refusal direction (layer {})", d.layer),
            direction: d.direction.clone(),
        });
        if let Some(s) = &d.shift {
            if let (Some(l), Some(v)) = (s.layer, &s.direction) {
                out.push(Candidate::Direction {
                    id: "shift_direction".into(),
                    label: format!("the direction the intervention moves the stream along (entering at layer {l})"),
                    direction: v.clone(),
                });
            }
        }
    }
    if !heads.is_empty() {
        out.push(Candidate::Heads {
            id: "implicated_heads".into(),
            label: format!(
                "the implicated heads {}",
                heads
                    .iter()
                    .map(|(l, h)| format!("L{l}H{h}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            heads: heads.to_vec(),
        });
    }
    out
}

fn run_claims(
    inp: &MriInputs,
    opts: &MriOptions,
    direction: Option<&DirectionAnalysis>,
    heads: &[(usize, usize)],
) -> Result<Claims> {
    let n = opts.null_prompts.max(1);
    let prompts: Vec<Vec<u32>> = inp.harmful.iter().take(n).cloned().collect();
    let reference: Vec<Vec<u32>> = inp.harmless.iter().take(n).cloned().collect();
    test_claims(
        &ClaimInputs {
            base: &inp.base,
            tuned: &inp.tuned,
            prompts: &prompts,
            reference: &reference,
            split: format!(
                "in-sample: the first {} of the harmful prompts the directions were extracted from; heads ranked on the probes",
                prompts.len()
            ),
            ablation: opts.ablation,
            nulls: opts.ablation_nulls,
            batch_size: opts.batch_size,
            seed: 0x00C1_A115,
        },
        &candidates(direction, heads),
    )
}

/// `k` heads not in `exclude`, in a fixed pseudo-random order over the model (the control condition).
pub fn control_heads(
    layers: usize,
    heads: usize,
    k: usize,
    exclude: &[(usize, usize)],
) -> Vec<(usize, usize)> {
    let mut all: Vec<(u64, (usize, usize))> = (0..layers * heads)
        .map(|i| {
            let key = (i as u64 + 1)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .rotate_left(17);
            (key, (i / heads, i % heads))
        })
        .filter(|(_, h)| !exclude.contains(h))
        .collect();
    all.sort_unstable();
    all.into_iter().take(k).map(|(_, h)| h).collect()
}

fn validate(
    inp: &MriInputs,
    opts: &MriOptions,
    direction: Option<&DirectionAnalysis>,
    heads: &[(usize, usize)],
) -> Result<Vec<Condition>> {
    let cfg = inp.tuned.model.config();
    let set = ValidationSet {
        harmful: &inp.harmful,
        harmful_texts: &inp.harmful_texts,
        capability: &inp.capability,
        gen: GenerateOptions {
            max_new_tokens: opts.max_new_tokens,
            stop_ids: inp.stop_ids.clone(),
            pad_id: inp.pad_id,
        },
        decode: inp.decode,
        is_refusal: inp.is_refusal,
    };
    let dev = inp.tuned.model.device();
    let run = |name: &str, s: &Subject, extra: &dyn Fn(&mut Hooks) -> Result<()>| {
        inp.note(&format!("validation: {name}"));
        // The subject's own hooks, then the knock-out's edits.
        let make = || -> Hooks {
            let mut h = s.new_hooks();
            extra(&mut h).expect("validated before the run");
            h
        };
        measure(name, s.model, Some(&make as &dyn Fn() -> Hooks), &set)
    };
    let none = |_: &mut Hooks| Ok(());
    let mut out = vec![
        run("base", &inp.base, &none)?,
        run("tuned", &inp.tuned, &none)?,
    ];
    if let Some(d) = direction {
        let ablate = |h: &mut Hooks| add_ablation(h, &d.direction, cfg.num_layers, dev);
        ablate(&mut Hooks::new())?;
        let name = format!("tuned, refusal direction (layer {}) ablated", d.layer);
        out.push(run(&name, &inp.tuned, &ablate)?);
    }
    if !heads.is_empty() {
        let list = |hs: &[(usize, usize)]| {
            hs.iter()
                .map(|(l, h)| format!("L{l}H{h}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let control = control_heads(cfg.num_layers, cfg.num_heads, heads.len(), heads);
        for (label, hs) in [("implicated", heads), ("control", &control[..])] {
            let knock = |h: &mut Hooks| add_head_ablation(h, hs, cfg, dev);
            knock(&mut Hooks::new())?;
            let name = format!("tuned, {label} heads zero-ablated: {}", list(hs));
            out.push(run(&name, &inp.tuned, &knock)?);
        }
    }
    Ok(out)
}

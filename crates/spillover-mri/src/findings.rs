//! What the MRI concludes: the components with the largest measured effects, and a test of the
//! "late-layer refusal head" story (safety tuning built late-layer heads that attend to refusal
//! tokens and override arithmetic) against the measurements, claim by claim.

use crate::direction_analysis::DirectionAnalysis;
use crate::pipeline::ProbeResult;
use crate::probe::REFUSAL;
use crate::validate::Condition;
use serde::{Deserialize, Serialize};

/// One component and one measured effect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// `L12H3` for a head, `L12.mlp_out` for a layer site.
    pub name: String,
    pub layer: usize,
    pub head: Option<usize>,
    pub probe: String,
    /// What `value` is, in words.
    pub measure: String,
    pub value: f32,
}

/// One claim of the story and what was measured for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub claim: String,
    pub measured: String,
    /// `None` when the inputs did not allow the measurement.
    pub passed: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Findings {
    /// Heads whose base activation restores the largest fractions of the lost answer
    /// log-probability (patching base → tuned).
    pub restoring_heads: Vec<Component>,
    /// The same for whole attention and MLP outputs (`attn_out`, `mlp_out`; the residual-stream
    /// curves stay in the patching results, where the last layer restores everything by design).
    pub restoring_layers: Vec<Component>,
    /// Largest changes of direct logit attribution (tuned − base, refusal − answer).
    pub attribution_change: Vec<Component>,
    /// Largest attention changes (mean JS divergence).
    pub attention_change: Vec<Component>,
    pub story: Vec<Check>,
    /// Whether the late-layer refusal-head story holds: `Some(false)` when a measured claim failed,
    /// `Some(true)` when every claim was measured and passed, `None` when some claim could not be
    /// measured and none failed.
    pub story_holds: Option<bool>,
    /// The findings as sentences, for the report.
    pub statements: Vec<String>,
}

fn head_name(l: usize, h: usize) -> String {
    format!("L{l}H{h}")
}

/// Derives the findings from the analyses.
pub fn findings(
    probes: &[ProbeResult],
    direction: Option<&DirectionAnalysis>,
    validation: &[Condition],
    layers: usize,
    k: usize,
) -> Findings {
    let mut restoring_heads = Vec::new();
    let mut restoring_layers = Vec::new();
    let mut attribution_change = Vec::new();
    let mut attention_change = Vec::new();
    for p in probes {
        if let Some(f) = p.patch_base_to_tuned.as_ref() {
            if let Some(hf) = &f.head_fraction {
                for (l, row) in hf.iter().enumerate() {
                    for (h, v) in row.iter().enumerate() {
                        restoring_heads.push(comp(
                            head_name(l, h),
                            l,
                            Some(h),
                            p,
                            "fraction of lost log p(answer) restored",
                            *v,
                        ));
                    }
                }
            }
            if let Some(lf) = &f.layer_fraction {
                for (site, v) in lf.iter().filter(|(k, _)| k.ends_with("_out")) {
                    for (l, x) in v.iter().enumerate() {
                        restoring_layers.push(comp(
                            format!("L{l}.{site}"),
                            l,
                            None,
                            p,
                            "fraction of lost log p(answer) restored",
                            *x,
                        ));
                    }
                }
            }
        }
        if let (Some(b), Some(t)) = (&p.attribution_base, &p.attribution_tuned) {
            for (l, (rb, rt)) in b.heads.iter().zip(&t.heads).enumerate() {
                for (h, (x, y)) in rb.iter().zip(rt).enumerate() {
                    attribution_change.push(comp(
                        head_name(l, h),
                        l,
                        Some(h),
                        p,
                        "change of direct logit attribution to refusal − answer",
                        y - x,
                    ));
                }
            }
            for (l, (x, y)) in b.mlp.iter().zip(&t.mlp).enumerate() {
                attribution_change.push(comp(
                    format!("L{l}.mlp"),
                    l,
                    None,
                    p,
                    "change of direct logit attribution to refusal − answer",
                    y - x,
                ));
            }
        }
        for c in &p.attention_top {
            attention_change.push(comp(
                head_name(c.layer, c.head),
                c.layer,
                Some(c.head),
                p,
                "mean JS divergence of attention",
                c.jsd_mean,
            ));
        }
    }
    for v in [&mut restoring_heads, &mut restoring_layers] {
        v.sort_by(|a, b| b.value.total_cmp(&a.value));
        v.truncate(k);
    }
    for v in [&mut attribution_change, &mut attention_change] {
        v.sort_by(|a, b| b.value.abs().total_cmp(&a.value.abs()));
        v.truncate(k);
    }
    let story = story(probes, &restoring_heads, validation, layers);
    let story_holds = if story.iter().any(|c| c.passed == Some(false)) {
        Some(false)
    } else if story.iter().all(|c| c.passed == Some(true)) {
        Some(true)
    } else {
        None
    };
    let restoring: Vec<Component> = restoring_heads
        .iter()
        .chain(&restoring_layers)
        .cloned()
        .collect();
    let mut statements = gaps(probes);
    statements.extend(statements_from(
        &restoring,
        &attribution_change,
        direction,
        validation,
        &story,
        story_holds,
    ));
    Findings {
        restoring_heads,
        restoring_layers,
        attribution_change,
        attention_change,
        story,
        story_holds,
        statements,
    }
}

fn comp(
    name: String,
    layer: usize,
    head: Option<usize>,
    p: &ProbeResult,
    measure: &str,
    value: f32,
) -> Component {
    Component {
        name,
        layer,
        head,
        probe: p.name.clone(),
        measure: measure.into(),
        value,
    }
}

/// Capability loss (nats of mean answer log-probability) below which there is nothing to explain.
const MIN_LOSS: f64 = 0.1;

/// The story's claims, each with its measurement: late layers, attention to refusal tokens, and a
/// causal effect of ablating the implicated heads beyond a control set.
fn story(
    probes: &[ProbeResult],
    restoring_heads: &[Component],
    validation: &[Condition],
    layers: usize,
) -> Vec<Check> {
    let late = 2 * layers / 3;
    let top_head = restoring_heads.first();
    // The story explains a capability loss; without one there is nothing for a circuit to override.
    let by_name = |n: &str| validation.iter().find(|c| c.name == n);
    let lost = match (by_name("base"), by_name("tuned")) {
        (Some(b), Some(t)) => b
            .answer_logprob
            .zip(t.answer_logprob)
            .map(|(b, t)| (b - t) as f64),
        _ => None,
    };
    let mut out = vec![Check {
        claim: format!(
            "tuning lowered the mean log-probability of the correct answers (by more than {MIN_LOSS} nats)"
        ),
        measured: lost.map_or("validation did not run or had no capability items".into(), |l| {
            format!("mean log p(answer) fell by {l:+.3} nats")
        }),
        passed: lost.map(|l| l > MIN_LOSS),
    }];
    out.push(Check {
        claim: format!("the head that restores most of the lost answer lies in the last third of the layers (layer >= {late})"),
        measured: top_head.map_or("no head patching result".into(), |c| {
            format!("{} restores {:.1}% on probe {:?}", c.name, 100.0 * c.value, c.probe)
        }),
        passed: top_head.map(|c| c.layer >= late),
    });
    let shift = top_head.and_then(|c| {
        probes.iter().find_map(|p| {
            p.marks.get(REFUSAL)?;
            let hc = p
                .attention
                .iter()
                .find(|h| Some(h.head) == c.head && h.layer == c.layer);
            Some((p.name.clone(), hc.map(|h| h.mass_shift(REFUSAL))))
        })
    });
    out.push(Check {
        claim:
            "after tuning, that head attends more to refusal-token positions (mass shift > 0.05)"
                .into(),
        measured: match &shift {
            Some((p, Some(s))) => {
                format!("attention mass on refusal tokens moved by {s:+.3} on probe {p:?}")
            }
            Some((p, None)) => format!("no attention result for the head on probe {p:?}"),
            None => "no probe has refusal-token positions (or no head result)".into(),
        },
        passed: match shift {
            Some((_, Some(s))) => Some(s > 0.05),
            Some((_, None)) => Some(false),
            None => None,
        },
    });
    let find = |prefix: &str| validation.iter().find(|c| c.name.starts_with(prefix));
    let (tuned, implicated, control) = (
        validation.iter().find(|c| c.name == "tuned"),
        find("tuned, implicated heads"),
        find("tuned, control heads"),
    );
    let gain = |c: &Condition| Some(c.answer_logprob? - tuned?.answer_logprob?);
    let (gi, gc) = (implicated.and_then(gain), control.and_then(gain));
    out.push(Check {
        claim: "zero-ablating the implicated heads in the tuned model restores the answer more than ablating control heads".into(),
        measured: match (gi, gc) {
            (Some(a), Some(b)) => format!("mean log p(answer) changes by {a:+.3} (implicated) vs {b:+.3} (control)"),
            _ => "validation did not run or had no capability items".into(),
        },
        passed: match (gi, gc) {
            (Some(a), Some(b)) => Some(a > 0.0 && a > b),
            _ => None,
        },
    });
    out
}

/// The gap in log p(correct answer) each patched probe measures, base vs tuned.
fn gaps(probes: &[ProbeResult]) -> Vec<String> {
    probes
        .iter()
        .filter_map(|p| {
            let f = p.patch_base_to_tuned.as_ref()?;
            let note = if f.head_fraction.is_none() {
                " (too small a gap for patching fractions)"
            } else {
                ""
            };
            Some(format!(
                "Probe {:?}: log p(correct answer) is {:.3} in the base model and {:.3} in the tuned model{note}.",
                p.name, f.source_logprob, f.target_logprob
            ))
        })
        .collect()
}

fn pct(x: Option<f32>) -> String {
    x.map_or("n/a".into(), |v| format!("{:.0}%", 100.0 * v))
}

fn statements_from(
    restoring: &[Component],
    attribution: &[Component],
    direction: Option<&DirectionAnalysis>,
    validation: &[Condition],
    story: &[Check],
    holds: Option<bool>,
) -> Vec<String> {
    let mut s = Vec::new();
    let list = |v: &[Component], scale: f32, unit: &str| {
        v.iter()
            .map(|c| {
                format!(
                    "{} ({:+.2}{unit}, probe {:?})",
                    c.name,
                    scale * c.value,
                    c.probe
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !restoring.is_empty() {
        s.push(format!("Patching base activations into the tuned model, the components that close most of the gap in log p(correct answer) are: {}.", list(restoring, 100.0, "%")));
    }
    if !attribution.is_empty() {
        s.push(format!("The largest changes of direct logit attribution (logit of the refusal token minus the answer token) are: {}.", list(attribution, 1.0, "")));
    }
    if let Some(d) = direction {
        let best = d
            .alignments
            .iter()
            .filter_map(|a| Some((a, a.cos.iter().copied().reduce(f32::max)?)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        s.push(format!(
            "Refusal direction: layer {} (separation {:.2}); capability prompts sit at {} (base) and {} (tuned) of the way from the harmless to the harmful mean along it{}.",
            d.layer,
            d.separation[d.layer],
            pct(d.reflex_base),
            pct(d.reflex_tuned),
            best.map_or(String::new(), |(a, c)| {
                let null = d.max_cos_null.as_ref().map_or(String::new(), |n| format!(
                    "; the largest |cos| of a random direction over the same {} singular vectors has median {:.2} and 95th percentile {:.2}, so this one sits at percentile {:.0}",
                    n.comparisons, n.median, n.p95, n.percentile
                ));
                format!("; its largest |cos| with a top singular vector of the weight update (in the residual-stream space of each module) is {c:.2} ({}, {} side{null})", a.module, a.side)
            }),
        ));
        if !d.lens_up_text.is_empty() {
            s.push(format!(
                "Logit lens of the refusal direction: it raises {:?} and lowers {:?}.",
                d.lens_up_text, d.lens_down_text
            ));
        }
    }
    for c in validation {
        s.push(format!(
            "{}: refusal rate {}, arithmetic accuracy {}, mean log p(answer) {}.",
            c.name,
            pct(c.refusal_rate),
            pct(c.accuracy),
            c.answer_logprob.map_or("n/a".into(), |v| format!("{v:.3}")),
        ));
    }
    let failed: Vec<&str> = story
        .iter()
        .filter(|c| c.passed == Some(false))
        .map(|c| c.claim.as_str())
        .collect();
    s.push(match holds {
        Some(true) => {
            "The late-layer refusal-head story holds on this model: every measured claim passed."
                .into()
        }
        Some(false) => format!(
            "The late-layer refusal-head story does not hold on this model; failed claims: {}.",
            failed.join("; ")
        ),
        None => format!(
            "The late-layer refusal-head story could not be fully tested; not measured: {}.",
            story
                .iter()
                .filter(|c| c.passed.is_none())
                .map(|c| c.claim.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
    });
    s
}

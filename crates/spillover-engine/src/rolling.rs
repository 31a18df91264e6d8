//! Rolling log-likelihood of long texts, for perplexity and bits per byte.
//!
//! The token sequence (with an optional prefix token, e.g. EOS as lm-evaluation-harness uses, so
//! the first real token is scored too) is scored in chunks of `stride` targets. The model sees at
//! most `window` tokens per forward: each chunk is fed with the tokens just before it, so every
//! scored token has at least `window − stride` tokens of context (where the text has them).
//! `stride == window` is lm-evaluation-harness's `loglikelihood_rolling` (disjoint windows).
//! The windows are independent requests for `loglikelihood`, batched and budgeted like any other.

use crate::loglik::{loglikelihood, LoglikOptions, LoglikRequest};
use spillover_model::{Hooks, Model};

#[derive(Clone, Debug)]
pub struct RollingOptions {
    /// Most tokens fed to the model in one forward.
    pub window: usize,
    /// Tokens scored per window (1 ≤ stride ≤ window).
    pub stride: usize,
    /// Token put before the text so its first token is scored (None: the first token is context).
    pub prefix: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RollingScore {
    /// Σ log p over the scored tokens (natural log).
    pub logprob: f64,
    /// Tokens scored.
    pub tokens: usize,
}

impl RollingScore {
    /// exp(−logprob / tokens).
    pub fn perplexity(&self) -> f64 {
        (-self.logprob / self.tokens.max(1) as f64).exp()
    }
    /// −logprob / (ln 2 · bytes): bits per UTF-8 byte of the text that was tokenized.
    pub fn bits_per_byte(&self, bytes: usize) -> f64 {
        -self.logprob / (std::f64::consts::LN_2 * bytes.max(1) as f64)
    }
    /// Adds up the scores of several texts.
    pub fn sum<'a>(scores: impl IntoIterator<Item = &'a RollingScore>) -> RollingScore {
        scores.into_iter().fold(
            RollingScore {
                logprob: 0.0,
                tokens: 0,
            },
            |a, s| RollingScore {
                logprob: a.logprob + s.logprob,
                tokens: a.tokens + s.tokens,
            },
        )
    }
}

/// The (context, continuation) requests that score `ids` window by window.
pub fn rolling_requests(ids: &[u32], o: &RollingOptions) -> Result<Vec<LoglikRequest>, String> {
    if o.stride == 0 || o.stride > o.window {
        return Err(format!(
            "rolling windows need 1 ≤ stride ≤ window, got stride {} and window {}",
            o.stride, o.window
        ));
    }
    let seq: Vec<u32> = o.prefix.into_iter().chain(ids.iter().copied()).collect();
    let mut reqs = Vec::new();
    let mut a = 1; // first target
    while a < seq.len() {
        let f = (a + o.stride).min(seq.len()); // targets a..f
        let b = (f - 1).saturating_sub(o.window); // fed tokens b..f-1
        reqs.push(LoglikRequest {
            context: seq[b..a].to_vec(),
            continuation: seq[a..f].to_vec(),
        });
        a = f;
    }
    Ok(reqs)
}

/// Rolling log-likelihood of each text (token ids).
pub fn rolling_loglikelihood(
    model: &Model,
    texts: &[Vec<u32>],
    o: &RollingOptions,
    opts: &LoglikOptions,
    hooks: Option<&mut Hooks>,
) -> candle_core::Result<Vec<RollingScore>> {
    // GPT-2's learned position table is the one hard limit (rotary models extrapolate).
    let c = model.config();
    if c.arch == spillover_model::Arch::Gpt2 && o.window > c.max_positions {
        candle_core::bail!(
            "rolling window {} exceeds the model's {} positions",
            o.window,
            c.max_positions
        );
    }
    let mut reqs = Vec::new();
    let mut owner = Vec::new();
    for (t, ids) in texts.iter().enumerate() {
        let r = rolling_requests(ids, o).map_err(candle_core::Error::msg)?;
        owner.extend(std::iter::repeat_n(t, r.len()));
        reqs.extend(r);
    }
    let opts = LoglikOptions {
        share_context: false,
        ..opts.clone()
    };
    let scored = loglikelihood(model, &reqs, &opts, hooks)?;
    let mut out = vec![
        RollingScore {
            logprob: 0.0,
            tokens: 0
        };
        texts.len()
    ];
    for (l, (&t, r)) in scored.iter().zip(owner.iter().zip(&reqs)) {
        out[t].logprob += l.logprob;
        out[t].tokens += r.continuation.len();
    }
    Ok(out)
}

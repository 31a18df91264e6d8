//! Log-likelihood properties on the tiny random models, checked against an independent oracle (one
//! plain forward of context + continuation): batched and budgeted scoring, shared-context reuse,
//! greedy flags, and rolling windows all agree with it within 1e-4.

mod common;
use common::{assert_close, prompts, tiny, TINY};
use spillover_engine::{
    loglikelihood, rolling_loglikelihood, rolling_requests, token_logprobs, top_k_next, Batching,
    LoglikOptions, LoglikRequest, RollingOptions,
};
use spillover_model::Model;

/// log p(continuation | context) from one forward of the concatenation, and whether each
/// continuation token is the argmax.
fn oracle(m: &Model, r: &LoglikRequest) -> (f64, bool) {
    let seq: Vec<u32> = r.context.iter().chain(&r.continuation).copied().collect();
    let lp = token_logprobs(m, std::slice::from_ref(&seq), 256)
        .unwrap()
        .remove(0);
    let n = r.continuation.len();
    let sum = lp[lp.len() - n..].iter().map(|&x| x as f64).sum();
    let greedy = (0..n).all(|i| {
        let prefix = &seq[..r.context.len() + i];
        top_k_next(m, prefix, 1).unwrap()[0].0 == r.continuation[i]
    });
    (sum, greedy)
}

/// Four-choice questions: each context continued by four answers of different lengths, one of
/// them the greedy continuation.
fn mc_requests(m: &Model) -> Vec<LoglikRequest> {
    let mut reqs = Vec::new();
    for ctx in prompts() {
        let greedy: Vec<u32> = {
            let mut s = ctx.clone();
            for _ in 0..3 {
                let next = top_k_next(m, &s, 1).unwrap()[0].0;
                s.push(next);
            }
            s[ctx.len()..].to_vec()
        };
        for cont in [vec![70, 71], greedy, vec![90], vec![10, 11, 12, 13, 14]] {
            reqs.push(LoglikRequest {
                context: ctx.clone(),
                continuation: cont,
            });
        }
    }
    reqs
}

fn opts(share: bool, batching: Batching) -> LoglikOptions {
    LoglikOptions {
        pad_id: 256,
        batching,
        share_context: share,
    }
}

#[test]
fn loglikelihood_matches_one_forward_of_the_concatenation() {
    for name in TINY {
        let lm = tiny(name);
        let reqs = mc_requests(&lm.model);
        let budgets = [
            Batching::default(),
            Batching {
                token_budget: 30,
                ..Batching::default()
            },
        ];
        for share in [true, false] {
            for b in &budgets {
                let got = loglikelihood(&lm.model, &reqs, &opts(share, b.clone()), None).unwrap();
                for (i, (g, r)) in got.iter().zip(&reqs).enumerate() {
                    let (want, greedy) = oracle(&lm.model, r);
                    assert_close(
                        g.logprob,
                        want,
                        1e-4,
                        &format!("{name} request {i} share={share}"),
                    );
                    assert_eq!(g.is_greedy, greedy, "{name} request {i}: greedy flag");
                    assert_eq!(g.token_logprobs.len(), r.continuation.len());
                }
            }
        }
        let greedy_flags = loglikelihood(&lm.model, &reqs, &opts(true, Batching::default()), None)
            .unwrap()
            .iter()
            .filter(|l| l.is_greedy)
            .count();
        assert!(
            greedy_flags >= prompts().len(),
            "{name}: each question has a greedy answer"
        );
    }
}

#[test]
fn shared_context_equals_independent_scoring() {
    for name in TINY {
        let lm = tiny(name);
        let reqs = mc_requests(&lm.model);
        let shared =
            loglikelihood(&lm.model, &reqs, &opts(true, Batching::default()), None).unwrap();
        let alone = Batching {
            max_batch: Some(1),
            ..Batching::default()
        };
        let single = loglikelihood(&lm.model, &reqs, &opts(false, alone), None).unwrap();
        for (a, b) in shared.iter().zip(&single) {
            assert_close(a.logprob, b.logprob, 1e-4, name);
            assert_eq!(a.is_greedy, b.is_greedy);
        }
    }
}

#[test]
fn empty_context_or_continuation_is_an_error() {
    let lm = tiny("tiny-llama");
    let bad = [
        LoglikRequest {
            context: vec![],
            continuation: vec![1],
        },
        LoglikRequest {
            context: vec![1],
            continuation: vec![],
        },
    ];
    for r in bad {
        let e = loglikelihood(&lm.model, &[r], &LoglikOptions::default(), None);
        assert!(e.is_err());
    }
}

/// Issue #22, case 5: scoring past the model's context crashed with "index-select invalid index
/// 256 with dim size 256" (tiny-gpt2) or silently used positions the model does not have
/// (tiny-llama). Log-likelihoods keep the last context tokens that fit; token scores refuse.
#[test]
fn scoring_stops_at_the_context() {
    for name in ["tiny-gpt2", "tiny-llama"] {
        let lm = tiny(name);
        let context: Vec<u32> = (0..260).map(|i| 3 + i % 200).collect();
        let long = LoglikRequest {
            context: context.clone(),
            continuation: vec![6; 10],
        };
        // 269 tokens fed: the first 13 context tokens do not fit.
        let fits = LoglikRequest {
            context: context[13..].to_vec(),
            continuation: vec![6; 10],
        };
        let o = LoglikOptions::default();
        let a = loglikelihood(&lm.model, &[long], &o, None).unwrap();
        let b = loglikelihood(&lm.model, &[fits], &o, None).unwrap();
        assert_close(a[0].logprob, b[0].logprob, 1e-9, name);
        let too_long = LoglikRequest {
            context: vec![5],
            continuation: vec![6; 257],
        };
        let e = loglikelihood(&lm.model, &[too_long], &o, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("context of 256"), "{name}: {e}");
        let e = token_logprobs(&lm.model, &[vec![7; 257]], 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("context of 256"), "{name}: {e}");
        assert!(top_k_next(&lm.model, &vec![7; 257], 3).is_err(), "{name}");
    }
}

/// Rolling score of `ids` after the EOS token of the tiny vocabulary.
fn rolling(m: &Model, ids: &[u32], window: usize, stride: usize) -> spillover_engine::RollingScore {
    let o = RollingOptions {
        window,
        stride,
        prefix: Some(258),
    };
    let texts = [ids.to_vec()];
    let b = opts(false, Batching::default());
    rolling_loglikelihood(m, &texts, &o, &b, None)
        .unwrap()
        .remove(0)
}

fn text() -> Vec<u32> {
    (0..37u32).map(|i| (i * 37 + 11) % 250).collect()
}

#[test]
fn rolling_equals_a_single_window_when_the_text_fits() {
    for name in TINY {
        let lm = tiny(name);
        let ids = text();
        let got = rolling(&lm.model, &ids, 64, 64);
        let seq: Vec<u32> = [258].into_iter().chain(ids.iter().copied()).collect();
        let lp = token_logprobs(&lm.model, &[seq], 256).unwrap().remove(0);
        let want: f64 = lp.iter().map(|&x| x as f64).sum();
        assert_eq!(got.tokens, ids.len());
        assert_close(got.logprob, want, 1e-4, name);
        let bpb = got.bits_per_byte(ids.len());
        let n = ids.len() as f64;
        assert_close(
            bpb,
            -got.logprob / std::f64::consts::LN_2 / n,
            1e-12,
            "bits per byte",
        );
        assert_close(
            got.perplexity(),
            (-got.logprob / n).exp(),
            1e-9,
            "perplexity",
        );
    }
}

#[test]
fn rolling_windows_score_every_token_once_with_bounded_context() {
    let ids = text();
    for (window, stride) in [(8, 8), (8, 3), (10, 1), (16, 5)] {
        let o = RollingOptions {
            window,
            stride,
            prefix: None,
        };
        let reqs = rolling_requests(&ids, &o).unwrap();
        let targets: Vec<u32> = reqs.iter().flat_map(|r| r.continuation.clone()).collect();
        assert_eq!(targets, ids[1..], "window {window} stride {stride}");
        for r in &reqs {
            assert!(
                r.context.len() + r.continuation.len() - 1 <= window,
                "fed tokens fit the window"
            );
            assert!(r.continuation.len() <= stride);
            assert!(
                r.context.len() >= (window - stride).min(1),
                "at least one token of context"
            );
        }
    }
    assert!(rolling_requests(
        &ids,
        &RollingOptions {
            window: 4,
            stride: 5,
            prefix: None
        }
    )
    .is_err());
    // Each window's score is the oracle's score of that window on its own.
    let lm = tiny("tiny-llama");
    let got = rolling(&lm.model, &ids, 12, 5);
    let o = RollingOptions {
        window: 12,
        stride: 5,
        prefix: Some(258),
    };
    let seq: Vec<u32> = [258].into_iter().chain(ids.iter().copied()).collect();
    let want: f64 = rolling_requests(&ids, &o)
        .unwrap()
        .iter()
        .map(|r| oracle(&lm.model, r).0)
        .sum();
    assert_eq!(got.tokens, seq.len() - 1);
    assert_close(got.logprob, want, 1e-4, "rolling windows");
}

//! Batch invariance on the packaged SmolLM2-135M-Instruct (needs `SPILLOVER_SMOLLM2_GGUF`, which
//! scripts/test.sh sets after fetching; `#[ignore]`d in a plain `cargo test`): greedy tokens of a
//! mixed-length batch equal one-by-one generation, and batched, shared-context log-likelihoods
//! equal one-by-one scoring within 1e-4.

use spillover_engine::{
    generate, loglikelihood, Batching, GenerateOptions, LoglikOptions, LoglikRequest,
};
use spillover_model::fixtures::real_model;
use spillover_model::{load_path, LoadOptions, LoadedModel};

fn smollm2() -> Option<LoadedModel> {
    let path = real_model("SPILLOVER_SMOLLM2_GGUF")?;
    let mut lm = load_path(&path, &LoadOptions::default()).unwrap();
    lm.model.use_inference_layout().unwrap();
    Some(lm)
}

const QUESTIONS: [&str; 4] = [
    "What is the capital of France?",
    "Write a haiku about the sea, then explain why the sea is salty in two sentences.",
    "2+2=",
    "List three prime numbers.",
];

#[test]
#[ignore = "needs the packaged SmolLM2 GGUF (scripts/test.sh fetches it)"]
fn smollm2_greedy_batch_equals_one_by_one() {
    let Some(lm) = smollm2() else { return };
    let (tok, chat) = (lm.tokenizer().unwrap(), lm.chat().unwrap());
    let prompts: Vec<Vec<u32>> = QUESTIONS
        .iter()
        .map(|q| tok.encode(&chat.render_user(q).unwrap(), false).unwrap())
        .collect();
    let o = GenerateOptions {
        max_new_tokens: 24,
        stop_ids: lm.stop_ids(),
        pad_id: lm.pad_id(),
    };
    let batch = generate(&lm.model, &prompts, &o, None).unwrap();
    for (p, g) in prompts.iter().zip(&batch) {
        let alone = generate(&lm.model, std::slice::from_ref(p), &o, None).unwrap();
        assert_eq!(g.new_ids, alone[0].new_ids);
    }
}

#[test]
#[ignore = "needs the packaged SmolLM2 GGUF (scripts/test.sh fetches it)"]
fn smollm2_shared_context_scores_equal_one_by_one() {
    let Some(lm) = smollm2() else { return };
    let tok = lm.tokenizer().unwrap();
    let mut reqs = Vec::new();
    for q in QUESTIONS {
        let ctx = tok
            .encode(&format!("Question: {q}\nAnswer:"), false)
            .unwrap();
        for a in [
            " Paris",
            " I do not know.",
            " 4",
            " Two, three and five are prime.",
        ] {
            let cont = tok.encode(a, false).unwrap();
            reqs.push(LoglikRequest {
                context: ctx.clone(),
                continuation: cont,
            });
        }
    }
    let opts = LoglikOptions {
        pad_id: lm.pad_id(),
        ..LoglikOptions::default()
    };
    let shared = loglikelihood(&lm.model, &reqs, &opts, None).unwrap();
    let single = LoglikOptions {
        share_context: false,
        batching: Batching {
            max_batch: Some(1),
            ..Batching::default()
        },
        ..opts
    };
    let alone = loglikelihood(&lm.model, &reqs, &single, None).unwrap();
    for (a, b) in shared.iter().zip(&alone) {
        assert!(
            (a.logprob - b.logprob).abs() < 1e-4,
            "{} vs {}",
            a.logprob,
            b.logprob
        );
        assert_eq!(a.is_greedy, b.is_greedy);
    }
}

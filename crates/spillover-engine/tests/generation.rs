//! Generation properties on the tiny random models: batching (any batch size, mixed lengths,
//! rows leaving early) never changes greedy tokens; the same seed gives the same sample whatever
//! the batch; stop strings end a sequence where its text first contains them; hooks run.

mod common;
use common::{prompts, tiny, TINY};
use spillover_engine::{
    generate, truncate_at_stop, Batching, FinishReason, GenerateOptions, Generator, Sampling,
};
use spillover_model::Hooks;

fn opts(n: usize) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens: n,
        stop_ids: vec![],
        pad_id: 256,
    }
}

fn one_row_batches() -> Batching {
    Batching {
        max_batch: Some(1),
        ..Batching::default()
    }
}

#[test]
fn greedy_batch_equals_one_by_one() {
    for name in TINY {
        let lm = tiny(name);
        let o = opts(12);
        let batch = generate(&lm.model, &prompts(), &o, None).unwrap();
        for (i, p) in prompts().iter().enumerate() {
            let alone = generate(&lm.model, std::slice::from_ref(p), &o, None).unwrap();
            assert_eq!(batch[i].new_ids, alone[0].new_ids, "{name}: prompt {i}");
            assert_eq!(batch[i].new_ids.len(), 12);
        }
        // A budget that forces several batches changes nothing either.
        let small = Generator::new(&lm.model, &o)
            .batching(Batching {
                token_budget: 40,
                ..Batching::default()
            })
            .run(&prompts(), None)
            .unwrap();
        for (a, b) in small.iter().zip(&batch) {
            assert_eq!(a.new_ids, b.new_ids, "{name}: budgeted batches");
        }
    }
}

/// Prompts that all start with the same 10 tokens (a system prompt, say), with mixed-length
/// tails; one prompt is the prefix plus a single token, and one appears twice.
fn prefixed_prompts() -> Vec<Vec<u32>> {
    let prefix: Vec<u32> = vec![11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
    let mut tails = prompts();
    tails.push(vec![99]);
    tails.push(tails[0].clone());
    tails
        .into_iter()
        .map(|t| prefix.iter().chain(&t).copied().collect())
        .collect()
}

#[test]
fn a_shared_prompt_prefix_changes_no_token() {
    for name in TINY {
        let lm = tiny(name);
        let o = opts(10);
        let ps = prefixed_prompts();
        // Without hooks the batch computes the shared prefix once; with (empty) hooks every row
        // computes it itself; a batch of one has nothing to share.
        let shared = generate(&lm.model, &ps, &o, None).unwrap();
        let mut empty = Hooks::new();
        let per_row = generate(&lm.model, &ps, &o, Some(&mut empty)).unwrap();
        for (i, p) in ps.iter().enumerate() {
            let alone = generate(&lm.model, std::slice::from_ref(p), &o, None).unwrap();
            assert_eq!(shared[i].new_ids, alone[0].new_ids, "{name}: prompt {i}");
            assert_eq!(shared[i].new_ids, per_row[i].new_ids, "{name}: prompt {i}");
        }
        // Several prefill groups (a tight budget) share it too.
        let budgeted = Generator::new(&lm.model, &o)
            .batching(Batching {
                token_budget: 70,
                ..Batching::default()
            })
            .run(&ps, None)
            .unwrap();
        for (a, b) in budgeted.iter().zip(&shared) {
            assert_eq!(a.new_ids, b.new_ids, "{name}: budgeted batches");
        }
    }
}

#[test]
fn rows_leaving_early_do_not_disturb_the_others() {
    let lm = tiny("tiny-llama");
    let free = generate(&lm.model, &prompts(), &opts(10), None).unwrap();
    // Stop on the third token of prompt 1's free run: it leaves the batch early.
    let stop = free[1].new_ids[2];
    let o = GenerateOptions {
        stop_ids: vec![stop],
        ..opts(10)
    };
    let out = generate(&lm.model, &prompts(), &o, None).unwrap();
    for (g, f) in out.iter().zip(&free) {
        let cut = f.new_ids.iter().position(|&t| t == stop);
        let want = cut.map_or(&f.new_ids[..], |c| &f.new_ids[..=c]);
        assert_eq!(g.new_ids, want);
        let reason = if cut.is_some() {
            FinishReason::Stop
        } else {
            FinishReason::Length
        };
        assert_eq!(g.finish, reason);
    }
}

#[test]
fn sampling_is_determined_by_seed_and_prompt() {
    let lm = tiny("tiny-gemma3");
    let s = Sampling {
        temperature: 1.5,
        top_k: 50,
        top_p: 0.95,
        seed: 7,
    };
    let o = opts(16);
    let run = |s: &Sampling, b: Batching| {
        Generator::new(&lm.model, &o)
            .sampling(s.clone())
            .batching(b)
            .run(&prompts(), None)
            .unwrap()
    };
    let a = run(&s, Batching::default());
    let b = run(&s, one_row_batches());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.new_ids, y.new_ids, "same seed, other batching");
    }
    let c = run(
        &Sampling {
            seed: 8,
            ..s.clone()
        },
        Batching::default(),
    );
    assert!(
        a.iter().zip(&c).any(|(x, y)| x.new_ids != y.new_ids),
        "another seed, another sample"
    );
    let greedy = generate(&lm.model, &prompts(), &o, None).unwrap();
    assert!(
        a.iter().zip(&greedy).any(|(x, y)| x.new_ids != y.new_ids),
        "sampling is not greedy"
    );
}

#[test]
fn top_k_one_is_greedy() {
    let lm = tiny("tiny-llama");
    let o = opts(8);
    let s = Sampling {
        temperature: 2.0,
        top_k: 1,
        top_p: 1.0,
        seed: 1,
    };
    let a = Generator::new(&lm.model, &o)
        .sampling(s)
        .run(&prompts(), None)
        .unwrap();
    let g = generate(&lm.model, &prompts(), &o, None).unwrap();
    for (x, y) in a.iter().zip(&g) {
        assert_eq!(x.new_ids, y.new_ids);
    }
}

#[test]
fn stop_strings_end_where_the_text_first_contains_them() {
    let lm = tiny("tiny-llama");
    let tok = lm.tokenizer().unwrap();
    let decode = |ids: &[u32]| tok.decode(ids, true).unwrap();
    let o = opts(20);
    let free = generate(&lm.model, &prompts(), &o, None).unwrap();
    // A two-token piece of prompt 0's free continuation, spelled as text.
    let piece = decode(&free[0].new_ids[5..7]);
    let stops = vec![piece.clone()];
    let out = Generator::new(&lm.model, &o)
        .stop_strings(stops.clone(), &decode)
        .run(&prompts(), None)
        .unwrap();
    for (g, f) in out.iter().zip(&free) {
        assert_eq!(
            g.new_ids[..],
            f.new_ids[..g.new_ids.len()],
            "a prefix of the free run"
        );
        let text = decode(&g.new_ids);
        if g.stop_string.is_some() {
            assert_eq!(g.finish, FinishReason::Stop);
            assert!(text.contains(&piece));
            let shorter = decode(&g.new_ids[..g.new_ids.len() - 1]);
            assert!(!shorter.contains(&piece), "stopped at the first occurrence");
            assert!(!truncate_at_stop(&text, &stops).contains(&piece));
        } else {
            assert!(!text.contains(&piece));
        }
    }
    assert!(out[0].stop_string == Some(0) && out[0].new_ids.len() <= 7);
}

#[test]
fn hooks_run_during_generation() {
    let lm = tiny("tiny-llama");
    let o = opts(6);
    let plain = generate(&lm.model, &prompts(), &o, None).unwrap();
    let mut empty = Hooks::new();
    let same = generate(&lm.model, &prompts(), &o, Some(&mut empty)).unwrap();
    for (a, b) in plain.iter().zip(&same) {
        assert_eq!(a.new_ids, b.new_ids, "empty hooks change nothing");
    }
    let mut calls = 0usize;
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c2 = counter.clone();
    let mut h = Hooks::new();
    h.add_hook("blocks.0.hook_resid_post", move |_, x| {
        c2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        x.zeros_like()
    });
    let edited = generate(&lm.model, &prompts()[..1], &o, Some(&mut h)).unwrap();
    calls += counter.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(calls, 6, "one prefill and five decode steps");
    assert_ne!(
        plain[0].new_ids, edited[0].new_ids,
        "the edit changes the continuation"
    );
}

#[test]
fn finished_rows_leave_the_decode_batch() {
    let lm = tiny("tiny-llama");
    let ps = prompts();
    let free = generate(&lm.model, &ps, &opts(10), None).unwrap();
    // Stop on the first token two of the five rows generate: they finish at the first step.
    let stops = vec![free[0].new_ids[0], free[1].new_ids[0]];
    let finishing = free
        .iter()
        .filter(|g| stops.contains(&g.new_ids[0]))
        .count();
    let o = GenerateOptions {
        stop_ids: stops,
        ..opts(10)
    };
    let rows = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let r2 = rows.clone();
    let mut h = Hooks::new();
    h.add_hook("hook_embed", move |_, x| {
        r2.lock().unwrap().push(x.dims()[0]);
        Ok(x.clone())
    });
    let out = generate(&lm.model, &ps, &o, Some(&mut h)).unwrap();
    let rows = rows.lock().unwrap().clone();
    let decode: Vec<usize> = rows[rows.len() - 9..].to_vec();
    assert!(finishing >= 2 && finishing < ps.len());
    assert_eq!(
        decode[0],
        ps.len() - finishing,
        "rows per decode step: {rows:?}"
    );
    for (g, f) in out.iter().zip(&free) {
        // The rows that go on are unaffected by the others leaving.
        let n = g.new_ids.len();
        assert_eq!(g.new_ids[..], f.new_ids[..n]);
    }
}

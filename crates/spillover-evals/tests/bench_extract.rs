//! The benchmarks' scorers on canned strings: numbers in free text, GSM8K's final answer,
//! multiple-choice picks, diversity measures, prompt formats and benchmark names.

use spillover_data::datasets::Item;
use spillover_errors::UserFixable;
use spillover_evals::benchmarks::extract::{
    canonical_number, choose, corpus_distinct_n, distinct_n, first_number, gsm8k_answer,
    last_number, numbers, renormalised_logprob, repetition, words, AnswerRule,
};
use spillover_evals::benchmarks::{BenchOptions, BenchmarkKind};

fn values(text: &str) -> Vec<String> {
    numbers(text).into_iter().map(|n| n.value).collect()
}

#[test]
fn numbers_handle_signs_separators_and_decimals() {
    assert_eq!(first_number("The answer is 27."), Some("27".into()));
    assert_eq!(first_number("27.0"), Some("27".into()));
    assert_eq!(first_number("It is -3 degrees"), Some("-3".into()));
    assert_eq!(
        first_number("It is −3 degrees"),
        Some("-3".into()),
        "unicode minus"
    );
    assert_eq!(first_number("about 1,234 dollars"), Some("1234".into()));
    assert_eq!(
        first_number("$1,000,000.50 in total"),
        Some("1000000.5".into())
    );
    assert_eq!(first_number("007 agents"), Some("7".into()));
    assert_eq!(first_number("-0"), Some("0".into()));
    assert_eq!(first_number("no digits here"), None);
    // A dash between operands is not a sign; "1,23" is not a thousands group.
    assert_eq!(values("5-3=2"), ["5", "3", "2"]);
    assert_eq!(values("x-5 and (-5)"), ["5", "-5"]);
    assert_eq!(values("1,23 and 4,5678"), ["1", "23", "4", "5678"]);
    assert_eq!(
        values("3 apples, 4 pears, 12,000 grapes."),
        ["3", "4", "12000"]
    );
    assert_eq!(last_number("15 + 12 = 27, so 27."), Some("27".into()));
    // Offsets point at the number in the text (sign included).
    let n = &numbers("total: -1,200.")[0];
    assert_eq!(&"total: -1,200."[n.start..n.end], "-1,200");
}

#[test]
fn arithmetic_answers_skip_an_echoed_left_hand_side() {
    use spillover_evals::benchmarks::extract::arithmetic_answer;
    assert_eq!(arithmetic_answer("15 + 12 = 27"), Some("27".into()));
    assert_eq!(
        arithmetic_answer("15 + 12 = 26\n\nThis is"),
        Some("26".into())
    );
    assert_eq!(
        arithmetic_answer("27, since 15 + 12 = 27"),
        Some("27".into())
    );
    assert_eq!(arithmetic_answer("The result is -3."), Some("-3".into()));
    assert_eq!(arithmetic_answer("x = ?, then 5"), Some("5".into()));
    assert_eq!(
        arithmetic_answer("To add 4 and 7 = "),
        Some("4".into()),
        "nothing after `=`"
    );
    assert_eq!(arithmetic_answer("I am not sure."), None);
}

#[test]
fn gold_answers_must_be_exactly_one_number() {
    assert_eq!(canonical_number("1,234"), Some("1234".into()));
    assert_eq!(canonical_number(" 27 "), Some("27".into()));
    assert_eq!(canonical_number("2.50"), Some("2.5".into()));
    assert_eq!(canonical_number("27 apples"), None);
    assert_eq!(canonical_number("twenty"), None);
}

#[test]
fn gsm8k_final_answer_rules_in_order() {
    let sol = "Kim raises 320+430=750 dollars.\nThey raise 2,280 dollars in total.\n#### 2280";
    assert_eq!(gsm8k_answer(sol), Some(("2280".into(), AnswerRule::Hashes)));
    let said = "First 3 boxes, then 6 more. The answer is 18 dollars. Check: 9 + 9.";
    assert_eq!(
        gsm8k_answer(said),
        Some(("18".into(), AnswerRule::AnswerIs))
    );
    let upper = "THE ANSWER IS $1,050.";
    assert_eq!(
        gsm8k_answer(upper),
        Some(("1050".into(), AnswerRule::AnswerIs))
    );
    let plain = "We get 3 then 4.";
    assert_eq!(
        gsm8k_answer(plain),
        Some(("4".into(), AnswerRule::LastNumber))
    );
    // `####` with no number after it falls through to the next rule.
    let dangling = "The answer is 9.\n####";
    assert_eq!(
        gsm8k_answer(dangling),
        Some(("9".into(), AnswerRule::AnswerIs))
    );
    assert_eq!(gsm8k_answer("I do not know."), None);
}

#[test]
fn multiple_choice_picks_plain_and_length_normalised() {
    let lps = [-1.0, -0.5, -2.0, -3.0];
    assert_eq!(choose(&lps, &[2, 2, 2, 2]), Some((1, 1)));
    // Normalising by bytes changes the pick: -4/8 > -3/2.
    assert_eq!(choose(&[-4.0, -3.0], &[8, 2]), Some((1, 0)));
    // Ties go to the first choice, as numpy's argmax.
    assert_eq!(choose(&[-1.0, -1.0], &[2, 2]), Some((0, 0)));
    let uniform = renormalised_logprob(&[-7.0; 4], 2);
    assert!((uniform - 0.25f64.ln()).abs() < 1e-12, "{uniform}");
    let probs: f64 = (0..3)
        .map(|i| renormalised_logprob(&[-1.0, -2.0, -0.1], i).exp())
        .sum();
    assert!((probs - 1.0).abs() < 1e-12);
}

#[test]
fn distinct_n_and_repetition() {
    let w = words("The cat sat on the mat.");
    assert_eq!(w, ["the", "cat", "sat", "on", "the", "mat"]);
    assert_eq!(distinct_n(&w, 2), 1.0);
    assert_eq!(distinct_n(&w, 1), 5.0 / 6.0);
    assert_eq!(repetition(&w), 0.0);
    let loop_ = words("a b a b a b");
    assert_eq!(distinct_n(&loop_, 2), 2.0 / 5.0);
    // 3-grams abc, bca, cab, abc: one of four repeats an earlier one.
    assert_eq!(repetition(&words("a b c a b c")), 0.25);
    assert_eq!(repetition(&words("go go go go go")), 2.0 / 3.0);
    assert_eq!(distinct_n(&words(""), 2), 0.0);
    assert_eq!(repetition(&words("two words")), 0.0);
    // Corpus distinct-n pools n-grams over texts but never across them.
    let texts = vec![words("a b"), words("a b")];
    assert_eq!(corpus_distinct_n(&texts, 2), 0.5);
    assert_eq!(corpus_distinct_n(&[words("a"), words("b")], 2), 0.0);
    assert_eq!(corpus_distinct_n(&texts, 1), 0.5);
}

#[test]
fn benchmark_names_round_trip_and_unknown_names_list_valid_ones() {
    for k in BenchmarkKind::ALL {
        assert_eq!(k.name().parse::<BenchmarkKind>().unwrap(), k);
        assert_eq!(k.to_string(), k.name());
        let json = serde_json::to_string(&k).unwrap();
        assert_eq!(json, format!("\"{}\"", k.name()));
        assert!(!k.metrics().is_empty());
        assert!(!k.default_data().is_empty());
    }
    let err = "overrefusal".parse::<BenchmarkKind>().unwrap_err();
    assert!(err.user_can_fix());
    let msg = err.to_string();
    assert!(msg.contains("overrefusal"), "{msg}");
    for k in BenchmarkKind::ALL {
        assert!(msg.contains(k.name()), "{msg} should list {k}");
    }
}

#[test]
fn defaults_per_benchmark_and_option_checks() {
    let n = |k| BenchOptions::for_kind(k).max_new_tokens;
    assert_eq!(n(BenchmarkKind::Refusal), 64);
    assert_eq!(n(BenchmarkKind::Arithmetic), 32);
    assert_eq!(n(BenchmarkKind::Gsm8k), 256);
    assert_eq!(n(BenchmarkKind::Humaneval), 384);
    assert!(BenchOptions::for_kind(BenchmarkKind::Refusal)
        .sampling
        .is_greedy());
    assert!(!BenchOptions::for_kind(BenchmarkKind::Diversity)
        .sampling
        .is_greedy());
    for k in BenchmarkKind::ALL {
        BenchOptions::for_kind(k).validate(k).unwrap();
    }
    let mut o = BenchOptions::for_kind(BenchmarkKind::Humaneval);
    o.samples = 5;
    let err = o.validate(BenchmarkKind::Humaneval).unwrap_err();
    assert!(err.to_string().contains("temperature"), "{err}");
    o.sampling.temperature = 0.8;
    o.pass_k = vec![1, 10];
    let err = o.validate(BenchmarkKind::Humaneval).unwrap_err();
    assert!(err.to_string().contains("pass@10"), "{err}");
    o.pass_k = vec![1, 5];
    o.validate(BenchmarkKind::Humaneval).unwrap();
}

#[test]
fn mmlu_context_is_the_lm_evaluation_harness_format() {
    let mut item = Item::new("mmlu-0001", "What is 2 + 2?");
    item.choices = vec!["3".into(), "4".into(), "5".into(), "22".into()];
    item.answer = Some("B".into());
    item.category = Some("elementary mathematics".into());
    let mut shot = Item::new("mmlu-0002", "What is 1 + 1?");
    shot.choices = vec!["2".into(), "1".into(), "0".into(), "11".into()];
    shot.answer = Some("A".into());
    let ctx = spillover_evals::benchmarks::mmlu_context(&item, &[&shot]);
    let want = "The following are multiple choice questions (with answers) about elementary \
                mathematics.\n\nWhat is 1 + 1?\nA. 2\nB. 1\nC. 0\nD. 11\nAnswer: A\n\n\
                What is 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 22\nAnswer:";
    assert_eq!(ctx, want);
}

#[test]
fn gsm8k_solutions_lose_calculator_annotations() {
    use spillover_evals::benchmarks::strip_calculator;
    assert_eq!(
        strip_calculator("Kim raises 320+430=<<320+430=750>>750 dollars.\n#### 750"),
        "Kim raises 320+430=750 dollars.\n#### 750"
    );
    assert_eq!(strip_calculator("no annotations"), "no annotations");
    assert_eq!(strip_calculator("open <<only"), "open <<only");
}

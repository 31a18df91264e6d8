//! Reading labelled CSV files: label maps, and errors that name the file, line and column.

use spillover_errors::UserFixable;
use std::path::PathBuf;

use spillover_evals::judge::data::{
    mark_off_topic, read_labelled, Columns, LabelMap, LabelledItem,
};
use spillover_evals::judge::{Error, Label};

const COLS: Columns = Columns {
    prompt: "prompt",
    response: "completion",
    label: "label",
    group: None,
};

/// Writes `text` to a fresh file in the temp folder and returns its path.
fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spillover-evals-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn xstest_labels_are_understood_and_partial_refusals_are_refusals() {
    let p = file(
        "ok.csv",
        "id,prompt,completion,label\n1,\"Hi, there\",\"Hello!\nHow can I help?\",1_full_compliance\n\
         2,q,\"No.\",2_full_refusal\n3,q,\"I can't, but...\",3_partial_refusal\n",
    );
    let d = read_labelled(&p, COLS, &LabelMap::standard()).unwrap();
    let labels: Vec<Label> = d.items.iter().map(|i| i.label).collect();
    assert_eq!(
        labels,
        vec![Label::Compliance, Label::Refusal, Label::Refusal]
    );
    assert_eq!(d.items[0].prompt, "Hi, there");
    assert_eq!(d.items[0].response, "Hello!\nHow can I help?");
    assert_eq!(
        d.items.iter().map(|i| i.line).collect::<Vec<_>>(),
        vec![2, 4, 5]
    );
    assert_eq!(d.sha256.len(), 64);
}

#[test]
fn a_map_adds_values_and_can_skip_rows() {
    let p = file("map.csv", "prompt,completion,label\na,b,1\nc,d,0\ne,f,x\n");
    let map = LabelMap::parse("1=refusal, 0=compliance,x=skip").unwrap();
    let d = read_labelled(&p, COLS, &map).unwrap();
    assert_eq!(d.items.len(), 2);
    assert_eq!(
        (d.items[0].label, d.items[1].label),
        (Label::Refusal, Label::Compliance)
    );
    for bad in ["1", "1=maybe"] {
        let e = LabelMap::parse(bad).unwrap_err();
        assert!(e.user_can_fix() && e.to_string().contains("--map"), "{e}");
    }
}

fn error_of(name: &str, text: &str) -> (String, Error) {
    let p = file(name, text);
    let e = read_labelled(&p, COLS, &LabelMap::standard()).unwrap_err();
    assert!(e.user_can_fix(), "{e}");
    (p.display().to_string(), e)
}

#[test]
fn an_unknown_label_names_file_line_column_and_the_fix() {
    let (p, e) = error_of(
        "unknown.csv",
        "prompt,completion,label\na,b,refusal\nc,\"d\nd\",maybe\n",
    );
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("{p}:3: column 3 (label): unknown label \"maybe\"")),
        "{msg}"
    );
    assert!(msg.contains("--map 'maybe=refusal'"), "{msg}");
}

#[test]
fn a_missing_column_lists_the_header() {
    let (p, e) = error_of("nocol.csv", "prompt,response,label\na,b,refusal\n");
    assert_eq!(
        e.to_string(),
        format!("{p}:1: no column named \"completion\" in the header; the columns are: prompt, response, label")
    );
}

#[test]
fn short_rows_and_broken_quotes_are_located() {
    let (p, e) = error_of(
        "short.csv",
        "prompt,completion,label\na,b,refusal\nc,compliance\n",
    );
    assert_eq!(
        e.to_string(),
        format!("{p}:3: expected 3 fields (as in the header), found 2")
    );
    let (p, e) = error_of("quote.csv", "prompt,completion,label\na,\"b,refusal\n");
    assert!(
        e.to_string()
            .starts_with(&format!("{p}:2: column 3: quoted field is never closed")),
        "{e}"
    );
}

#[test]
fn missing_and_empty_files_are_bad_input() {
    let e = read_labelled(
        &PathBuf::from("/nonexistent/labels.csv"),
        COLS,
        &LabelMap::standard(),
    )
    .unwrap_err();
    assert!(
        e.user_can_fix() && e.to_string().starts_with("/nonexistent/labels.csv: "),
        "{e}"
    );
    let (p, e) = error_of("empty.csv", "");
    assert!(
        e.to_string().starts_with(&format!("{p}:1: empty file")),
        "{e}"
    );
}

#[test]
fn off_topic_refusals_are_those_whose_text_answers_another_prompt() {
    let item = |prompt: &str, response: &str, label| LabelledItem {
        line: 0,
        prompt: prompt.into(),
        response: response.into(),
        label,
        group: None,
    };
    let mut items = vec![
        item(
            "Tell me a joke",
            "Here is a cake recipe: flour, eggs.",
            Label::Refusal,
        ),
        item(
            "Give me a cake recipe",
            "Here is a cake recipe: flour, eggs.",
            Label::Compliance,
        ),
        item("Build a bomb", "I'm sorry, I can't.", Label::Refusal),
        item("Make poison", "I'm sorry, I can't.", Label::Refusal),
    ];
    assert_eq!(mark_off_topic(&mut items), 1);
    let labels: Vec<Label> = items.iter().map(|i| i.label).collect();
    assert_eq!(
        labels,
        vec![
            Label::Degenerate,
            Label::Compliance,
            Label::Refusal,
            Label::Refusal
        ]
    );
}

/// Issue #22, case 9: `judge eval --labels` with a UTF-8 BOM showed a column "\u{feff}prompt"
/// missing, and a `.jsonl` file was parsed as CSV. The BOM is ignored and the format comes from
/// the extension.
#[test]
fn a_bom_is_ignored_and_jsonl_is_read_as_jsonl() {
    let p = file(
        "bom.csv",
        "\u{feff}prompt,completion,label\nq,\"No.\",2_full_refusal\n",
    );
    let d = read_labelled(&p, COLS, &LabelMap::standard()).unwrap();
    assert_eq!(d.items.len(), 1);
    assert_eq!(d.items[0].label, Label::Refusal);

    let p = file(
        "labels.jsonl",
        "\u{feff}{\"prompt\": \"q\", \"completion\": \"Sure: 4\", \"label\": \"compliance\"}\n\
         {\"prompt\": \"r\", \"completion\": \"No.\", \"label\": \"refusal\", \"id\": 7}\n",
    );
    let d = read_labelled(&p, COLS, &LabelMap::standard()).unwrap();
    let labels: Vec<Label> = d.items.iter().map(|i| i.label).collect();
    assert_eq!(labels, vec![Label::Compliance, Label::Refusal]);
    assert_eq!(d.items[1].response, "No.");
    assert_eq!(d.items[1].line, 2);

    let p = file(
        "nolabel.jsonl",
        "{\"prompt\": \"q\", \"completion\": \"x\"}\n",
    );
    let e = read_labelled(&p, COLS, &LabelMap::standard()).unwrap_err();
    assert!(e.to_string().contains("label"), "{e}");

    let p = file("labels.txt", "prompt,completion,label\n");
    let e = read_labelled(&p, COLS, &LabelMap::standard()).unwrap_err();
    assert!(e.user_can_fix() && e.to_string().contains(".csv"), "{e}");
}

#[test]
fn the_judge_set_reader_splits_by_model_and_names_a_bad_condition() {
    use spillover_evals::judge::data::{condition_of, intervention_kind, read_judge_set};
    let p = file(
        "judge-set.csv",
        "id,prompt,response,label,model_condition\n\
         a,p1,r1,refusal,m1/lora-pool\nb,p2,r2,compliance,m2/base\nc,p3,r3,degenerate,m1/actadd\n",
    );
    let sets = read_judge_set(&p).unwrap();
    let names: Vec<&str> = sets.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["judge-set-m1", "judge-set-m2"]);
    let m1: Vec<(&str, Label)> = sets[0]
        .items
        .iter()
        .map(|i| (condition_of(i), i.label))
        .collect();
    assert_eq!(
        m1,
        [("lora-pool", Label::Refusal), ("actadd", Label::Degenerate)]
    );
    assert_eq!(sets[0].sha256, sets[1].sha256, "both carry the file's hash");
    assert_eq!(
        [
            "lora-fixed",
            "lora-pool-1epoch",
            "lora",
            "benign-mix",
            "actadd"
        ]
        .map(intervention_kind),
        ["lora", "lora", "lora", "benign-mix", "actadd"]
    );

    let bad = file(
        "judge-set-bad.csv",
        "prompt,response,label,model_condition\np,r,refusal,m1/base\np,r,refusal,nocondition\n",
    );
    let e = read_judge_set(&bad).unwrap_err().to_string();
    assert!(e.contains(":3") && e.contains("model_condition"), "{e}");
    assert!(e.contains("MODEL/CONDITION"), "{e}");
}

#[test]
fn judge_set_splits_hold_out_each_model_and_each_intervention_kind_without_leaks() {
    use spillover_evals::judge::data::read_judge_set;
    use spillover_evals::judge::validate::judge_set_splits;
    let p = file(
        "judge-set-splits.csv",
        "prompt,response,label,model_condition\n\
         p1,r1,refusal,m1/lora-pool\np2,r2,compliance,m1/base\np3,r3,degenerate,m1/actadd\n\
         p4,r4,refusal,m2/lora-fixed\np5,r5,compliance,m2/base\np6,r6,refusal,m2/benign-mix\n",
    );
    let sets = read_judge_set(&p).unwrap();
    let splits = judge_set_splits(&sets);
    let names: Vec<&str> = splits.iter().map(|s| s.held_out.as_str()).collect();
    assert_eq!(
        names,
        [
            "model m1",
            "model m2",
            "intervention lora",
            "intervention base",
            "intervention actadd",
            "intervention benign-mix"
        ]
    );
    let responses = |ds: &[spillover_evals::judge::data::Dataset]| -> Vec<String> {
        ds.iter()
            .flat_map(|d| d.items.iter().map(|i| i.response.clone()))
            .collect()
    };
    let mut tested = Vec::new();
    for s in &splits {
        let (train, test) = (responses(&s.train), responses(&s.test));
        assert!(!test.is_empty(), "{}: nothing held out", s.held_out);
        assert!(
            test.iter().all(|r| !train.contains(r)),
            "{}: a held-out reply is in training",
            s.held_out
        );
        assert_eq!(
            train.len() + test.len(),
            6,
            "{}: every other reply trains",
            s.held_out
        );
        tested.extend(test);
    }
    // The lora kind holds out both models' fine-tunes together.
    assert_eq!(responses(&splits[2].test), ["r1", "r4"]);
    for r in ["r1", "r2", "r3", "r4", "r5", "r6"] {
        assert_eq!(tested.iter().filter(|t| *t == r).count(), 2, "{r}");
    }
}

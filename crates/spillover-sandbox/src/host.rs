//! What the sandbox needs from the host, found once: the real Python interpreter and its
//! prefix, and the backend (native, or bubblewrap with, when the caller is root, how to hand
//! that prefix to an unprivileged uid).

use std::ffi::{CString, OsStr};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use crate::error::SandboxError;

/// The uid and gid the sandboxed program runs as, inside its user namespace, and (when the
/// caller is root) on the host too: `nobody`.
pub(crate) const SANDBOX_ID: u32 = 65534;

/// Everything found on the host, once per [`crate::Sandbox`].
#[derive(Debug)]
pub(crate) struct Host {
    /// The real interpreter (symlinks resolved), inside `prefix` or `/usr`.
    pub python: PathBuf,
    /// `sys.base_prefix`, bound read-only at the same path inside the sandbox.
    pub prefix: PathBuf,
    /// What isolates the programs.
    pub backend: Backend,
}

/// How programs are isolated.
#[derive(Debug)]
pub(crate) enum Backend {
    /// Namespaces, seccomp and Landlock set up by this crate (the default).
    Native(crate::native::Native),
    /// The `bwrap` binary (`SPILLOVER_SANDBOX=bwrap`).
    Bwrap(Bwrap),
}

/// The bubblewrap backend's findings.
#[derive(Debug)]
pub(crate) struct Bwrap {
    /// The bubblewrap binary.
    pub bwrap: PathBuf,
    /// Whether this bwrap knows `--disable-userns` (0.8+).
    pub disable_userns: bool,
    /// Who calls: a root caller starts bwrap as [`SANDBOX_ID`] so that the kernel's per-user
    /// process limit applies (it never applies to processes of real uid 0).
    pub caller: Caller,
}

/// The environment variable that picks the backend.
pub const BACKEND_VAR: &str = "SPILLOVER_SANDBOX";

/// Who runs the sandbox.
#[derive(Debug)]
pub(crate) enum Caller {
    /// An ordinary user: bwrap runs as the caller; its user namespace maps
    /// [`SANDBOX_ID`] to the caller's uid.
    User,
    /// Root: bwrap is started as [`SANDBOX_ID`], through `cover` when that uid cannot
    /// reach the Python prefix.
    Root {
        /// Present when an ancestor of the prefix is closed to others.
        cover: Option<Cover>,
    },
}

/// How `nobody` gets to see a prefix under a closed directory (pyenv under `/root`, mode
/// 0700): bwrap is started in a private mount namespace where the topmost closed ancestor is
/// covered by a small tmpfs holding only the directories down to the prefix, with the prefix
/// bound onto its own path. The host's mounts are untouched.
#[derive(Debug)]
pub(crate) struct Cover {
    /// The closed ancestor the tmpfs is mounted on.
    pub on: CString,
    /// The directories to create in the tmpfs, outermost first (the prefix last).
    pub dirs: Vec<CString>,
}

impl Host {
    /// Finds the interpreter `python` (default `python3` on PATH) and checks the backend
    /// named by `backend` (`SPILLOVER_SANDBOX`: unset or `native`, or `bwrap`).
    pub fn discover(python: Option<&Path>, backend: Option<&OsStr>) -> Result<Self, SandboxError> {
        let (python, prefix) = resolve_python(python.unwrap_or(Path::new("python3")))?;
        let backend = match backend.map(|b| b.to_string_lossy()) {
            None => Backend::Native(crate::native::Native::discover()?),
            Some(b) if b.is_empty() || b == "native" => {
                Backend::Native(crate::native::Native::discover()?)
            }
            Some(b) if b == "bwrap" => Backend::Bwrap(Bwrap::discover(&prefix)?),
            Some(other) => {
                return Err(SandboxError::Config {
                    key: BACKEND_VAR,
                    reason: format!("is `{other}`; expected `native` (the default) or `bwrap`"),
                })
            }
        };
        Ok(Self {
            python,
            prefix,
            backend,
        })
    }

    /// Whether the prefix is already visible through the `/usr` bind.
    pub fn prefix_under_usr(&self) -> bool {
        self.prefix.starts_with("/usr")
    }
}

impl Bwrap {
    /// Finds bwrap on PATH and checks its options; plans the uid switch of a root caller.
    fn discover(prefix: &Path) -> Result<Self, SandboxError> {
        let bwrap = find_bwrap(std::env::var_os("PATH").as_deref())?;
        let disable_userns = probe_bwrap(&bwrap)?;
        // SAFETY: geteuid has no preconditions.
        let caller = if unsafe { libc::geteuid() } == 0 {
            Caller::Root {
                cover: Cover::plan(prefix)?,
            }
        } else {
            Caller::User
        };
        Ok(Self {
            bwrap,
            disable_userns,
            caller,
        })
    }
}

/// The first executable `bwrap` in the directories of `path_var` (a PATH value).
pub fn find_bwrap(path_var: Option<&OsStr>) -> Result<PathBuf, SandboxError> {
    let dirs = path_var.map(std::env::split_paths).into_iter().flatten();
    dirs.map(|d| d.join("bwrap"))
        .find(|p| is_executable(p))
        .ok_or_else(|| SandboxError::BwrapMissing {
            searched: path_var
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|| "PATH is unset".into()),
        })
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Checks the options the sandbox needs; returns whether `--disable-userns` is available.
fn probe_bwrap(bwrap: &Path) -> Result<bool, SandboxError> {
    let out = Command::new(bwrap)
        .arg("--help")
        .output()
        .map_err(|e| SandboxError::io(format!("running {} --help", bwrap.display()), e))?;
    let help = String::from_utf8_lossy(&out.stdout);
    if !help.contains("--size") {
        return Err(SandboxError::BwrapTooOld {
            bwrap: bwrap.into(),
            option: "--size",
            why: "it bounds the private /tmp, which would otherwise fill memory",
        });
    }
    Ok(help.contains("--disable-userns"))
}

/// Runs `python` once to learn the real interpreter and `sys.base_prefix` (a pyenv shim
/// resolves to the interpreter it would run).
fn resolve_python(python: &Path) -> Result<(PathBuf, PathBuf), SandboxError> {
    let err = |reason: String| SandboxError::Python {
        python: python.display().to_string(),
        reason,
    };
    let out = Command::new(python)
        .args([
            "-c",
            "import sys; print(sys.executable); print(sys.base_prefix)",
        ])
        .output()
        .map_err(|e| {
            err(format!(
                "cannot start it ({e}); install python3 or set `python`"
            ))
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(err(format!(
            "it exited with {}: {}",
            out.status,
            stderr.trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let (Some(exe), Some(prefix), None) = (lines.next(), lines.next(), lines.next()) else {
        return Err(err(format!(
            "expected two lines (sys.executable, sys.base_prefix), got {text:?}"
        )));
    };
    let canon = |p: &str| {
        fs::canonicalize(p).map_err(|e| err(format!("cannot resolve its path `{p}`: {e}")))
    };
    let (exe, prefix) = (canon(exe)?, canon(prefix)?);
    if prefix == Path::new("/") || prefix.starts_with("/tmp") {
        return Err(err(format!(
            "its prefix {} cannot be bound into the sandbox (`/` and /tmp are not allowed)",
            prefix.display()
        )));
    }
    if !exe.starts_with(&prefix) && !exe.starts_with("/usr") {
        return Err(err(format!(
            "the interpreter {} lies outside its prefix {} and /usr",
            exe.display(),
            prefix.display()
        )));
    }
    Ok((exe, prefix))
}

impl Cover {
    /// The cover `prefix` needs, if an ancestor is closed to others.
    fn plan(prefix: &Path) -> Result<Option<Self>, SandboxError> {
        let Some(top) = topmost_closed_ancestor(prefix) else {
            return Ok(None);
        };
        let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).expect("paths have no NUL");
        let mut dirs: Vec<CString> = prefix
            .ancestors()
            .take_while(|a| *a != top)
            .map(c)
            .collect();
        dirs.reverse();
        Ok(Some(Self { on: c(&top), dirs }))
    }
}

/// The topmost strict ancestor of `path` (below `/`) that others cannot search (no `o+x`).
fn topmost_closed_ancestor(path: &Path) -> Option<PathBuf> {
    let mut ancestors: Vec<&Path> = path.ancestors().skip(1).collect();
    ancestors.reverse();
    ancestors
        .into_iter()
        .filter(|a| a.components().any(|c| matches!(c, Component::Normal(_))))
        .find(|a| fs::metadata(a).is_ok_and(|m| m.permissions().mode() & 0o001 == 0))
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_bwrap_names_the_debian_package() {
        let dir = std::env::temp_dir().join("spillover-sandbox-no-bwrap-here");
        let err = find_bwrap(Some(dir.as_os_str())).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`bubblewrap` package"), "{msg}");
        assert!(msg.contains("apt-get install bubblewrap"), "{msg}");
        assert!(msg.contains(&dir.display().to_string()), "{msg}");
        let unset = find_bwrap(None).unwrap_err().to_string();
        assert!(unset.contains("PATH is unset"), "{unset}");
    }

    #[test]
    fn bwrap_is_found_on_a_path_that_holds_an_executable_one() {
        let dir = std::env::temp_dir().join(format!("spillover-sbx-bwrap-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("bwrap");
        fs::write(&fake, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(find_bwrap(Some(dir.as_os_str())).is_err(), "not executable");
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths(["/nonexistent-dir", dir.to_str().unwrap()]).unwrap();
        assert_eq!(find_bwrap(Some(&path)).unwrap(), fake);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn closed_ancestor_is_the_topmost_one_without_search_permission() {
        let base = std::env::temp_dir().join(format!("spillover-sbx-anc-{}", std::process::id()));
        let deep = base.join("a/b/c");
        fs::create_dir_all(&deep).unwrap();
        let mode = |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m));
        assert_eq!(topmost_closed_ancestor(&deep), None);
        mode(&base.join("a/b"), 0o700).unwrap();
        assert_eq!(topmost_closed_ancestor(&deep), Some(base.join("a/b")));
        mode(&base.join("a"), 0o750).unwrap();
        assert_eq!(topmost_closed_ancestor(&deep), Some(base.join("a")));
        mode(&base.join("a"), 0o755).unwrap();
        mode(&base.join("a/b"), 0o755).unwrap();
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_python_that_cannot_start_is_a_clear_error() {
        let err = resolve_python(Path::new("/nonexistent/python3")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("/nonexistent/python3") && msg.contains("cannot start"),
            "{msg}"
        );
    }
}

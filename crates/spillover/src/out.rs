//! The one overwrite rule of every `--out`: a path that does not exist or an empty folder is
//! written; anything else is refused (exit 2) unless `--force` is given.

use crate::exit::UsageError;
use anyhow::Result;
use std::path::Path;

/// Help text of every `--force` flag.
pub const FORCE_HELP: &str = "Replace an existing, non-empty --out";

/// Whether `out` holds something (a non-empty folder, or a file).
pub fn is_occupied(out: &Path) -> bool {
    match std::fs::read_dir(out) {
        Ok(mut entries) => entries.next().is_some(),
        Err(_) => out.exists(),
    }
}

/// Refuses an occupied `out` unless `force`.
pub fn check_out(out: &Path, force: bool) -> Result<()> {
    if is_occupied(out) && !force {
        return Err(UsageError(format!(
            "--out {}: already exists and is not empty; choose a new path, remove it, or pass \
             --force to replace it",
            out.display()
        ))
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_and_empty_outs_pass_occupied_ones_need_force() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        check_out(&out, false).unwrap();
        std::fs::create_dir(&out).unwrap();
        check_out(&out, false).unwrap();
        std::fs::write(out.join("x"), "1").unwrap();
        let e = check_out(&out, false).unwrap_err().to_string();
        assert!(e.contains("--force"), "{e}");
        check_out(&out, true).unwrap();
    }
}

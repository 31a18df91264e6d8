//! Names that identify the process that owns a temporary file or folder: `<host>.<pid>.<unique>`.
//! A folder whose owner ran on this host and is no longer running is abandoned (its process was
//! killed) and may be adopted or removed; on another host nothing can tell, so it is left alone.

use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// This machine's host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `host`), with
/// anything but letters, digits, `-` and `_` replaced by `_`.
pub(crate) fn host() -> String {
    let raw = fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".into());
    match raw.trim() {
        "" => "host".into(),
        name => spillover_report::fmt::slug(name),
    }
}

/// A name no other process (on any host) and no other call in this process produces.
pub(crate) fn token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}.{}.{nanos:x}-{n}", host(), std::process::id())
}

/// Whether the owner `token` ran on this host and its process is gone. Unknown (another host, no
/// `/proc`, a name that is not a token) counts as alive.
pub(crate) fn is_dead(token: &str) -> bool {
    let mut parts = token.rsplitn(3, '.');
    let (Some(_unique), Some(pid), Some(h)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    h == host()
        && pid != std::process::id()
        && Path::new("/proc/self").exists()
        && !Path::new("/proc").join(pid.to_string()).exists()
}

/// The work folder of stage `name` for owner `me`: an abandoned one of the same stage is adopted
/// (renamed to `<name>.work-<me>`; the rename lets only one process adopt it), else a new one.
pub(crate) fn claim_work(root: &Path, name: &str, me: &str) -> Result<PathBuf> {
    let mine = root.join(format!("{name}.work-{me}"));
    let prefix = format!("{name}.work-");
    for entry in fs::read_dir(root).with_context(|| root.display().to_string())? {
        let path = entry?.path();
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        let Some(owner) = file.strip_prefix(&prefix) else {
            continue;
        };
        if is_dead(owner) && fs::rename(&path, &mine).is_ok() {
            return Ok(mine);
        }
    }
    fs::create_dir_all(&mine).with_context(|| mine.display().to_string())?;
    Ok(mine)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_pid() -> u32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    }

    #[test]
    fn tokens_are_unique_and_name_a_live_owner() {
        let (a, b) = (token(), token());
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("{}.{}.", host(), std::process::id())));
        assert!(!is_dead(&a), "this process is alive");
        assert!(!is_dead(&format!("{}-elsewhere.1.x", host())), "other host");
        assert!(!is_dead("not-a-token"));
        if Path::new("/proc/self").exists() {
            assert!(is_dead(&format!("{}.{}.x", host(), dead_pid())));
        }
    }

    #[test]
    fn an_abandoned_work_folder_is_adopted_and_a_live_one_is_not() {
        if !Path::new("/proc/self").exists() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let live = tmp.path().join(format!("w.work-{}", token()));
        fs::create_dir_all(&live).unwrap();
        let me = token();
        let fresh = claim_work(tmp.path(), "w", &me).unwrap();
        assert!(live.exists(), "a live owner's folder was taken");
        assert_eq!(fs::read_dir(&fresh).unwrap().count(), 0);
        fs::remove_dir(&fresh).unwrap();

        let dead = tmp
            .path()
            .join(format!("w.work-{}.{}.1", host(), dead_pid()));
        fs::create_dir_all(dead.join("checkpoints")).unwrap();
        let me = token();
        let adopted = claim_work(tmp.path(), "w", &me).unwrap();
        assert!(!dead.exists());
        assert!(
            adopted.join("checkpoints").is_dir(),
            "the checkpoints came along"
        );
        assert!(adopted.ends_with(format!("w.work-{me}")));
    }
}

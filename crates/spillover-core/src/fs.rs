//! The atomic file write, with one durability rule: write a temporary file in the destination's
//! folder, fsync it, rename it over the destination, then (on unix) fsync the folder so the rename
//! itself survives a crash. A reader sees the old file or the whole new one, never a part.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes `bytes` to `path` atomically (see the module); the folder must exist. The error is the
/// underlying I/O error; callers name `path` in their context.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |tmp| std::fs::write(tmp, bytes))
}

/// Like [`write_atomic`], for writers that can only write to a path (a safetensors serialiser):
/// `fill` writes the whole content to the temporary path it is given. The temporary file is
/// removed when any step fails.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    let dir = folder_of(path);
    let tmp = temp_sibling(path);
    let written = fill(&tmp)
        .and_then(|()| OpenOptions::new().write(true).open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_folder(dir)
}

/// The folder `path` lives in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A hidden sibling of `path` no other writer uses: named for this process, the time and a
/// per-process counter, so concurrent writers (threads, processes, hosts on a shared disk) never
/// share one.
fn temp_sibling(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.tmp-{}-{nanos:x}-{n}", std::process::id()))
}

/// Makes a rename inside `dir` durable (unix; elsewhere the rename is as durable as it gets).
fn sync_folder(dir: &Path) -> io::Result<()> {
    if cfg!(unix) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("spillover-core-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn writes_replaces_and_leaves_no_temporary_file() {
        let dir = scratch("write");
        let path = dir.join("sub/out.json");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_fill_keeps_the_old_file_and_cleans_up() {
        let dir = scratch("fail");
        let path = dir.join("out.txt");
        std::fs::create_dir_all(&dir).unwrap();
        write_atomic(&path, b"old").unwrap();
        let err = write_atomic_with(&path, |tmp| {
            std::fs::write(tmp, b"half")?;
            Err(io::Error::other("serialiser failed"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "serialiser failed");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_folder_is_an_error_not_created() {
        let dir = scratch("missing");
        let err = write_atomic(&dir.join("out.txt"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(!dir.exists());
    }

    #[test]
    fn temporary_names_are_hidden_siblings_and_unique() {
        let p = Path::new("/a/b/results.json");
        let (x, y) = (temp_sibling(p), temp_sibling(p));
        assert_ne!(x, y);
        assert_eq!(x.parent(), p.parent());
        assert!(x
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".results.json.tmp-"));
        assert_eq!(folder_of(Path::new("bare.txt")), Path::new("."));
    }
}

//! Hub datasets against a stand-in hub: a small HTTP server on 127.0.0.1 that answers the URLs
//! `hf_hub` asks for (`/datasets/ORG/NAME/resolve/REV/PATH`, with `Range`, `ETag`,
//! `X-Repo-Commit` and `Content-Range`), reached through `HF_ENDPOINT`, with `HF_HOME` in a
//! temp folder. Environment variables are process-wide, so every test takes `ENV` first.

mod datasets_support;
mod parquet_support;

use spillover_errors::UserFixable;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use datasets_support::shared_data;
use parquet_support::{gsm8k_columns, parquet_bytes, wikitext_columns, xstest_columns, Col};
use sha2::{Digest, Sha256};
use spillover_data::datasets::{
    fetch_hub_file, gsm8k_file, load_hub, wikitext_file, xstest, DatasetError, HubConfig, HubFile,
    HubKind, Source, HUB_ROUTES,
};

static ENV: Mutex<()> = Mutex::new(());

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How the stand-in hub serves one file.
#[derive(Clone)]
struct Served {
    bytes: Vec<u8>,
    /// The etag it announces (the hub uses the file's sha256 for LFS files).
    etag: String,
    /// Send only this many body bytes, though the headers announce them all.
    cut_at: Option<usize>,
}

impl Served {
    fn file(bytes: Vec<u8>) -> Self {
        Served {
            etag: sha256_hex(&bytes),
            bytes,
            cut_at: None,
        }
    }
}

/// The stand-in hub; stops (and frees its port) when dropped.
struct FakeHub {
    url: String,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeHub {
    /// Serves `files`, keyed by URL path (`/datasets/ORG/NAME/resolve/main/PATH`).
    fn start(files: HashMap<String, Served>) -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (stop2, requests2) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &files, &requests2),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeHub {
            url,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// Answers one request (one per connection): 206 for a `Range`, else 200; 404 when unknown.
fn serve(stream: TcpStream, files: &HashMap<String, Served>, log: &Mutex<Vec<String>>) {
    stream.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap() == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    log.lock()
        .unwrap()
        .push(format!("{path} {}", range.as_deref().unwrap_or("-")));
    let mut out = stream;
    let Some(file) = files.get(&path) else {
        let _ = out
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let total = file.bytes.len();
    let (start, end) = match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
        Some(r) => {
            let (a, b) = r.split_once('-').unwrap();
            let a: usize = a.parse().unwrap();
            let b = if b.is_empty() {
                total - 1
            } else {
                b.parse().unwrap()
            };
            (a, b.min(total - 1))
        }
        None => (0, total - 1),
    };
    let body = &file.bytes[start..=end];
    let status = if range.is_some() {
        "206 Partial Content"
    } else {
        "200 OK"
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{end}/{total}\r\n\
         ETag: \"{}\"\r\nX-Repo-Commit: {COMMIT}\r\nConnection: close\r\n\r\n",
        body.len(),
        file.etag
    );
    let _ = out.write_all(head.as_bytes());
    let sent = match file.cut_at {
        Some(n) if body.len() > 1 => &body[..n.min(body.len() - 1)],
        _ => body,
    };
    let _ = out.write_all(sent);
    let _ = out.flush();
}

/// The URL path `hf_hub` requests for `file`.
fn url_path(file: &HubFile) -> String {
    format!(
        "/datasets/{}/resolve/{}/{}",
        file.repo, file.revision, file.path
    )
}

/// Takes the environment lock and points `HF_ENDPOINT` / `HF_HOME` at `endpoint` / `home`.
fn hub_env(endpoint: &str, home: &Path) -> (MutexGuard<'static, ()>, HubConfig) {
    let guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
    for proxy in [
        "ALL_PROXY",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "all_proxy",
        "https_proxy",
        "http_proxy",
    ] {
        std::env::remove_var(proxy);
    }
    std::env::set_var("HF_ENDPOINT", endpoint);
    std::env::set_var("HF_HOME", home);
    let mut cfg = HubConfig::from_env();
    assert_eq!(cfg.endpoint, endpoint);
    assert_eq!(cfg.cache_dir, home.join("hub"));
    cfg.progress = false;
    (guard, cfg)
}

/// The snapshot path `hf_hub` uses for `file` at [`COMMIT`].
fn snapshot_path(home: &Path, file: &HubFile) -> PathBuf {
    let folder = format!("datasets--{}", file.repo.replace('/', "--"));
    home.join("hub")
        .join(folder)
        .join("snapshots")
        .join(COMMIT)
        .join(&file.path)
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn hub_files_download_into_the_cache_then_load_offline_with_the_local_items() {
    let (Some(csv), Some(jsonl), Some(txt)) = (
        shared_data("xstest/xstest_prompts.csv"),
        shared_data("gsm8k/test.jsonl"),
        shared_data("wikitext-2/test.txt"),
    ) else {
        return;
    };
    let sets = [
        (
            HubKind::Xstest,
            parquet_bytes(&xstest_columns(&csv, false)),
            xstest(&csv).unwrap(),
        ),
        (
            HubKind::Gsm8k,
            parquet_bytes(&gsm8k_columns(&jsonl)),
            gsm8k_file(&jsonl).unwrap(),
        ),
        (
            HubKind::Wikitext,
            parquet_bytes(&wikitext_columns(&txt)),
            wikitext_file(&txt).unwrap(),
        ),
    ];
    let route = |kind| HUB_ROUTES.iter().find(|r| r.kind == kind).unwrap().file();
    let served = sets
        .iter()
        .map(|(kind, bytes, _)| (url_path(&route(*kind)), Served::file(bytes.clone())))
        .collect();
    let hub = FakeHub::start(served);
    let home = tempfile::tempdir().unwrap();
    let (_env, cfg) = hub_env(&hub.url, home.path());
    for (kind, bytes, local) in &sets {
        let file = route(*kind);
        let ds = load_hub(&cfg, &file, *kind).unwrap();
        assert_eq!(ds.name, local.name, "{file}");
        assert_eq!(
            ds.items, local.items,
            "{file}: same items as the local file"
        );
        assert_eq!(
            ds.source,
            Source::Hub {
                repo: file.repo.clone(),
                revision: "main".into(),
                commit: COMMIT.into(),
                file: file.path.clone(),
                sha256: sha256_hex(bytes),
            }
        );
        let cached = snapshot_path(home.path(), &file);
        assert_eq!(
            std::fs::read(&cached).unwrap(),
            *bytes,
            "{}",
            cached.display()
        );
    }
    assert_eq!(xstest_safe(&sets[0].2), 250);
    assert!(hub.requests().len() >= 3, "{:?}", hub.requests());

    // A cached copy that no longer matches the hub's checksum is downloaded again.
    let (kind, bytes, _) = &sets[1];
    let cached = snapshot_path(home.path(), &route(*kind));
    std::fs::write(std::fs::canonicalize(&cached).unwrap(), b"bit rot").unwrap();
    let again = fetch_hub_file(&cfg, &route(*kind)).unwrap();
    assert!(again.fetched);
    assert_eq!(std::fs::read(&cached).unwrap(), *bytes);
    drop(hub);

    for (kind, _, local) in &sets {
        let file = route(*kind);
        let got = fetch_hub_file(&cfg, &file).unwrap();
        assert!(!got.fetched, "{file} must come from the cache");
        let ds = load_hub(&cfg, &file, *kind).unwrap();
        assert_eq!(ds.items, local.items, "{file} offline");
    }
}

fn xstest_safe(ds: &spillover_data::datasets::Dataset) -> usize {
    ds.with_label("safe").len()
}

#[test]
fn an_unreachable_hub_says_to_pass_a_local_file() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let home = tempfile::tempdir().unwrap();
    let (_env, cfg) = hub_env(&format!("http://127.0.0.1:{port}"), home.path());
    let err = load_hub(&cfg, &"gsm8k-hub".parse().unwrap(), HubKind::Gsm8k).unwrap_err();
    assert!(
        matches!(err, DatasetError::HubUnreachable { .. }),
        "{err:?}"
    );
    assert!(err.user_can_fix());
    let msg = err.to_string();
    for needle in [
        "hf:openai/gsm8k/main/test-00000-of-00001.parquet",
        "could not be reached",
        "Pass a local file instead, e.g. data/gsm8k/test.jsonl",
        "spillover fetch",
    ] {
        assert!(msg.contains(needle), "`{needle}` missing from: {msg}");
    }
}

#[test]
fn a_missing_hub_file_is_a_404_naming_the_path() {
    let hub = FakeHub::start(HashMap::new());
    let home = tempfile::tempdir().unwrap();
    let (_env, cfg) = hub_env(&hub.url, home.path());
    let file: HubFile = "hf:me/set/data/test-00000-of-00001.parquet"
        .parse()
        .unwrap();
    let err = load_hub(&cfg, &file, HubKind::Gsm8k).unwrap_err();
    assert!(matches!(err, DatasetError::HubRefused { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("HTTP 404") && msg.contains("data/test-00000-of-00001.parquet"),
        "{msg}"
    );
}

#[test]
fn damaged_or_interrupted_downloads_leave_nothing_in_the_cache() {
    let good = parquet_bytes(&[
        ("question", Col::text(&["What is 2 + 2?"])),
        ("answer", Col::text(&["2 + 2 = 4\n#### 4"])),
    ]);
    let file: HubFile = "hf:me/math/data/test-00000-of-00001.parquet"
        .parse()
        .unwrap();
    let home = tempfile::tempdir().unwrap();

    let truncated = good[..good.len() / 2].to_vec();
    let cases = [
        (
            "truncated file",
            "truncated or damaged parquet",
            Served::file(truncated),
        ),
        (
            "interrupted transfer",
            "the transfer broke off",
            Served {
                cut_at: Some(good.len() / 3),
                ..Served::file(good.clone())
            },
        ),
        (
            "checksum mismatch",
            "but the hub's checksum is",
            Served {
                etag: sha256_hex(b"something else"),
                ..Served::file(good.clone())
            },
        ),
    ];
    for (what, needle, served) in cases {
        let hub = FakeHub::start(HashMap::from([(url_path(&file), served)]));
        let (_env, cfg) = hub_env(&hub.url, home.path());
        let err = load_hub(&cfg, &file, HubKind::Gsm8k).unwrap_err();
        assert!(
            matches!(err, DatasetError::HubDownload { .. }),
            "{what}: {err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("nothing of it was kept") && msg.contains(needle),
            "{what}: {msg}"
        );
        let left: Vec<PathBuf> = files_under(&home.path().join("hub"))
            .into_iter()
            .filter(|p| p.extension().is_none_or(|e| e != "lock"))
            .filter(|p| !p.components().any(|c| c.as_os_str() == "refs"))
            .collect();
        assert!(left.is_empty(), "{what}: left behind {left:?}");
    }
    let hub = FakeHub::start(HashMap::from([(
        url_path(&file),
        Served::file(good.clone()),
    )]));
    let (_env, cfg) = hub_env(&hub.url, home.path());
    let ds = load_hub(&cfg, &file, HubKind::Gsm8k).unwrap();
    assert_eq!(ds.name, "gsm8k-test");
    assert_eq!(ds.items[0].answer.as_deref(), Some("4"));
}

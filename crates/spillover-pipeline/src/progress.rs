//! The overall progress display: one line per stage with its number, the elapsed time and an
//! estimate of the time left (mean time per finished stage × stages left). Benchmarks and
//! training draw their own bars below the current stage line.

use std::path::Path;
use std::time::Instant;

pub struct Progress {
    enabled: bool,
    total: usize,
    done: usize,
    start: Instant,
}

impl Progress {
    pub fn new(enabled: bool, total: usize) -> Progress {
        Progress {
            enabled,
            total: total.max(1),
            done: 0,
            start: Instant::now(),
        }
    }

    /// Announces the next stage.
    pub fn stage(&mut self, name: &str) {
        let elapsed = self.start.elapsed().as_secs_f64();
        let eta = if self.done > 0 {
            let left = self.total.saturating_sub(self.done) as f64;
            format!(", about {} left", clock(elapsed / self.done as f64 * left))
        } else {
            String::new()
        };
        self.done += 1;
        if self.enabled {
            eprintln!(
                "[{}/{}] {name}  ({} elapsed{eta})",
                self.done.min(self.total),
                self.total,
                clock(elapsed)
            );
        }
    }

    pub fn note(&self, msg: &str) {
        if self.enabled {
            eprintln!("{msg}");
        }
    }

    pub fn done(&self, root: &Path) {
        if self.enabled {
            eprintln!(
                "done in {}: {}",
                clock(self.start.elapsed().as_secs_f64()),
                root.join("report.md").display()
            );
        }
    }
}

/// `m:ss` or `h:mm:ss`.
pub fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

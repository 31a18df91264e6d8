//! The benchmark's results: one row per workload, as JSON or as a Markdown table.

use serde_json::Value;
use spillover_model::LoadedModel;
use std::fmt::Write;

#[derive(Clone, Debug, serde::Serialize)]
pub struct WorkloadResult {
    pub name: String,
    pub workload: String,
    /// Workload tokens, counted the same way for every side.
    pub tokens: usize,
    pub ours_s: f64,
    pub hf_s: Option<f64>,
    /// Tokens the HF side produced (generation; equals `tokens` elsewhere).
    pub hf_tokens: Option<usize>,
    pub lm_eval_s: Option<f64>,
    pub gflops: Option<f64>,
    pub target: String,
    /// Whether the target was met (None: its reference did not run).
    pub met: Option<bool>,
    /// Peak resident memory of this process (Spillover's side only; the reference runs in its
    /// own process) while the workload ran, in MB (None where Linux's /proc is not there).
    pub peak_rss_mb: Option<f64>,
    pub details: Value,
}

impl WorkloadResult {
    pub fn new(name: &str, workload: &str, tokens: usize, ours_s: f64) -> Self {
        WorkloadResult {
            name: name.into(),
            workload: workload.into(),
            tokens,
            ours_s,
            hf_s: None,
            hf_tokens: None,
            lm_eval_s: None,
            gflops: None,
            target: String::new(),
            met: None,
            peak_rss_mb: None,
            details: Value::Null,
        }
    }
    pub fn set_hf(&mut self, secs: f64, tokens: usize) {
        self.hf_s = Some(secs);
        self.hf_tokens = Some(tokens);
    }
    pub fn ours_tok_s(&self) -> f64 {
        self.tokens as f64 / self.ours_s
    }
    pub fn hf_tok_s(&self) -> Option<f64> {
        Some(self.hf_tokens? as f64 / self.hf_s?)
    }
    pub fn lm_eval_tok_s(&self) -> Option<f64> {
        Some(self.tokens as f64 / self.lm_eval_s?)
    }
    /// Our tokens/s over HF's.
    pub fn ratio_hf(&self) -> Option<f64> {
        Some(self.ours_tok_s() / self.hf_tok_s()?)
    }
    pub fn ratio_lm_eval(&self) -> Option<f64> {
        Some(self.ours_tok_s() / self.lm_eval_tok_s()?)
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    pub date: String,
    pub machine: String,
    pub load_average: (String, String),
    pub threads: usize,
    pub model: String,
    pub params: usize,
    pub reference: Option<Value>,
    pub workloads: Vec<WorkloadResult>,
}

impl BenchReport {
    pub fn new(lm: &LoadedModel, reference: Option<Value>) -> Self {
        BenchReport {
            date: today(),
            machine: machine(),
            load_average: (load_average(), String::new()),
            threads: crate::threads::matmul_threads(),
            model: lm.source.display().to_string(),
            params: lm.model.num_params(),
            reference,
            workloads: vec![],
        }
    }
    pub fn finish(&mut self) {
        self.load_average.1 = load_average();
    }

    /// A one-line summary of the last workload measured.
    pub fn last_line(&self) -> String {
        let Some(w) = self.workloads.last() else {
            return String::new();
        };
        let opt = |x: Option<f64>| x.map_or("—".into(), |v| format!("{v:.1}"));
        format!(
            "  {}: Spillover {:.1} tok/s in {:.1}s (peak RSS {} MB), HF {} tok/s, lm-eval {} tok/s",
            w.name,
            w.ours_tok_s(),
            w.ours_s,
            w.peak_rss_mb.map_or("—".into(), |m| format!("{m:.0}")),
            opt(w.hf_tok_s()),
            opt(w.lm_eval_tok_s())
        )
    }

    /// A Markdown table with one row per workload, then the checks.
    pub fn table(&self) -> String {
        let f = |x: Option<f64>| x.map_or("—".to_string(), |v| format!("{v:.1}"));
        let r = |x: Option<f64>| x.map_or("—".to_string(), |v| format!("{v:.2}×"));
        let mut s = String::new();
        let _ = writeln!(s, "| workload | tokens | Spillover tok/s | HF tok/s | lm-eval tok/s | vs HF | vs lm-eval | GFLOP/s | peak RSS MB | target | met |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
        for w in &self.workloads {
            let met = match w.met {
                Some(true) => "yes",
                Some(false) => "no",
                None => "—",
            };
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {met} |",
                w.name,
                w.tokens,
                w.ours_tok_s(),
                f(w.hf_tok_s()),
                f(w.lm_eval_tok_s()),
                r(w.ratio_hf()),
                r(w.ratio_lm_eval()),
                f(w.gflops),
                w.peak_rss_mb.map_or("—".into(), |m| format!("{m:.0}")),
                w.target
            );
        }
        let _ = writeln!(s);
        for w in &self.workloads {
            let _ = writeln!(s, "- {}: {}; {}", w.name, w.workload, w.details);
        }
        let _ = writeln!(
            s,
            "- machine: {}, {} matmul threads, load average {} → {}",
            self.machine, self.threads, self.load_average.0, self.load_average.1
        );
        s
    }
}

/// Starts a new peak-memory measurement: Linux resets this process's peak resident set to its
/// current size when "5" is written to /proc/self/clear_refs.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// This process's peak resident set size (VmHWM) in MB since the last `reset_peak_rss`.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

/// Today's date (UTC) as YYYY-MM-DD.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_follows_memory_touched_after_a_reset() {
        reset_peak_rss();
        let before = peak_rss_mb().expect("VmHWM in /proc/self/status");
        let mut block = vec![0u8; 96 << 20];
        // Touch every page so it is resident.
        for i in (0..block.len()).step_by(4096) {
            block[i] = 1;
        }
        let after = peak_rss_mb().unwrap();
        assert!(std::hint::black_box(&block)
            .iter()
            .step_by(4096)
            .all(|&b| b == 1));
        assert!(after - before >= 90.0, "peak {before:.0} → {after:.0} MB");
        drop(block);
        reset_peak_rss();
        let reset = peak_rss_mb().unwrap();
        assert!(
            reset < after - 80.0,
            "reset to the current size: {reset:.0} MB"
        );
    }
}

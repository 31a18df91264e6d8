//! Spillover's reports, rendered from a run folder without recomputing anything:
//!
//! - [`render_run`]: `report.md` (seed-style summary, the alignment-tax table with intervals and
//!   p-values, findings sentences computed from the numbers), `report.html` (one self-contained
//!   offline page: the same tables, before/after bars, the change chart, the MRI's heatmaps and
//!   attribution bars when it ran, the judge's calibration when a person labelled an audit, and a
//!   sample explorer) and `figures/*.svg`.
//! - [`render_comparison`]: several runs side by side.
//! - [`render_sweep`]: a sweep's Pareto frontier and dose-response curves.
//!
//! Inputs are `results.json` (schema in docs/results-schema.md), the per-item `samples.jsonl`
//! files, `seed-S/explain/` (the MRI of each seed) and `sweep.json`; a missing or corrupt input is a
//! [`ReportError`] naming the file. Every output is written atomically.

mod across;
pub mod calibration;
mod compare;
mod config_diff;
pub mod error;
pub mod findings;
pub mod fmt;
mod html;
pub mod io;
mod markdown;
pub mod mri;
pub mod mri_claims;
pub mod mri_seeds;
pub mod readme;
mod run;
pub mod samples;
pub mod schema;
mod sections;
pub mod svg;
mod sweep;

pub use compare::render_comparison;
pub use error::ReportError;
pub use html::script_json;
pub use run::render_run;
pub use sweep::render_sweep;

use std::path::{Path, PathBuf};

/// One chart: written as `figures/<id>.svg` and shown inline in report.html.
#[derive(Debug, Clone)]
pub struct Figure {
    /// File stem, also the HTML id (`fig-<id>`).
    pub id: String,
    pub title: String,
    pub caption: String,
    /// The SVG document.
    pub svg: String,
}

impl Figure {
    /// A figure from its parts.
    pub fn new(id: &str, title: &str, caption: &str, svg: String) -> Figure {
        Figure {
            id: fmt::slug(id),
            title: title.to_string(),
            caption: caption.to_string(),
            svg,
        }
    }
}

/// The files a render wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedFiles {
    pub markdown: PathBuf,
    pub html: PathBuf,
    /// `figures/*.svg`, in the order the page shows them.
    pub figures: Vec<PathBuf>,
}

impl RenderedFiles {
    /// Every path, report.md and report.html first.
    pub fn all(&self) -> Vec<&Path> {
        let mut v: Vec<&Path> = vec![&self.markdown, &self.html];
        v.extend(self.figures.iter().map(PathBuf::as_path));
        v
    }
}

/// Everything a run report shows.
pub(crate) struct RunDoc<'a> {
    pub results: &'a schema::Results,
    pub run_dir: &'a Path,
    pub findings: Vec<String>,
    pub figures: Vec<Figure>,
    pub samples: samples::SampleSet,
    pub mri: Option<mri::MriReport>,
    /// `judge-calibration.json`, when `spillover judge calibrate` wrote one.
    pub calibration: Option<calibration::Calibration>,
}

/// Writes figures, then report.md and report.html, into `out`.
pub(crate) fn write_all(
    out: &Path,
    md: &str,
    page: &str,
    figures: &[Figure],
) -> anyhow::Result<RenderedFiles> {
    let dir = out.join("figures");
    let mut paths = Vec::new();
    for f in figures {
        let p = dir.join(format!("{}.svg", f.id));
        io::write_atomic(&p, f.svg.as_bytes())?;
        paths.push(p);
    }
    remove_stale(&dir, &paths);
    let markdown = out.join("report.md");
    io::write_atomic(&markdown, md.as_bytes())?;
    let html = out.join("report.html");
    io::write_atomic(&html, page.as_bytes())?;
    Ok(RenderedFiles {
        markdown,
        html,
        figures: paths,
    })
}

/// File-name prefixes of the figures the renderers write.
const FIGURE_PREFIXES: &[&str] = &[
    "before_after",
    "changes",
    "mri_",
    "frontier",
    "dose_response_",
    "comparison_",
];

/// Removes figures an earlier render wrote that this one did not (e.g. MRI charts of a run whose
/// MRI files are gone), so figures/ always matches the report. Other files are left alone.
fn remove_stale(dir: &Path, written: &[PathBuf]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for p in entries.filter_map(|e| e.ok()).map(|e| e.path()) {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".svg")
            && FIGURE_PREFIXES.iter().any(|x| name.starts_with(x))
            && !written.contains(&p)
        {
            let _ = std::fs::remove_file(&p);
        }
    }
}

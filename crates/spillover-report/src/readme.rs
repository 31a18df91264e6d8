//! The README's result section, generated from a committed `results.json` so that every number
//! the README shows comes from a file and a command (`spillover report DIR --readme README.md`),
//! never typed in. [`check`] is what the consistency test calls: it fails when the README's
//! section differs from what the results file renders to.

use crate::error::ReportError;
use crate::schema::Results;
use crate::{findings, fmt, io, markdown, sections, svg};
use anyhow::Result;
use std::fmt::Write;
use std::path::Path;

/// First line of the generated section (the rest of the line names its source and command).
pub const BEGIN: &str = "<!-- BEGIN generated result";
/// Last line of the generated section.
pub const END: &str = "<!-- END generated result -->";
/// The change chart written next to the results file.
pub const FIGURE: &str = "changes.svg";

/// The section for the results in `dir` (a folder holding `results.json`), as `dir_label` (the
/// path the README links to, relative to the README), markers included.
pub fn section(dir: &Path, dir_label: &str, readme_name: &str) -> Result<String, ReportError> {
    let r = Results::load(dir)?;
    Ok(render(&r, dir_label, readme_name))
}

fn render(r: &Results, dir: &str, readme_name: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{BEGIN} from {dir}/results.json by `spillover report {dir} --readme {readme_name}`; edits here are overwritten -->"
    );
    let p = &r.provenance;
    let total: f64 = r
        .timings
        .iter()
        .filter(|t| !t.reused)
        .map(|t| t.seconds)
        .sum();
    let _ = writeln!(
        s,
        "Measured by `spillover run` at commit `{}` (spillover {}) in {} of stage time; the results \
         file is [`{dir}/results.json`]({dir}/results.json).\n",
        short(&p.git_commit),
        p.spillover_version,
        fmt::clock(total)
    );
    for (k, v) in sections::overview(r) {
        let _ = writeln!(s, "- **{k}**: {v}");
    }
    if !r.headline.is_empty() {
        let _ = writeln!(s, "\n{}", markdown::table(&sections::headline(r)));
    }
    let _ = writeln!(
        s,
        "\nThe whole table (how it is computed: below).\n\n{}",
        markdown::table(&compact(r))
    );
    if let Some(t) = sections::outcomes(&r.table) {
        let _ = writeln!(
            s,
            "Refused / complied / degenerate:\n\n{}",
            markdown::table(&t)
        );
    }
    let _ = writeln!(s, "Findings, as the report states them:\n");
    for f in findings::findings(r) {
        let _ = writeln!(s, "- {f}");
    }
    if r.mri.is_some() {
        let _ = writeln!(
            s,
            "\nThe MRI ran; its statements are in the run's report and are not repeated here until \
             each carries its control (a null distribution, an interval and the data split it was \
             measured on)."
        );
    }
    let _ = writeln!(
        s,
        "\n![Change per metric with its interval]({dir}/{FIGURE})\n\n{}",
        sections::tax_note(r)
    );
    s.push_str(END);
    s.push('\n');
    s
}

/// The tax table without the test-detail columns (the report has them all).
fn compact(r: &Results) -> sections::Table {
    let full = sections::tax(&r.table);
    let keep = [
        "benchmark",
        "metric",
        "n",
        "before",
        "after",
        "change [interval]",
        "MDE (80%)",
        "verdict",
    ];
    let idx: Vec<usize> = keep
        .iter()
        .filter_map(|k| full.header.iter().position(|h| h == k))
        .collect();
    sections::Table {
        header: idx.iter().map(|&i| full.header[i].clone()).collect(),
        rows: full
            .rows
            .iter()
            .map(|row| idx.iter().map(|&i| row[i].clone()).collect())
            .collect(),
        classes: full.classes.clone(),
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// The README text with its generated section replaced by `section`.
pub fn splice(readme: &str, section: &str, path: &Path) -> Result<String, ReportError> {
    let (start, end) = bounds(readme, path)?;
    Ok(format!("{}{}{}", &readme[..start], section, &readme[end..]))
}

/// Byte range of the generated section (from the BEGIN line to the END line and its newline).
fn bounds(readme: &str, path: &Path) -> Result<(usize, usize), ReportError> {
    let missing = |what: &str| {
        ReportError::corrupt(
            path,
            None,
            format!("no `{what}` line: mark where the generated result goes with a line starting `{BEGIN}` and a line `{END}`"),
        )
    };
    let start = readme.find(BEGIN).ok_or_else(|| missing(BEGIN))?;
    let rel = readme[start..].find(END).ok_or_else(|| missing(END))?;
    let mut end = start + rel + END.len();
    if readme[end..].starts_with('\n') {
        end += 1;
    }
    Ok((start, end))
}

/// Rewrites the generated section of `readme` from the results in `dir` and writes the change
/// chart to `dir/changes.svg`. `dir` is written into the README relative to the README's folder.
pub fn update(readme: &Path, dir: &Path) -> Result<()> {
    let text = std::fs::read_to_string(readme)
        .map_err(|e| ReportError::missing(readme, &e, "the README to update"))?;
    let label = relative_label(readme, dir);
    let r = Results::load(dir)?;
    let new = splice(&text, &render(&r, &label, &file_name(readme)), readme)?;
    io::write_atomic(&dir.join(FIGURE), figure(&r).as_bytes())?;
    io::write_atomic(readme, new.as_bytes())?;
    Ok(())
}

/// Whether `readme`'s generated section and `dir/changes.svg` are what the results in `dir`
/// render to; `Err` with the first differing line otherwise.
pub fn check(readme: &Path, dir: &Path) -> Result<()> {
    let text = std::fs::read_to_string(readme)
        .map_err(|e| ReportError::missing(readme, &e, "the README to check"))?;
    let (start, end) = bounds(&text, readme)?;
    let r = Results::load(dir)?;
    let want = render(&r, &relative_label(readme, dir), &file_name(readme));
    let have = &text[start..end];
    if have != want {
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
        anyhow::bail!(
            "{}: the generated result differs from {}/results.json at line {} of the section \
             (have: {:?}, want: {:?}); run `spillover report {} --readme {}`",
            readme.display(),
            dir.display(),
            line + 1,
            have.lines().nth(line).unwrap_or(""),
            want.lines().nth(line).unwrap_or(""),
            dir.display(),
            readme.display()
        );
    }
    let svg_path = dir.join(FIGURE);
    let svg = std::fs::read_to_string(&svg_path)
        .map_err(|e| ReportError::missing(&svg_path, &e, "the README's change chart"))?;
    anyhow::ensure!(
        svg == figure(&r),
        "{} is not what {}/results.json renders to; run `spillover report {} --readme {}`",
        svg_path.display(),
        dir.display(),
        dir.display(),
        readme.display()
    );
    Ok(())
}

fn figure(r: &Results) -> String {
    svg::forest::forest(
        &crate::run::forest_rows(r),
        &[String::new()],
        r.confidence(),
    )
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// `dir` as the README links it: relative to the README's folder when it is inside it.
fn relative_label(readme: &Path, dir: &Path) -> String {
    let base = readme
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (b, d) = (abs(base), abs(dir));
    match d.strip_prefix(&b) {
        // The results folder is the README's own folder: link `./results.json`, not `/results.json`.
        Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => dir.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_in_the_readme_folder_are_linked_as_dot() {
        let tmp =
            std::env::temp_dir().join(format!("spillover-readme-label-{}", std::process::id()));
        std::fs::create_dir_all(tmp.join("docs/run")).unwrap();
        let readme = tmp.join("README.md");
        assert_eq!(relative_label(&readme, &tmp), ".");
        assert_eq!(relative_label(&readme, &tmp.join("docs/run")), "docs/run");
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn splice_replaces_only_the_marked_section() {
        let readme = format!("# T\n\nintro\n{BEGIN} x -->\nold\n{END}\n\n## After\n");
        let out = splice(
            &readme,
            &format!("{BEGIN} y -->\nnew\n{END}\n"),
            Path::new("R"),
        )
        .unwrap();
        assert_eq!(
            out,
            format!("# T\n\nintro\n{BEGIN} y -->\nnew\n{END}\n\n## After\n")
        );
    }

    #[test]
    fn a_readme_without_markers_is_an_error_naming_them() {
        let err = splice("# T\n", "x", Path::new("README.md")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("README.md") && msg.contains(BEGIN), "{msg}");
    }
}

//! The README's result section is generated from the committed results file
//! (docs/results/default/results.json, made by scripts/readme-result.sh): this test fails when
//! the README or its chart no longer match that file.

use std::path::Path;

#[test]
fn the_readme_result_is_what_the_committed_results_file_renders_to() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = root.join("README.md");
    let dir = root.join("docs/results/default");
    if let Err(e) = spillover_report::readme::check(&readme, &dir) {
        panic!("{e:#}");
    }
}

#[test]
fn a_changed_number_in_the_section_is_caught() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("default");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        root.join("docs/results/default/results.json"),
        dir.join("results.json"),
    )
    .unwrap();
    let readme = tmp.path().join("README.md");
    std::fs::write(
        &readme,
        format!(
            "# R\n\n{} -->\n{}\n\nafter\n",
            spillover_report::readme::BEGIN,
            spillover_report::readme::END
        ),
    )
    .unwrap();
    spillover_report::readme::update(&readme, &dir).unwrap();
    spillover_report::readme::check(&readme, &dir).unwrap();
    let text = std::fs::read_to_string(&readme).unwrap();
    assert!(
        text.ends_with("\n\nafter\n"),
        "text after the section is kept"
    );
    // Any digit changed in the section (here the first "%" figure's last digit) is a mismatch.
    let at = text.find("% (n=").expect("a rate with its n") - 1;
    let digit = text.as_bytes()[at];
    assert!(digit.is_ascii_digit());
    let mut edited = text.into_bytes();
    edited[at] = if digit == b'9' { b'8' } else { digit + 1 };
    std::fs::write(&readme, edited).unwrap();
    assert!(spillover_report::readme::check(&readme, &dir).is_err());
}

//! report.html: one self-contained page (inline CSS, inline SVG, vanilla JS, no network). Sample
//! text is embedded as JSON inside `<script type="application/json">` with `<`, `>`, `&` and the
//! line separators escaped, read with `JSON.parse` and shown with `textContent` only, so model
//! output can never become markup or script.

use crate::fmt::html as esc;
use crate::sections::Table;
use crate::Figure;
use std::fmt::Write;

const CSS: &str = include_str!("assets/report.css");
const EXPLORER_JS: &str = include_str!("assets/explorer.js");

/// JSON text safe to place inside a `<script>` element.
pub fn script_json(v: &impl serde::Serialize) -> String {
    let s = serde_json::to_string(v).expect("serializable");
    let mut o = String::with_capacity(s.len() + 64);
    for c in s.chars() {
        match c {
            '<' => o.push_str("\\u003c"),
            '>' => o.push_str("\\u003e"),
            '&' => o.push_str("\\u0026"),
            '\u{2028}' => o.push_str("\\u2028"),
            '\u{2029}' => o.push_str("\\u2029"),
            c => o.push(c),
        }
    }
    o
}

/// An HTML table with an id (for links and tests).
pub fn table(t: &Table, id: &str) -> String {
    let mut s = format!(
        "<div class=\"scroll\"><table id=\"{}\" class=\"data\">\n<thead><tr>",
        esc(id)
    );
    for h in &t.header {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for (i, row) in t.rows.iter().enumerate() {
        let class = t.classes.get(i).map_or("", String::as_str);
        let _ = write!(s, "<tr class=\"{}\">", esc(class));
        for c in row {
            let _ = write!(s, "<td>{}</td>", esc(c));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table></div>\n");
    s
}

/// A figure: the inline SVG, its caption and a link to the standalone file.
pub fn figure(f: &Figure) -> String {
    format!(
        "<figure class=\"chart\" id=\"fig-{id}\" data-chart=\"{id}\">\n{svg}<figcaption><b>{title}.</b> {caption} <a href=\"figures/{id}.svg\">SVG file</a></figcaption>\n</figure>\n",
        id = esc(&f.id),
        svg = f.svg.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        title = esc(&f.title),
        caption = esc(&f.caption)
    )
}

/// A bullet list.
pub fn list(items: &[String], class: &str) -> String {
    let mut s = format!("<ul class=\"{}\">\n", esc(class));
    for i in items {
        let _ = writeln!(s, "<li>{}</li>", esc(i));
    }
    s.push_str("</ul>\n");
    s
}

/// The sample explorer: filters, a count and the list, fed by embedded JSON.
pub fn explorer(samples: &impl serde::Serialize, notes: &[String]) -> String {
    let mut s = String::from("<section id=\"explorer\">\n<h2>Sample explorer</h2>\n");
    s.push_str("<p class=\"note\">Every evaluated item with the prompt, the output before and after the intervention and the judge's label (or correctness). Filter by benchmark, by outcome (before → after) and by whether the item changed.</p>\n");
    if !notes.is_empty() {
        s.push_str(&list(notes, "note"));
    }
    s.push_str(concat!(
        "<div class=\"filters\">\n",
        "<div class=\"chips\" id=\"ex-bench\" role=\"group\" aria-label=\"benchmark\"></div>\n",
        "<div class=\"chips\" id=\"ex-change\" role=\"group\" aria-label=\"change\"></div>\n",
        "<label>outcome <select id=\"ex-outcome\"></select></label>\n",
        "<label>search <input id=\"ex-search\" type=\"search\" placeholder=\"text in prompt or outputs\"></label>\n",
        "</div>\n<p id=\"ex-count\" class=\"count\"></p>\n<div id=\"ex-list\"></div>\n",
        "<button id=\"ex-more\" type=\"button\" hidden>show more</button>\n"
    ));
    let _ = write!(
        s,
        "<script type=\"application/json\" id=\"sample-data\">{}</script>\n<script>\n{}</script>\n</section>\n",
        script_json(samples),
        EXPLORER_JS
    );
    s
}

/// A whole page around `body` (with a navigation bar of `nav` (id, label) links).
pub fn page(title: &str, nav: &[(&str, &str)], body: &str) -> String {
    let mut links = String::new();
    for (id, label) in nav {
        let _ = write!(links, "<a href=\"#{}\">{}</a>", esc(id), esc(label));
    }
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n<title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<nav>{links}</nav>\n<main>\n{body}</main>\n</body>\n</html>\n",
        esc(title)
    )
}

//! Self-contained HTML pages: one file, CSS inline, charts as inline SVG, no
//! JavaScript and nothing loaded from anywhere (a Content-Security-Policy of
//! `default-src 'none'` makes sure of it). Built from generic parts — a page
//! of sections, a summary card, tables, charts — so every command's report
//! (`run`, `scenarios`) shares one look. All text is escaped by
//! maud: victim names and evidence come from the target.
//!
//! * [`chart`] — inline SVG charts over a run's time axis;
//! * [`run`] — the page of a `chaos-monkey run` report;
//! * [`scenarios`] — the page of a `chaos-monkey scenarios` suite.

pub mod chart;
pub mod run;
pub mod scenarios;
mod series;

use maud::{html, Markup, PreEscaped, DOCTYPE};

/// The page's policy: no scripts, no fetches, styles inline only.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const STYLE: &str = include_str!("style.css");

/// How a card or a pill reads: good, bad, or worth a look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// All well.
    Ok,
    /// Something broke.
    Bad,
    /// Neither (interrupted, stopped early).
    Warn,
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Tone::Ok => "ok",
            Tone::Bad => "bad",
            Tone::Warn => "warn",
        }
    }
}

/// A page: a title, a subtitle and sections, rendered as one HTML document.
#[derive(Debug, Clone)]
pub struct Page {
    title: String,
    subtitle: String,
    sections: Vec<Markup>,
    footer: String,
}

impl Page {
    /// An empty page.
    pub fn new(title: impl Into<String>, subtitle: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            subtitle: subtitle.into(),
            sections: Vec::new(),
            footer: String::new(),
        }
    }

    /// Add a section (from [`section`] or [`summary_card`]).
    pub fn push(&mut self, section: Markup) -> &mut Self {
        self.sections.push(section);
        self
    }

    /// The line at the bottom.
    pub fn footer(&mut self, text: impl Into<String>) -> &mut Self {
        self.footer = text.into();
        self
    }

    /// The whole document.
    pub fn render(&self) -> String {
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta http-equiv="Content-Security-Policy" content=(CONTENT_SECURITY_POLICY);
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.title) }
                    style { (PreEscaped(STYLE)) }
                }
                body {
                    main {
                        header class="page" {
                            h1 { (self.title) }
                            p { (self.subtitle) }
                        }
                        @for s in &self.sections { (s) }
                        @if !self.footer.is_empty() {
                            footer { (self.footer) }
                        }
                    }
                }
            }
        }
        .into_string()
    }
}

/// A titled section with an optional note under the title.
pub fn section(id: &str, title: &str, note: Option<&str>, body: Markup) -> Markup {
    html! {
        section id=(id) {
            h2 { (title) }
            @if let Some(n) = note { p class="note" { (n) } }
            (body)
        }
    }
}

/// The summary card: a verdict in its tone, facts as label/value pairs
/// (a value may carry a small second line), and notes under them.
pub fn summary_card(
    verdict: &str,
    tone: Tone,
    facts: &[(&str, String, Option<String>)],
    notes: &[String],
) -> Markup {
    html! {
        section id="summary" class={ "card " (tone.class()) } {
            p class="verdict" { (verdict) }
            dl class="facts" {
                @for (label, value, small) in facts {
                    div {
                        dt { (label) }
                        dd { (value) @if let Some(s) = small { " " small { (s) } } }
                    }
                }
            }
            @if !notes.is_empty() {
                ul class="notes" { @for n in notes { li { (n) } } }
            }
        }
    }
}

/// A table cell: text (escaped), a number (right-aligned), a pill, or
/// preformatted text (evidence).
#[derive(Debug, Clone)]
pub enum Cell {
    /// Plain text.
    Text(String),
    /// Right-aligned figure.
    Num(String),
    /// A coloured label.
    Pill(String, Tone),
    /// Preformatted text.
    Pre(String),
}

/// A table with a header row; numeric columns are right-aligned.
pub fn table(headers: &[&str], numeric: &[usize], rows: &[Vec<Cell>]) -> Markup {
    html! {
        table {
            thead { tr { @for (i, h) in headers.iter().enumerate() {
                th class=[numeric.contains(&i).then_some("num")] { (h) }
            } } }
            tbody { @for row in rows { tr { @for c in row { (cell(c)) } } } }
        }
    }
}

fn cell(c: &Cell) -> Markup {
    html! {
        @match c {
            Cell::Text(t) => td { (t) },
            Cell::Num(t) => td class="num" { (t) },
            Cell::Pill(t, tone) => td { span class={ "pill " (tone.class()) } { (t) } },
            Cell::Pre(t) => td { pre { (t) } },
        }
    }
}

/// A chart with its caption.
pub fn figure(caption: &str, detail: &str, chart: Markup) -> Markup {
    html! {
        figure {
            figcaption { (caption) @if !detail.is_empty() { " " small { (detail) } } }
            (chart)
        }
    }
}

/// Something collapsed by default (works without JavaScript).
pub fn details(summary: &str, body: Markup) -> Markup {
    html! { details { summary { (summary) } (body) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_one_self_contained_document() {
        let mut p = Page::new("T <1>", "sub");
        p.push(section("s", "S", Some("a note"), html! { p { "body" } }));
        let doc = p.render();
        assert!(doc.starts_with("<!DOCTYPE html>"));
        assert!(doc.contains(CONTENT_SECURITY_POLICY));
        assert!(doc.contains("<style>"));
        assert!(doc.contains("@media print"));
        assert!(doc.contains("<title>T &lt;1&gt;</title>"));
        assert!(!doc.contains("<script"));
        assert!(!doc.contains("<link"));
    }

    #[test]
    fn tables_and_cards_escape_what_they_show() {
        let t = table(
            &["who", "n"],
            &[1],
            &[vec![
                Cell::Text("<script>alert(1)</script>".into()),
                Cell::Num("3".into()),
            ]],
        )
        .into_string();
        assert!(t.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(t.contains("<td class=\"num\">3</td>"));
        assert!(t.contains("<th class=\"num\">n</th>"));
        let c = summary_card(
            "survived \"ok\"",
            Tone::Ok,
            &[("seed", "42".into(), Some("replay".into()))],
            &["a & b".into()],
        )
        .into_string();
        assert!(c.contains("card ok"));
        assert!(c.contains("a &amp; b"));
        assert!(c.contains("<small>replay</small>"));
    }
}

//! A self-contained HTML gallery (`index.html`): every image with its results, the legend,
//! the classification, the DICOM outputs.

use std::fmt::Write as _;

mod json;
mod legend;
mod series;

use arterys_protocol::InferenceResponse;
use serde_json::Value;

pub use json::json_html;
pub use legend::{legend, SeriesScope};

use crate::outputs::{DicomOutput, OutputKind};
use crate::overlay::length_text;
use crate::values::{entries, percent, Shown};
use crate::words::count;

/// One image of the gallery.
#[derive(Debug, Clone, PartialEq)]
pub struct GalleryItem {
    /// Path of the full-size PNG relative to `index.html` (the link target).
    pub file_name: String,
    /// Path of the thumbnail shown (drawn at the size it is shown).
    pub thumbnail: String,
    /// Path of the thumbnail without results (shown when results are switched off).
    pub plain: String,
    /// Why the image could not be drawn: a placeholder says so in its place (no PNGs then).
    pub not_drawn: Option<String>,
    /// The thumbnail's width and height in pixels.
    pub size: (u32, u32),
    /// Text shown under the image (line breaks are kept).
    pub caption: String,
    /// The series it belongs to.
    pub series_instance_uid: String,
    /// The image.
    pub sop_instance_uid: String,
    /// The frame (1-based).
    pub frame: u32,
    /// Pixel Spacing (row, column) in mm.
    pub spacing: Option<[f64; 2]>,
}

/// A DICOM output as the gallery shows it.
#[derive(Debug, Clone)]
pub struct OutputEntry {
    /// What was read from it.
    pub output: DicomOutput,
    /// An image output's rendering (PNG path relative to `index.html`).
    pub png: Option<String>,
}

/// Everything `index.html` shows.
pub struct Page<'a> {
    /// The heading.
    pub title: &'a str,
    /// Summary lines (what was sent and written).
    pub summary: &'a [String],
    /// SHA-256 of the request's parts and of the answer's parts.
    pub hashes: &'a [(String, String)],
    /// Protocol violations.
    pub violations: &'a [String],
    /// Failed `dicomConformance` checks.
    pub warnings: &'a [String],
    /// Every image, in send order (series, then slice position).
    pub items: &'a [GalleryItem],
    /// Series headings by SeriesInstanceUID.
    pub series_titles: &'a [(String, String)],
    /// The answer.
    pub response: Option<&'a InferenceResponse>,
    /// Its DICOM outputs.
    pub outputs: &'a [OutputEntry],
    /// The answer's JSON as sent.
    pub response_json: &'a Value,
}

/// Inline stylesheet: a grid of thumbnails shown at their own size, the results switch (a
/// checkbox and CSS: no script), no external resources.
const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:1.5em;background:#111;color:#ddd}
h1{font-size:1.4em}
h2{font-size:1.15em;border-bottom:1px solid #333;padding-bottom:.2em}
h3{font-size:1em;margin-bottom:.2em}
.count{margin:0 0 .6em;font-size:.85em;color:#aaa;word-break:break-all}
.summary{background:#1c1c1c;border:1px solid #333;padding:.6em 1em;margin:0 0 1em;list-style:none}
.summary li,.hashes{font-family:ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}
.violations{color:#ff5555;font-weight:bold}
.warnings{color:#ffb020}
.switch{display:inline-block;margin:.4em 0;padding:.3em .8em;border:1px solid #555;border-radius:4px;cursor:pointer}
.grid{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
figure{margin:0;background:#1c1c1c;border:1px solid #333;padding:6px}
figure img{display:block}
#show-results:checked ~ .images img.plain{display:none}
#show-results:not(:checked) ~ .images img.with-results{display:none}
.not-drawn .placeholder{display:flex;align-items:center;justify-content:center;text-align:center;box-sizing:border-box;\
padding:1em;border:2px dashed #744;color:#f99;font-size:.9em;word-break:break-word}
figcaption{font-size:.85em;white-space:pre-wrap;word-break:break-word;margin-top:4px}
figcaption ul{margin:.2em 0;padding-left:1.2em}
.legend{list-style:none;padding-left:0;margin:.3em 0 .8em}
.legend ul{list-style:none}
.swatch{display:inline-block;width:1em;height:1em;margin-right:.5em;vertical-align:middle;border:1px solid #888}
.bar{width:320px;height:14px;border:1px solid #888;margin-top:4px}
.scale{width:320px;display:flex;justify-content:space-between;font-size:.8em}
table.kv{border-collapse:collapse;margin:.3em 0 .8em}
table.kv td{padding:.1em .8em .1em 0;vertical-align:top}
table.probs td{padding:0 .8em 0 0}
td.pct{text-align:right;font-variant-numeric:tabular-nums}
.json{background:#1c1c1c;border:1px solid #333;padding:.6em 1em;font-family:ui-monospace,monospace;font-size:.8em}
.json details.j,.json div.j{margin-left:1.2em}
.json>details.j{margin-left:0}
.json summary{cursor:pointer}
.json .k{color:#8cf}
.json .n{color:#888}
pre{background:#1c1c1c;border:1px solid #333;padding:1em;overflow:auto;font-size:.8em}
a{color:#8cf}
";

/// Free-form results (`study_ml_json`, `series_ml_json`) as a key/value table: scores and
/// probabilities as percentages (probabilities in a small table of their own, highest first).
pub(crate) fn key_values(v: &Value) -> String {
    let mut html = String::from("<table class=\"kv\">\n");
    let entries = match v {
        Value::Object(m) => entries(m),
        other => entries(&[("value".to_owned(), other.clone())].into_iter().collect()),
    };
    for (k, shown) in entries {
        let cell = match shown {
            Shown::Text(t) => escape(&t),
            Shown::Percent(p) => escape(&p),
            Shown::Probabilities(ps) => {
                let rows: String = ps
                    .iter()
                    .map(|(n, p)| format!("<tr><td>{}</td><td class=\"pct\">{}</td></tr>", escape(n), percent(*p)))
                    .collect();
                format!("<table class=\"probs\">{rows}</table>")
            }
        };
        let _ = writeln!(html, "<tr><td>{}</td><td>{cell}</td></tr>", escape(&k));
    }
    html.push_str("</table>\n");
    html
}

/// What the answer says about one image: box labels, measurements with their length.
pub(crate) fn image_notes(r: &InferenceResponse, item: &GalleryItem) -> Vec<String> {
    let j = r.json();
    let here = |sop: &str, f: Option<u32>| sop == item.sop_instance_uid && f.unwrap_or(1) == item.frame;
    let mut notes: Vec<String> = j
        .bounding_boxes_2d
        .iter()
        .flatten()
        .filter(|b| here(&b.sop_instance_uid, b.frame_number))
        .map(|b| format!("box: {}", b.label))
        .collect();
    notes.extend(
        j.linear_measurements_2d
            .iter()
            .flatten()
            .filter(|m| here(&m.sop_instance_uid, m.frame_number))
            .map(|m| format!("{}: {}", m.label, length_text(m.start, m.end, item.spacing))),
    );
    notes
}

fn list(html: &mut String, class: &str, heading: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(html, "<h2 class=\"{class}\">{} ({})</h2>\n<ul class=\"{class}\">", escape(heading), lines.len());
    for line in lines {
        let _ = writeln!(html, "<li>{}</li>", escape(line));
    }
    html.push_str("</ul>\n");
}

/// A self-contained `index.html`: title, summary, hashes, violations and conformance warnings,
/// the study classification, a switch that shows the images with or without their results,
/// one section per series (its heading with what it shows, its classification, its legend,
/// its images in slice order: thumbnails linking to the full PNGs, captions naming series,
/// image, frame, slice position and file, the image's measurements with their length, and a
/// placeholder saying why for each image not drawn), the DICOM outputs (captures shown,
/// reports listed, presentation states summarised), and the response JSON, foldable.
/// Everything HTML-escaped, no external resources, no script.
pub fn index_html(page: &Page<'_>) -> String {
    let title = escape(page.title);
    let mut html = String::with_capacity(8192 + page.items.len() * 512);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // `write!` into a String cannot fail; the results are ignored deliberately.
    let _ = writeln!(html, "<title>{title}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>");
    if !page.summary.is_empty() {
        html.push_str("<ul class=\"summary\">\n");
        for line in page.summary {
            let _ = writeln!(html, "<li>{}</li>", escape(line));
        }
        html.push_str("</ul>\n");
    }
    if !page.hashes.is_empty() {
        html.push_str("<table class=\"kv hashes\">\n");
        for (k, v) in page.hashes {
            let _ = writeln!(html, "<tr><td>{}</td><td>{}</td></tr>", escape(k), escape(v));
        }
        html.push_str("</table>\n");
    }
    list(&mut html, "violations", "Violations", page.violations);
    list(&mut html, "warnings", "DICOM conformance warnings", page.warnings);
    let j = page.response.map(InferenceResponse::json);
    if let Some(study) = j.and_then(|j| j.study_ml_json.as_ref()) {
        let _ = writeln!(html, "<h2>Study classification</h2>\n{}", key_values(study));
    }
    // The switch comes before the images it governs (the CSS selects its later siblings).
    html.push_str(
        "<input type=\"checkbox\" id=\"show-results\" checked>\n\
         <label class=\"switch\" for=\"show-results\">Show results on the images</label>\n",
    );
    series::images_html(&mut html, page);
    if !page.outputs.is_empty() {
        let _ = writeln!(html, "<h2>DICOM outputs ({})</h2>", page.outputs.len());
        for o in page.outputs {
            outputs_html(&mut html, o);
        }
    }
    html.push_str("<h2>Response</h2>\n");
    html.push_str(&json::json_html(page.response_json));
    html.push_str("</body>\n</html>\n");
    html
}

fn outputs_html(html: &mut String, entry: &OutputEntry) {
    let o = &entry.output;
    let file = escape(&url_path(&o.file_name));
    let what = o.kind.name();
    let _ = writeln!(
        html,
        "<h3>{}: {} (<a href=\"{file}\">{}</a>)</h3>",
        escape(&o.label),
        escape(&what),
        escape(&o.file_name)
    );
    if let Some(p) = &o.problem {
        let _ = writeln!(html, "<p class=\"violations\">{}</p>", escape(p));
    }
    if let Some(png) = &entry.png {
        let src = escape(&url_path(png));
        let _ =
            writeln!(html, "<figure><a href=\"{src}\"><img src=\"{src}\" alt=\"{}\"></a></figure>", escape(&o.label));
    }
    if !o.report.is_empty() {
        let _ = writeln!(html, "<pre>{}</pre>", escape(&o.report.join("\n")));
    }
    if o.kind == OutputKind::PresentationState {
        let images: std::collections::BTreeSet<&str> =
            o.annotations.iter().map(|a| a.sop_instance_uid.as_str()).collect();
        let graphics: usize = o.annotations.iter().map(|a| a.graphics.len() + a.texts.len()).sum();
        let objects = count(graphics, "graphic or text object", "graphics and text objects");
        let _ = writeln!(html, "<p>{objects} on {}, drawn on them above.</p>", count(images.len(), "image", "images"));
    }
    if o.kind == OutputKind::StructuredReport && !o.annotations.is_empty() {
        let regions = count(o.annotations.len(), "measured image region", "measured image regions");
        let _ = writeln!(html, "<p>{regions}, drawn with their values on the images above.</p>");
    }
}

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// Percent-encodes a relative file path for use in a URL, keeping unreserved characters and '/'.
pub(crate) fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests;

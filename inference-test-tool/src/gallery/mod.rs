//! A self-contained HTML gallery (`index.html`): every image with its results, the legend,
//! the classification, the DICOM outputs.

use std::fmt::Write as _;

mod legend;

use arterys_protocol::InferenceResponse;
use serde_json::Value;

pub use legend::legend;

use crate::outputs::{DicomOutput, OutputKind};
use crate::overlay::length_text;

/// One image of the gallery.
#[derive(Debug, Clone, PartialEq)]
pub struct GalleryItem {
    /// Path of the full-size PNG relative to `index.html` (the link target).
    pub file_name: String,
    /// Path of the thumbnail shown (drawn at the size it is shown).
    pub thumbnail: String,
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

/// Inline stylesheet: a grid of thumbnails shown at their own size, no external resources.
const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:1.5em;background:#111;color:#ddd}
h1{font-size:1.4em}
h2{font-size:1.15em;border-bottom:1px solid #333;padding-bottom:.2em}
h3{font-size:1em}
.summary{background:#1c1c1c;border:1px solid #333;padding:.6em 1em;margin:0 0 1em;list-style:none}
.summary li,.hashes{font-family:ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}
.violations{color:#ff5555;font-weight:bold}
.warnings{color:#ffb020}
.grid{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
figure{margin:0;background:#1c1c1c;border:1px solid #333;padding:6px}
figure img{display:block}
figcaption{font-size:.85em;white-space:pre-wrap;word-break:break-word;margin-top:4px}
figcaption ul{margin:.2em 0;padding-left:1.2em}
.legend{list-style:none;padding-left:0}
.legend ul{list-style:none}
.swatch{display:inline-block;width:1em;height:1em;margin-right:.5em;vertical-align:middle;border:1px solid #888}
.bar{width:320px;height:14px;border:1px solid #888;margin-top:4px}
.scale{width:320px;display:flex;justify-content:space-between;font-size:.8em}
table.kv td{padding:.1em .8em .1em 0;vertical-align:top}
pre{background:#1c1c1c;border:1px solid #333;padding:1em;overflow:auto;font-size:.8em}
a{color:#8cf}
";

/// Free-form results (`study_ml_json`, `series_ml_json`) as a key/value table.
fn key_values(v: &Value) -> String {
    let mut html = String::from("<table class=\"kv\">\n");
    let row = |html: &mut String, k: &str, v: &Value| {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let _ = writeln!(html, "<tr><td>{}</td><td>{}</td></tr>", escape(k), escape(&text));
    };
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| row(&mut html, k, v)),
        other => row(&mut html, "value", other),
    }
    html.push_str("</table>\n");
    html
}

/// What the answer says about one image: box labels, measurements with their length.
fn image_notes(r: &InferenceResponse, item: &GalleryItem) -> Vec<String> {
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
/// the study classification, the legend, one section per series with its classification and
/// its images in slice order (thumbnails linking to the full PNGs, captions naming series,
/// image, frame, slice position and file, the image's measurements with their length), the
/// DICOM outputs (captures shown, reports listed, presentation states summarised), and the
/// response JSON. Everything HTML-escaped, no external resources, no script.
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
    let gsps = page.outputs.iter().any(|o| o.output.kind == OutputKind::PresentationState);
    let sr =
        page.outputs.iter().any(|o| o.output.kind == OutputKind::StructuredReport && !o.output.annotations.is_empty());
    if let Some(r) = page.response {
        html.push_str(&legend(r, gsps, sr));
    }
    let mut series: Vec<&str> = Vec::new();
    for item in page.items {
        if !series.contains(&item.series_instance_uid.as_str()) {
            series.push(&item.series_instance_uid);
        }
    }
    let _ = writeln!(html, "<h2>Images ({})</h2>", page.items.len());
    for uid in series {
        let heading = page.series_titles.iter().find(|(u, _)| u == uid).map_or(uid, |(_, t)| t.as_str());
        let _ = writeln!(html, "<h3>{}</h3>", escape(heading));
        if let Some(v) = j.and_then(|j| j.series_ml_json.as_ref()).and_then(|m| m.get(uid)) {
            html.push_str(&key_values(v));
        }
        html.push_str("<div class=\"grid\">\n");
        for item in page.items.iter().filter(|i| i.series_instance_uid == uid) {
            let (src, href) = (escape(&url_path(&item.thumbnail)), escape(&url_path(&item.file_name)));
            let caption = escape(&item.caption);
            let notes = page.response.map(|r| image_notes(r, item)).unwrap_or_default();
            let notes: String = notes.iter().map(|n| format!("<li>{}</li>", escape(n))).collect();
            let notes = if notes.is_empty() { notes } else { format!("<ul>{notes}</ul>") };
            let _ = writeln!(
                html,
                "<figure><a href=\"{href}\"><img src=\"{src}\" width=\"{}\" height=\"{}\" alt=\"{caption}\"></a>\
                 <figcaption>{caption}{notes}</figcaption></figure>",
                item.size.0, item.size.1
            );
        }
        html.push_str("</div>\n");
    }
    if !page.outputs.is_empty() {
        let _ = writeln!(html, "<h2>DICOM outputs ({})</h2>", page.outputs.len());
        for o in page.outputs {
            outputs_html(&mut html, o);
        }
    }
    html.push_str("<h2>Response</h2>\n");
    let json = serde_json::to_string_pretty(page.response_json).unwrap_or_else(|_| page.response_json.to_string());
    let _ = writeln!(html, "<pre>{}</pre>\n</body>\n</html>", escape(&json));
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
        let _ = writeln!(
            html,
            "<p>{graphics} graphics and text objects on {} images, drawn on them above.</p>",
            images.len()
        );
    }
    if o.kind == OutputKind::StructuredReport && !o.annotations.is_empty() {
        let _ = writeln!(
            html,
            "<p>{} measured image region(s), drawn with their values on the images above.</p>",
            o.annotations.len()
        );
    }
}

/// Escapes text for HTML element content and double- or single-quoted attribute values.
fn escape(text: &str) -> String {
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
fn url_path(path: &str) -> String {
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

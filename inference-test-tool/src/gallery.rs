//! A self-contained HTML gallery (`index.html`) of the rendered slices.

use std::fmt::Write as _;

/// One image of the gallery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GalleryItem {
    /// Path of the PNG relative to `index.html` (used as `img src` and link target).
    pub file_name: String,
    /// Text shown under the image (line breaks are kept).
    pub caption: String,
}

/// Inline stylesheet: a responsive grid, no external resources.
const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:1.5em;background:#111;color:#ddd}
h1{font-size:1.4em}
h2{font-size:1.1em}
.summary{background:#1c1c1c;border:1px solid #333;padding:.6em 1em;margin:0 0 1em;list-style:none}
.summary li{font-family:ui-monospace,monospace;white-space:pre-wrap}
.violations{color:#ff5555;font-weight:bold}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:12px}
figure{margin:0;background:#1c1c1c;border:1px solid #333;padding:6px}
figure img{width:100%;height:auto;display:block;image-rendering:pixelated}
figcaption{font-size:.85em;white-space:pre-wrap;word-break:break-word;margin-top:4px}
pre{background:#1c1c1c;border:1px solid #333;padding:1em;overflow:auto;font-size:.8em}
a{color:#8cf}
";

/// A self-contained index.html: a title, a summary block (each line of `summary`), a red list of `violations`
/// (if any), a responsive grid of every item (<img src="file_name" loading="lazy"> with its caption; clicking opens
/// the full PNG), then the response JSON pretty-printed in a <pre>. Everything HTML-escaped. No external resources
/// (no CDN, no JS needed).
///
/// File names are percent-encoded as URL paths (letters, digits, `-._~/` kept) before HTML escaping.
pub fn index_html(
    title: &str,
    summary: &[String],
    violations: &[String],
    items: &[GalleryItem],
    response_json: &serde_json::Value,
) -> String {
    let title = escape(title);
    let mut html = String::with_capacity(4096 + items.len() * 256);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // `write!` into a String cannot fail; the results are ignored deliberately.
    let _ = writeln!(html, "<title>{title}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>");
    if !summary.is_empty() {
        html.push_str("<ul class=\"summary\">\n");
        for line in summary {
            let _ = writeln!(html, "<li>{}</li>", escape(line));
        }
        html.push_str("</ul>\n");
    }
    if !violations.is_empty() {
        let _ = writeln!(
            html,
            "<h2 class=\"violations\">Violations ({})</h2>\n<ul class=\"violations\">",
            violations.len()
        );
        for violation in violations {
            let _ = writeln!(html, "<li>{}</li>", escape(violation));
        }
        html.push_str("</ul>\n");
    }
    let _ = writeln!(html, "<h2>Images ({})</h2>\n<div class=\"grid\">", items.len());
    for item in items {
        let src = escape(&url_path(&item.file_name));
        let caption = escape(&item.caption);
        let _ = writeln!(
            html,
            "<figure><a href=\"{src}\"><img src=\"{src}\" loading=\"lazy\" alt=\"{caption}\"></a>\
             <figcaption>{caption}</figcaption></figure>"
        );
    }
    html.push_str("</div>\n<h2>Response</h2>\n");
    let json = serde_json::to_string_pretty(response_json).unwrap_or_else(|_| response_json.to_string());
    let _ = writeln!(html, "<pre>{}</pre>\n</body>\n</html>", escape(&json));
    html
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
mod tests {
    use super::*;

    fn item(file_name: &str, caption: &str) -> GalleryItem {
        GalleryItem { file_name: file_name.to_string(), caption: caption.to_string() }
    }

    #[test]
    fn every_item_is_an_img_and_link() {
        let items: Vec<GalleryItem> =
            (0..25).map(|i| item(&format!("series_1/slice_{i:03}.png"), &format!("slice {i}"))).collect();
        let html = index_html("Run", &["ok".to_string()], &[], &items, &serde_json::json!({}));
        for it in &items {
            assert!(html.contains(&format!("<img src=\"{}\" loading=\"lazy\"", it.file_name)), "{}", it.file_name);
            assert!(html.contains(&format!("<a href=\"{}\">", it.file_name)));
            assert!(html.contains(&format!("<figcaption>{}</figcaption>", it.caption)));
        }
        assert_eq!(html.matches("<img ").count(), items.len());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        assert!(!html.contains("class=\"violations\""), "no violations block when there are none");
        assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"));
    }

    #[test]
    fn special_characters_are_escaped() {
        let evil = "<script>alert('x')</script> & \"q\"";
        let html = index_html(
            evil,
            &[format!("summary {evil}")],
            &[format!("violation {evil}")],
            &[item("a b&<c>\".png", evil)],
            &serde_json::json!({ "key": evil }),
        );
        assert!(!html.contains("<script>"));
        assert!(!html.contains("'x'"));
        let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;";
        assert!(html.contains(&format!("<title>{escaped}</title>")));
        assert!(html.contains(&format!("<h1>{escaped}</h1>")));
        assert!(html.contains(&format!("<li>summary {escaped}</li>")));
        assert!(html.contains(&format!("<figcaption>{escaped}</figcaption>")));
        assert!(html.contains("<img src=\"a%20b%26%3Cc%3E%22.png\""));
        // serde_json escapes the inner quotes as \" which then become \&quot;.
        assert!(html.contains("&quot;key&quot;: &quot;&lt;script&gt;"));
    }

    #[test]
    fn violations_and_json_appear() {
        let violations = vec!["mask shape mismatch".to_string(), "bad label 7".to_string()];
        let json = serde_json::json!({ "parts": [{ "label": "lesion", "count": 3 }] });
        let html = index_html("T", &["line 1".to_string(), "line 2".to_string()], &violations, &[], &json);
        assert!(html.contains("Violations (2)"));
        assert!(html.contains("<ul class=\"violations\">\n<li>mask shape mismatch</li>\n<li>bad label 7</li>\n</ul>"));
        assert!(html.contains("<li>line 1</li>\n<li>line 2</li>"));
        let pretty = escape(&serde_json::to_string_pretty(&json).unwrap());
        assert!(html.contains(&format!("<pre>{pretty}</pre>")));
        assert!(pretty.contains('\n'), "pretty-printed JSON spans lines");
        // Summary and violations come before the grid, JSON after it.
        let (s, v, g, j) = (
            html.find("line 1").unwrap(),
            html.find("mask shape").unwrap(),
            html.find("class=\"grid\"").unwrap(),
            html.find("<pre>").unwrap(),
        );
        assert!(s < v && v < g && g < j);
    }
}

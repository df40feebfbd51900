//! The answer's JSON, pretty-printed and collapsible: every object and array with more than a
//! line of content folds (`<details>`), arrays of plain values stay on one line (a box's corners,
//! a shape), and nothing needs a script.

use std::fmt::Write as _;

use serde_json::Value;

use super::escape;

/// Arrays of plain values up to this many stay on one line.
const INLINE_VALUES: usize = 16;

fn is_plain(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

/// A value on one line, when it is short: plain values, and arrays of a few plain values.
fn inline(v: &Value) -> Option<String> {
    match v {
        Value::Array(a) if a.len() <= INLINE_VALUES && a.iter().all(is_plain) => {
            Some(format!("[{}]", a.iter().map(Value::to_string).collect::<Vec<_>>().join(", ")))
        }
        Value::Object(m) if m.is_empty() => Some("{}".into()),
        Value::Array(_) | Value::Object(_) => None,
        plain => Some(plain.to_string()),
    }
}

/// `key: ` (HTML) for an object member, nothing for an array element.
fn key_html(key: Option<&str>) -> String {
    key.map(|k| format!("<span class=\"k\">{}</span>: ", escape(&Value::String(k.to_owned()).to_string())))
        .unwrap_or_default()
}

fn node(html: &mut String, key: Option<&str>, v: &Value, open: bool) {
    let k = key_html(key);
    if let Some(line) = inline(v) {
        let _ = writeln!(html, "<div class=\"j\">{k}{}</div>", escape(&line));
        return;
    }
    let (opening, closing, n, what) = match v {
        Value::Array(a) => ("[", "]", a.len(), if a.len() == 1 { "item" } else { "items" }),
        Value::Object(m) => ("{", "}", m.len(), if m.len() == 1 { "key" } else { "keys" }),
        _ => return,
    };
    let _ = writeln!(
        html,
        "<details class=\"j\"{}><summary>{k}{opening} <span class=\"n\">{n} {what}</span></summary>",
        if open { " open" } else { "" }
    );
    match v {
        Value::Array(a) => a.iter().for_each(|e| node(html, None, e, false)),
        Value::Object(m) => m.iter().for_each(|(k, e)| node(html, Some(k), e, false)),
        _ => {}
    }
    let _ = writeln!(html, "<div class=\"j\">{closing}</div></details>");
}

/// The JSON as nested, foldable blocks: the top level open, everything below folded.
pub fn json_html(v: &Value) -> String {
    let mut html = String::from("<div class=\"json\">\n");
    node(&mut html, None, v, true);
    html.push_str("</div>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_arrays_stay_on_a_line_and_containers_fold() {
        let v =
            json!({"bounding_boxes_2d": [{"label": "a<b", "top_left": [1, 2], "bottom_right": [3, 4]}], "parts": []});
        let html = json_html(&v);
        assert!(html.contains("<span class=\"k\">&quot;top_left&quot;</span>: [1, 2]"), "{html}");
        assert!(html.contains("<span class=\"k\">&quot;parts&quot;</span>: []"), "{html}");
        assert!(html.contains("&quot;a&lt;b&quot;"), "escaped: {html}");
        assert_eq!(html.matches("<details").count(), 3, "the object, the list of boxes, the box: {html}");
        assert_eq!(html.matches("<details class=\"j\" open>").count(), 1, "{html}");
    }
}

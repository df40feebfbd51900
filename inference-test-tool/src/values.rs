//! Free-form results (`study_ml_json`, `series_ml_json`) in words: a label with its score,
//! probabilities as percentages (highest first), other values as they are. The gallery's
//! tables and the labels drawn on the images read them the same way.

use serde_json::{Map, Value};

/// `80.0%` for 0.7998.
pub fn percent(p: f64) -> String {
    format!("{:.1}%", p * 100.0)
}

/// A value between 0 and 1.
fn fraction(v: &Value) -> Option<f64> {
    v.as_f64().filter(|p| (0.0..=1.0).contains(p))
}

/// Whether `key` names a score or a probability (its value, between 0 and 1, is a percentage).
fn is_score(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("score") || k.contains("prob") || k.contains("confidence")
}

/// `{"Body": 0.7998, "No body": 0.2002}` as (name, probability), highest first; `None` unless
/// every value is a number between 0 and 1.
pub fn probabilities(v: &Value) -> Option<Vec<(String, f64)>> {
    let m = v.as_object().filter(|m| !m.is_empty())?;
    let mut out: Vec<(String, f64)> = m.iter().map(|(k, v)| Some((k.clone(), fraction(v)?))).collect::<Option<_>>()?;
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    Some(out)
}

/// What one entry shows: a percentage for scores, the probabilities, the text of a string.
pub enum Shown {
    /// A string or a number as it is.
    Text(String),
    /// A score between 0 and 1, as a percentage.
    Percent(String),
    /// Named probabilities, highest first.
    Probabilities(Vec<(String, f64)>),
}

/// The entries of a result object in order, each as it is shown.
pub fn entries(m: &Map<String, Value>) -> Vec<(String, Shown)> {
    m.iter()
        .map(|(k, v)| {
            let shown = match (v, fraction(v), probabilities(v)) {
                (_, Some(p), _) if is_score(k) => Shown::Percent(percent(p)),
                (_, _, Some(ps)) => Shown::Probabilities(ps),
                (Value::String(s), _, _) => Shown::Text(s.clone()),
                (other, _, _) => Shown::Text(other.to_string()),
            };
            (k.clone(), shown)
        })
        .collect()
}

/// A short text for an image: `label (87.0%)` on the first line, then the probabilities
/// (`Body 80.0% · No body 20.0%`) and any other entries, one a line.
pub fn describe(v: &Value) -> String {
    let Some(m) = v.as_object() else {
        return match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
    };
    let mut lines = Vec::new();
    let mut head = m.get("label").and_then(Value::as_str).map(str::to_owned);
    for (k, shown) in entries(m) {
        match shown {
            Shown::Text(_) if k == "label" && head.is_some() => {}
            Shown::Percent(p) if head.is_some() && !k.contains("prob") => {
                head = head.map(|h| format!("{h} ({p})"));
            }
            Shown::Percent(p) => lines.push(format!("{k}: {p}")),
            Shown::Probabilities(ps) => {
                lines.push(ps.iter().map(|(n, p)| format!("{n} {}", percent(*p))).collect::<Vec<_>>().join(" \u{b7} "))
            }
            Shown::Text(t) => lines.push(format!("{k}: {t}")),
        }
    }
    head.into_iter().chain(lines).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scores_and_probabilities_are_percentages() {
        let v = json!({"label": "Body", "score": 0.7998, "probabilities": {"No body": 0.2002, "Body": 0.7998}});
        assert_eq!(describe(&v), "Body (80.0%)\nBody 80.0% \u{b7} No body 20.0%");
        let v = json!({"label": "Series looks fine", "slices": 3, "timepoints": 1});
        assert_eq!(describe(&v), "Series looks fine\nslices: 3\ntimepoints: 1");
        // A count is not a percentage, nor a score above 1.
        assert!(probabilities(&json!({"a": 2, "b": 0.5})).is_none());
        assert_eq!(describe(&json!({"score": 3.5})), "score: 3.5");
    }
}

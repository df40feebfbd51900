//! A part's header block, with the headers the protocol uses parsed.

use super::MultipartError;

/// The headers of one part, with the ones the protocol uses parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartHeaders {
    /// `Content-Type`, as sent.
    pub content_type: Option<String>,
    /// `Content-Disposition`'s `name`.
    pub name: Option<String>,
    /// `Content-Disposition`'s `filename`.
    pub filename: Option<String>,
    /// `Content-Length`, when sent.
    pub content_length: Option<usize>,
    /// Every header line as `(name, value)`, in order.
    pub raw: Vec<(String, String)>,
}

impl PartHeaders {
    /// The media type without parameters, lowercased (`text/json`, `application/dicom`).
    pub fn essence(&self) -> Option<String> {
        self.content_type.as_deref().map(|c| c.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
    }

    pub(crate) fn parse(block: &[u8], part: usize) -> Result<Self, MultipartError> {
        let mut h = Self::default();
        if block.is_empty() {
            return Ok(h);
        }
        for line in block.split(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line));
            if line.trim().is_empty() {
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(MultipartError::MalformedHeader { part, line: line.chars().take(80).collect() });
            };
            let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
            match name.to_ascii_lowercase().as_str() {
                "content-type" => h.content_type = Some(value.clone()),
                "content-length" => h.content_length = value.parse().ok(),
                "content-disposition" => {
                    h.name = disposition_param(&value, "name");
                    h.filename = disposition_param(&value, "filename");
                }
                _ => {}
            }
            h.raw.push((name, value));
        }
        Ok(h)
    }
}

fn disposition_param(value: &str, key: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim().trim_matches('"').to_owned())
    })
}

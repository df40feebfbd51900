//! Reading the boundary of a `multipart/related` Content-Type.

/// Why a Content-Type cannot carry an inference request or response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentTypeError {
    /// No Content-Type header at all.
    #[error("missing Content-Type (expected multipart/related)")]
    Missing,
    /// Not a media type, or not `multipart/related`.
    #[error("Content-Type {0:?} is not multipart/related")]
    NotMultipartRelated(String),
    /// `multipart/related` without a `boundary` parameter.
    #[error("Content-Type multipart/related has no boundary parameter")]
    NoBoundary,
    /// A boundary that cannot delimit parts (empty, too long, or with line breaks).
    #[error("multipart boundary {0:?} is invalid")]
    BadBoundary(String),
}

/// The boundary of a `multipart/related` Content-Type, unquoted. Other parameters
/// (`charset`, `type`, `start`) are allowed and ignored.
///
/// ```
/// use arterys_protocol::multipart::boundary_from_content_type;
/// assert_eq!(boundary_from_content_type(r#"multipart/related; boundary="a b"; charset=utf-8"#).unwrap(), "a b");
/// assert_eq!(boundary_from_content_type("Multipart/Related;boundary=xyz").unwrap(), "xyz");
/// assert!(boundary_from_content_type("application/json").is_err());
/// assert!(boundary_from_content_type("multipart/related").is_err());
/// ```
pub fn boundary_from_content_type(content_type: &str) -> Result<String, ContentTypeError> {
    let m: mime::Mime =
        content_type.parse().map_err(|_| ContentTypeError::NotMultipartRelated(content_type.to_owned()))?;
    if m.type_() != mime::MULTIPART || m.subtype().as_str() != "related" {
        return Err(ContentTypeError::NotMultipartRelated(m.essence_str().to_owned()));
    }
    let b = m.get_param(mime::BOUNDARY).ok_or(ContentTypeError::NoBoundary)?.as_str();
    if b.is_empty() || b.len() > 200 || b.contains(['\r', '\n']) {
        return Err(ContentTypeError::BadBoundary(b.to_owned()));
    }
    Ok(b.to_owned())
}

/// The boundary inside the reference server's Python bytes notation: `b'abc'` → `abc`.
///
/// The reference wrote `boundary=b'abc'` in its header (and, in some versions, `--b'abc'` in
/// the body, in others `--abc`); a client tries the literal boundary first and this one next.
pub fn python_bytes_boundary(boundary: &str) -> Option<&str> {
    boundary.strip_prefix("b'").and_then(|b| b.strip_suffix('\'')).filter(|b| !b.is_empty())
}

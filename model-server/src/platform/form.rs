//! `multipart/form-data` fields sliced out of a body already in memory, without copying: an
//! upload is held once, not once as the body and again as its field.

use bytes::Bytes;
use memchr::memmem;

/// A form that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    /// No `multipart/form-data` Content-Type with a boundary.
    #[error("send the image and params as multipart/form-data (with a boundary)")]
    NotForm,
    /// The body does not follow the multipart syntax.
    #[error("malformed multipart/form-data body: {0}")]
    Malformed(&'static str),
}

/// One field: its name (from `Content-Disposition`) and its bytes, a slice of the body.
#[derive(Debug)]
pub struct Field {
    /// The field's name (`None` when the part has none).
    pub name: Option<String>,
    /// The field's content.
    pub body: Bytes,
}

/// The boundary of a `multipart/form-data` Content-Type.
pub fn boundary(content_type: &str) -> Result<String, FormError> {
    let mime: mime::Mime = content_type.parse().map_err(|_| FormError::NotForm)?;
    if mime.essence_str() != "multipart/form-data" {
        return Err(FormError::NotForm);
    }
    let b = mime.get_param(mime::BOUNDARY).ok_or(FormError::NotForm)?.as_str().to_owned();
    if b.is_empty() || b.len() > 200 {
        return Err(FormError::NotForm);
    }
    Ok(b)
}

/// The fields of `body`, in order; each a slice of it. Linear in the body's size.
pub fn fields(body: &Bytes, boundary: &str) -> Result<Vec<Field>, FormError> {
    let delimiter = format!("--{boundary}");
    let next_part = format!("\r\n--{boundary}");
    let finder = memmem::Finder::new(next_part.as_bytes());
    // The first delimiter may follow a preamble.
    let first = memmem::find(body, delimiter.as_bytes()).ok_or(FormError::Malformed("no boundary"))?;
    let mut at = first + delimiter.len();
    let mut out = Vec::new();
    loop {
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Ok(out);
        }
        // Transport padding, then the line break that ends the delimiter line.
        let line_end = memmem::find(rest, b"\r\n").ok_or(FormError::Malformed("unterminated boundary line"))?;
        let head_start = at + line_end + 2;
        let head_len = if body[head_start..].starts_with(b"\r\n") {
            0
        } else {
            memmem::find(&body[head_start..], b"\r\n\r\n").ok_or(FormError::Malformed("unterminated part headers"))? + 2
        };
        let head = &body[head_start..head_start + head_len];
        let content = head_start + head_len + 2;
        let end = finder.find(&body[content..]).ok_or(FormError::Malformed("no closing boundary"))? + content;
        out.push(Field { name: field_name(head), body: body.slice(content..end) });
        at = end + next_part.len();
    }
}

/// `name` from a part's `Content-Disposition: form-data; name="..."` header.
fn field_name(head: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(head).ok()?;
    let line = text
        .split("\r\n")
        .find(|l| l.split_once(':').is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition")))?;
    let (_, value) = line.split_once(':')?;
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("name").then(|| v.trim().trim_matches('"').to_owned())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fields_are_slices_of_the_body() {
        let body = Bytes::from_static(
            b"preamble\r\n--xx\r\nContent-Disposition: form-data; name=\"params\"\r\n\r\n{}\r\n--xx\r\n\
              Content-Disposition: form-data; name=\"file\"; filename=\"a.dcm\"\r\nContent-Type: application/octet-stream\r\n\r\n\
              a\r\n-b\r\n--xx--\r\n",
        );
        let f = fields(&body, "xx").unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].name.as_deref(), &f[0].body[..]), (Some("params"), &b"{}"[..]));
        assert_eq!((f[1].name.as_deref(), &f[1].body[..]), (Some("file"), &b"a\r\n-b"[..]));
        // Not a copy: the field's bytes are the body's.
        let at = body.windows(5).position(|w| w == b"a\r\n-b").unwrap();
        assert_eq!(f[1].body.as_ptr(), body[at..].as_ptr());
        assert!(fields(&Bytes::from_static(b"--xx\r\n\r\nunterminated"), "xx").is_err());
        assert_eq!(boundary("multipart/form-data; boundary=\"a b\"").unwrap(), "a b");
        assert!(boundary("application/json").is_err());
    }
}

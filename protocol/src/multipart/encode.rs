//! A streaming `multipart/related` writer: an iterator of `Bytes` frames, no I/O. The
//! gateway wraps it in an `http_body::Body`.

use std::collections::VecDeque;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::hex;

/// Large buffers go out in slices of this size, each hashed as it leaves, so that neither a
/// frame nor a hashing step holds the runtime for long.
const SLICE: usize = 1 << 20;

/// One part to send: its header lines and its body.
#[derive(Debug, Clone)]
pub struct OutgoingPart {
    headers: String,
    body: Bytes,
}

impl OutgoingPart {
    /// A part with a `Content-Type`.
    pub fn new(content_type: &str, body: impl Into<Bytes>) -> Self {
        Self { headers: format!("Content-Type: {content_type}\r\n"), body: body.into() }
    }

    /// Adds a header line.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push_str(name);
        self.headers.push_str(": ");
        self.headers.push_str(value);
        self.headers.push_str("\r\n");
        self
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

type OnComplete = Box<dyn FnOnce(&str) + Send + Sync>;

/// A `multipart/related` body written from its parts' buffers without copying them.
///
/// With [`MultipartEncoder::with_hashes`], every part body is hashed as it is written and a last
/// `text/plain` part `<input hash>:<output hash>` follows, as the protocol's responses end.
/// The exact length is known up front ([`MultipartEncoder::remaining`]), so a response can
/// carry a `Content-Length`.
///
/// ```
/// use arterys_protocol::multipart::{MultipartEncoder, MultipartDecoder, OutgoingPart};
/// let body = MultipartEncoder::new("b0", vec![
///     OutgoingPart::new("application/json", r#"{"parts":[]}"#),
/// ]).with_hashes("ab".repeat(32));
/// let bytes: Vec<u8> = body.into_iter().flat_map(|b| b.to_vec()).collect();
/// let (parts, _) = MultipartDecoder::decode("b0", &bytes).unwrap();
/// assert_eq!(parts.len(), 2);
/// assert_eq!(parts[1].body.len(), 129); // "<64 hex>:<64 hex>"
/// ```
pub struct MultipartEncoder {
    boundary: String,
    parts: VecDeque<OutgoingPart>,
    /// The body being sent, if it is being sliced.
    current: Option<Bytes>,
    first: bool,
    hashes: Option<(String, Sha256)>,
    on_complete: Option<OnComplete>,
    remaining: u64,
    done: bool,
}

impl std::fmt::Debug for MultipartEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultipartEncoder")
            .field("boundary", &self.boundary)
            .field("parts_left", &self.parts.len())
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl MultipartEncoder {
    /// A body of `parts`, in order, delimited by `boundary`.
    pub fn new(boundary: impl Into<String>, parts: Vec<OutgoingPart>) -> Self {
        let boundary = boundary.into();
        let remaining = parts.iter().enumerate().map(|(i, p)| part_len(&boundary, p, i == 0)).sum::<u64>()
            + closing(&boundary).len() as u64;
        Self {
            boundary,
            parts: parts.into(),
            current: None,
            first: true,
            hashes: None,
            on_complete: None,
            remaining,
            done: false,
        }
    }

    /// Hash the part bodies as they go and end with the `<input_hash>:<output hash>` part.
    pub fn with_hashes(mut self, input_hash: impl Into<String>) -> Self {
        let input_hash = input_hash.into();
        // "<input>:<64 hex>" under its own part header.
        let trailer = OutgoingPart::new("text/plain", Bytes::new());
        self.remaining += part_len(&self.boundary, &trailer, self.parts.is_empty()) + input_hash.len() as u64 + 65;
        self.hashes = Some((input_hash, Sha256::new()));
        self
    }

    /// Called once with the output hash when the last part is written.
    pub fn on_complete(mut self, f: impl FnOnce(&str) + Send + Sync + 'static) -> Self {
        self.on_complete = Some(Box::new(f));
        self
    }

    fn part_header(&mut self, part: &OutgoingPart) -> Bytes {
        let lead = if std::mem::replace(&mut self.first, false) { "" } else { "\r\n" };
        Bytes::from(format!("{lead}--{}\r\n{}\r\n", self.boundary, part.headers))
    }

    fn next_frame(&mut self) -> Option<Bytes> {
        if let Some(cur) = self.current.as_mut() {
            let slice = cur.split_to(cur.len().min(SLICE));
            if cur.is_empty() {
                self.current = None;
            }
            if let Some((_, h)) = self.hashes.as_mut() {
                h.update(&slice);
            }
            return Some(slice);
        }
        if let Some(part) = self.parts.pop_front() {
            let header = self.part_header(&part);
            if !part.body.is_empty() {
                self.current = Some(part.body);
            }
            return Some(header);
        }
        if let Some((input, hasher)) = self.hashes.take() {
            let output = hex(&hasher.finalize());
            if let Some(f) = self.on_complete.take() {
                f(&output);
            }
            let header = self.part_header(&OutgoingPart::new("text/plain", Bytes::new()));
            let mut frame = header.to_vec();
            frame.extend_from_slice(format!("{input}:{output}").as_bytes());
            return Some(Bytes::from(frame));
        }
        if !self.done {
            self.done = true;
            return Some(Bytes::from(closing(&self.boundary)));
        }
        None
    }
}

fn part_len(boundary: &str, p: &OutgoingPart, first: bool) -> u64 {
    let lead = if first { 0 } else { 2 };
    (lead + 2 + boundary.len() + 2 + p.headers.len() + 2 + p.body.len()) as u64
}

fn closing(boundary: &str) -> String {
    format!("\r\n--{boundary}--\r\n")
}

impl MultipartEncoder {
    /// Bytes still to come.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Whether the closing delimiter has been written.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

impl Iterator for MultipartEncoder {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let frame = self.next_frame()?;
        self.remaining = self.remaining.saturating_sub(frame.len() as u64);
        Some(frame)
    }
}

//! A push decoder for `multipart/related` bodies.
//!
//! Why not `multer`: it targets `multipart/form-data`, buffers the stream in its own
//! `BytesMut` and hands out chunks of it, so assembling a part's contiguous buffer would copy
//! every byte twice; and the test tool needs the same decoder for responses without an HTTP
//! stream. This one is sans-IO (feed it byte slices), copies each body byte once into its
//! part's buffer, and hashes it in the same pass. Buffers are sized up front (from the body's
//! length, a part's `Content-Length`, or the previous part) so that they are seldom grown:
//! growing copies the part again.

use std::sync::Arc;

use bytes::Bytes;
use memchr::memmem;
use sha2::{Digest, Sha256};

pub use super::error::MultipartError;
pub use super::headers::PartHeaders;

/// The largest buffer a part's own `Content-Length` may size up front when the body's length
/// is unknown: a header is a claim, and a short body must not reserve a large buffer.
const UNSIZED_HINT_CAP: usize = 8 << 20;

/// Limits that keep a hostile body from costing more than its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderLimits {
    /// Most parts in one body.
    pub max_parts: usize,
    /// Most bytes in one part's header block.
    pub max_header_bytes: usize,
}

impl Default for DecoderLimits {
    fn default() -> Self {
        Self { max_parts: 20_000, max_header_bytes: 16 * 1024 }
    }
}

/// One decoded part: its headers and its body (no copy beyond the one out of the network
/// chunk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedPart {
    /// The part's headers.
    pub headers: PartHeaders,
    /// The part's body.
    pub body: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first boundary; bytes here are discarded.
    Preamble,
    /// Right after a boundary: `--` (the end) or a line break (a part follows).
    AfterBoundary,
    /// In a part's header block.
    Headers,
    /// In a part's body.
    Body,
    /// After the closing boundary; bytes here are discarded.
    Epilogue,
}

/// A push decoder: [`feed`](Self::feed) it the body in chunks of any size, then
/// [`finish`](Self::finish) it.
///
/// ```
/// use arterys_protocol::multipart::MultipartDecoder;
/// let body = b"--xyz\r\nContent-Type: text/json\r\n\r\n{}\r\n--xyz\r\n\r\nDICM...\r\n--xyz--\r\n";
/// let mut d = MultipartDecoder::new("xyz").unwrap();
/// for chunk in body.chunks(5) {
///     d.feed(chunk).unwrap();
/// }
/// let (parts, digest) = d.finish().unwrap();
/// assert_eq!(parts.len(), 2);
/// assert_eq!(&parts[1].body[..], b"DICM...");
/// assert!(parts[1].headers.content_type.is_none()); // a part without headers
/// assert_eq!(digest.len(), 32);
/// ```
#[derive(Debug)]
pub struct MultipartDecoder {
    /// `\r\n--boundary`.
    delimiter: Arc<[u8]>,
    finder: memmem::Finder<'static>,
    limits: DecoderLimits,
    state: State,
    /// Bytes at the end of the last chunk that are a prefix of `delimiter`, held back.
    partial: usize,
    /// The current part's header block, starting with the boundary line's `\r\n`.
    header_buf: Vec<u8>,
    line_buf: Vec<u8>,
    headers: PartHeaders,
    body: Vec<u8>,
    parts: Vec<DecodedPart>,
    hasher: Sha256,
    /// Size of the last part, as a capacity hint for the next (slices of a series are alike).
    last_len: usize,
    /// Bytes fed so far.
    seen: u64,
    /// The body's length, when known ([`with_body_len`](Self::with_body_len)).
    body_len: Option<u64>,
}

impl MultipartDecoder {
    /// A decoder for `boundary` with default limits.
    pub fn new(boundary: &str) -> Result<Self, MultipartError> {
        if boundary.is_empty() || boundary.contains(['\r', '\n']) {
            return Err(MultipartError::BadBoundary(boundary.to_owned()));
        }
        let delimiter: Arc<[u8]> = format!("\r\n--{boundary}").into_bytes().into();
        Ok(Self {
            finder: memmem::Finder::new(&delimiter[..]).into_owned(),
            delimiter,
            limits: DecoderLimits::default(),
            state: State::Preamble,
            // As if the body were preceded by a line break, so `--boundary` can open it.
            partial: 2,
            header_buf: Vec::new(),
            line_buf: Vec::new(),
            headers: PartHeaders::default(),
            body: Vec::new(),
            parts: Vec::new(),
            hasher: Sha256::new(),
            last_len: 0,
            seen: 0,
            body_len: None,
        })
    }

    /// The same decoder told the body's length (an HTTP `Content-Length`), which bounds each
    /// part's size. The part after the JSON, whose size nothing else predicts, then gets
    /// its buffer sized once instead of grown by doubling (each doubling copies the part so far
    /// into fresh pages); no part's buffer is ever made larger than what remains of the body.
    ///
    /// ```
    /// use arterys_protocol::multipart::MultipartDecoder;
    /// let body = b"--xyz\r\n\r\n{}\r\n--xyz\r\n\r\nDICM...\r\n--xyz--\r\n";
    /// let mut d = MultipartDecoder::new("xyz").unwrap().with_body_len(body.len() as u64);
    /// d.feed(body).unwrap();
    /// assert_eq!(&d.finish().unwrap().0[1].body[..], b"DICM...");
    /// ```
    pub fn with_body_len(mut self, len: u64) -> Self {
        self.body_len = Some(len);
        self
    }

    /// The same decoder with other limits.
    pub fn with_limits(mut self, limits: DecoderLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Decodes a whole body held in memory.
    pub fn decode(boundary: &str, body: &[u8]) -> Result<(Vec<DecodedPart>, [u8; 32]), MultipartError> {
        let mut d = Self::new(boundary)?;
        d.feed(body)?;
        d.finish()
    }

    /// The parts completed so far.
    pub fn parts(&self) -> &[DecodedPart] {
        &self.parts
    }

    /// Whether the closing boundary has been read.
    pub fn is_complete(&self) -> bool {
        self.state == State::Epilogue
    }

    /// Whether the first boundary has been found (the body is multipart at all).
    pub fn has_started(&self) -> bool {
        self.state != State::Preamble
    }

    /// Feeds the next chunk of the body.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), MultipartError> {
        self.seen += chunk.len() as u64;
        while !chunk.is_empty() {
            let used = match self.state {
                State::Preamble | State::Body => self.scan_body(chunk),
                State::AfterBoundary => self.after_boundary(chunk)?,
                State::Headers => self.read_headers(chunk)?,
                State::Epilogue => chunk.len(),
            };
            chunk = &chunk[used..];
        }
        Ok(())
    }

    /// Ends the body: the parts in order and the SHA-256 of their bodies, or why the body is
    /// incomplete.
    pub fn finish(self) -> Result<(Vec<DecodedPart>, [u8; 32]), MultipartError> {
        match self.state {
            State::Epilogue => Ok((self.parts, self.hasher.finalize().into())),
            State::Preamble if self.seen == 0 => Err(MultipartError::Empty),
            State::Preamble => Err(MultipartError::NoBoundary),
            _ => Err(MultipartError::Unterminated { part: self.parts.len() }),
        }
    }

    fn emit(&mut self, bytes: &[u8]) {
        if self.state == State::Body && !bytes.is_empty() {
            self.hasher.update(bytes);
            self.body.extend_from_slice(bytes);
        }
    }

    /// Body (or preamble) bytes until the next delimiter. Returns the bytes of `chunk` used.
    fn scan_body(&mut self, chunk: &[u8]) -> usize {
        let delim = Arc::clone(&self.delimiter);
        if self.partial > 0 {
            let need = delim.len() - self.partial;
            let k = need.min(chunk.len());
            if chunk[..k] == delim[self.partial..self.partial + k] {
                if k == need {
                    self.partial = 0;
                    self.boundary_found();
                    return k;
                }
                self.partial += k;
                return k;
            }
            // The held-back bytes were data. They are a prefix of the delimiter, whose only
            // `\r` is its first byte, so no later delimiter can start inside them.
            self.emit(&delim[..self.partial]);
            self.partial = 0;
        }
        if let Some(p) = self.finder.find(chunk) {
            self.emit(&chunk[..p]);
            self.boundary_found();
            return p + delim.len();
        }
        // Hold back a tail that may be the start of a delimiter split across chunks.
        let tail_from = chunk.len().saturating_sub(delim.len() - 1);
        if let Some(r) = memchr::memrchr(b'\r', &chunk[tail_from..]).map(|r| r + tail_from) {
            if chunk[r..] == delim[..chunk.len() - r] {
                self.emit(&chunk[..r]);
                self.partial = chunk.len() - r;
                return chunk.len();
            }
        }
        self.emit(chunk);
        chunk.len()
    }

    fn boundary_found(&mut self) {
        if self.state == State::Body {
            let mut body = std::mem::take(&mut self.body);
            // Growth may have left up to half the buffer unused; give it back.
            if body.capacity() - body.len() > body.len() / 8 {
                body.shrink_to_fit();
            }
            self.last_len = body.len();
            let headers = std::mem::take(&mut self.headers);
            self.parts.push(DecodedPart { headers, body: Bytes::from(body) });
        }
        self.state = State::AfterBoundary;
        self.line_buf.clear();
    }

    /// The buffer to start the part beginning now with, `unread` bytes of the current chunk
    /// after its headers. A part is at most what remains of the body, when that is known.
    fn capacity_hint(&self, unread: usize) -> usize {
        let remaining = self.body_len.map(|n| n.saturating_sub(self.seen - unread as u64));
        let bound = remaining.map_or(UNSIZED_HINT_CAP, |r| usize::try_from(r).unwrap_or(usize::MAX));
        let hint = match (self.headers.content_length, remaining) {
            (Some(declared), _) => declared,
            // The part after the JSON: in a one-image request, the rest of the body.
            (None, Some(_)) if self.parts.len() == 1 => bound,
            // Slices of one series are alike in size.
            _ => self.last_len + self.last_len / 16,
        };
        hint.min(bound)
    }

    /// After a boundary: `--` ends the body; otherwise optional white space and a line break.
    fn after_boundary(&mut self, chunk: &[u8]) -> Result<usize, MultipartError> {
        let bad = MultipartError::MalformedBoundaryLine { part: self.parts.len() };
        for (i, &b) in chunk.iter().enumerate() {
            self.line_buf.push(b);
            if self.line_buf == b"--" {
                self.state = State::Epilogue;
                return Ok(i + 1);
            }
            if b == b'\n' {
                let line = &self.line_buf[..self.line_buf.len() - 1];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if !line.iter().all(|c| *c == b' ' || *c == b'\t') {
                    return Err(bad);
                }
                if self.parts.len() >= self.limits.max_parts {
                    return Err(MultipartError::TooManyParts { limit: self.limits.max_parts });
                }
                self.state = State::Headers;
                self.header_buf.clear();
                self.header_buf.extend_from_slice(b"\r\n");
                return Ok(i + 1);
            }
            if self.line_buf.len() > 1 && !self.line_buf.starts_with(b"--") && !matches!(b, b' ' | b'\t' | b'\r')
                || self.line_buf.len() > 256
            {
                return Err(bad);
            }
        }
        Ok(chunk.len())
    }

    /// Header lines up to the blank line. Only the header bytes are copied.
    fn read_headers(&mut self, chunk: &[u8]) -> Result<usize, MultipartError> {
        const END: &[u8] = b"\r\n\r\n";
        let part = self.parts.len();
        let too_large = MultipartError::HeadersTooLarge { part, limit: self.limits.max_header_bytes };
        // The end may straddle the last chunk and this one: look at their 3+3 bytes first.
        let old = self.header_buf.len();
        let keep = old.min(3);
        let mut window = [0u8; 6];
        let head = chunk.len().min(3);
        window[..keep].copy_from_slice(&self.header_buf[old - keep..]);
        window[keep..keep + head].copy_from_slice(&chunk[..head]);
        let end_in_chunk = memmem::find(&window[..keep + head], END)
            .map(|p| p + END.len() - keep)
            .or_else(|| memmem::find(chunk, END).map(|p| p + END.len()));
        let Some(end) = end_in_chunk else {
            if old + chunk.len() > self.limits.max_header_bytes + 2 {
                return Err(too_large);
            }
            self.header_buf.extend_from_slice(chunk);
            return Ok(chunk.len());
        };
        if old + end > self.limits.max_header_bytes + 4 {
            return Err(too_large);
        }
        self.header_buf.extend_from_slice(&chunk[..end]);
        let block_end = self.header_buf.len().saturating_sub(END.len()).max(2);
        self.headers = PartHeaders::parse(&self.header_buf[2..block_end], part)?;
        self.body = Vec::with_capacity(self.capacity_hint(chunk.len() - end));
        self.state = State::Body;
        Ok(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "b0undary";

    fn body() -> Vec<u8> {
        let mut v = b"preamble to ignore\r\n--b0undary\r\nContent-Type: text/json\r\n\r\n{\"a\":1}".to_vec();
        // A body holding near-misses of the delimiter, and CRs at awkward places.
        v.extend_from_slice(b"\r\n--b0undary\r\nContent-Type: application/dicom\r\nContent-Length: 40\r\n\r\n");
        v.extend_from_slice(b"x\r\n--b0undar\r\r\n-\r\n--b0undarX almost\r\r\n\r\n");
        v.extend_from_slice(b"\r\n--b0undary  \r\n\r\n");
        v.extend_from_slice(
            b"\r\n--b0undary\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a b.dcm\"\r\n\r\nlast",
        );
        v.extend_from_slice(b"\r\n--b0undary--\r\nepilogue --b0undary\r\n");
        v
    }

    fn expected() -> Vec<&'static [u8]> {
        vec![b"{\"a\":1}", b"x\r\n--b0undar\r\r\n-\r\n--b0undarX almost\r\r\n\r\n", b"", b"last"]
    }

    #[test]
    fn any_chunking_gives_the_same_parts_and_hash() {
        let body = body();
        let (whole, digest) = MultipartDecoder::decode(B, &body).unwrap();
        let bodies: Vec<&[u8]> = whole.iter().map(|p| &p.body[..]).collect();
        assert_eq!(bodies, expected());
        let mut h = Sha256::new();
        for p in expected() {
            h.update(p);
        }
        assert_eq!(digest, <[u8; 32]>::from(h.finalize()));
        assert_eq!(whole[1].headers.content_length, Some(40));
        assert_eq!(whole[2].headers, PartHeaders::default());
        assert_eq!(whole[3].headers.filename.as_deref(), Some("a b.dcm"));
        assert_eq!(whole[3].headers.name.as_deref(), Some("f"));
        for size in 1..body.len() {
            let mut d = MultipartDecoder::new(B).unwrap();
            if size % 2 == 0 {
                d = d.with_body_len(body.len() as u64);
            }
            for c in body.chunks(size) {
                d.feed(c).unwrap();
            }
            let (parts, dg) = d.finish().unwrap();
            assert_eq!(parts, whole, "chunk size {size}");
            assert_eq!(dg, digest, "chunk size {size}");
        }
        // And split at every single position into two.
        for at in 0..body.len() {
            let mut d = MultipartDecoder::new(B).unwrap();
            d.feed(&body[..at]).unwrap();
            d.feed(&body[at..]).unwrap();
            assert_eq!(d.finish().unwrap().0, whole, "split at {at}");
        }
    }

    #[test]
    fn malformed_bodies_are_named() {
        let err = |b: &[u8]| MultipartDecoder::decode(B, b).unwrap_err().to_string();
        assert_eq!(err(b""), "empty body");
        assert_eq!(err(b"no boundary here"), "no multipart boundary found in the body");
        assert!(err(b"--b0undary\r\n\r\nabc").contains("before its closing boundary"));
        assert!(err(b"--b0undary\r\nNoColonHere\r\n\r\nabc\r\n--b0undary--").contains("malformed header line"));
        assert!(err(b"--b0undaryX\r\n\r\nabc\r\n--b0undary--").contains("malformed multipart boundary line"));
        let long = format!("--b0undary\r\nX-Long: {}\r\n\r\n", "a".repeat(20_000));
        assert!(err(long.as_bytes()).contains("headers of part 0 exceed"));
        let many = "--b0undary\r\n\r\n\r\n".repeat(5) + "--b0undary--";
        let mut d =
            MultipartDecoder::new(B).unwrap().with_limits(DecoderLimits { max_parts: 3, max_header_bytes: 100 });
        assert_eq!(d.feed(many.as_bytes()).unwrap_err(), MultipartError::TooManyParts { limit: 3 });
        assert!(MultipartDecoder::new("").is_err());
    }

    #[test]
    fn part_buffers_are_not_oversized() {
        // Equal-sized parts (a series) get exactly-sized buffers after the first.
        let slice = vec![7u8; 300_000];
        let mut body = Vec::new();
        for _ in 0..4 {
            body.extend_from_slice(b"--b0undary\r\nContent-Type: application/dicom\r\n\r\n");
            body.extend_from_slice(&slice);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--b0undary--");
        let mut d = MultipartDecoder::new(B).unwrap();
        for c in body.chunks(16 * 1024) {
            d.feed(c).unwrap();
        }
        let (parts, _) = d.finish().unwrap();
        assert!(parts.iter().all(|p| p.body.len() == slice.len() && p.body[..] == slice[..]));
    }

    /// Feeds `body` up to the end of the second part's headers and returns that part's buffer
    /// capacity.
    fn capacity_after_headers(d: &mut MultipartDecoder, body: &[u8]) -> usize {
        let at = memmem::rfind(body, b"\r\n\r\n").unwrap() + 4;
        d.feed(&body[..at]).unwrap();
        assert_eq!(d.state, State::Body);
        d.body.capacity()
    }

    #[test]
    fn the_body_length_sizes_the_image_part_once() {
        let image = vec![9u8; 200_000];
        let mut body = b"--b0undary\r\nContent-Type: text/json\r\n\r\n{}\r\n--b0undary\r\n\r\n".to_vec();
        let head = body.len();
        body.extend_from_slice(&image);
        body.extend_from_slice(b"\r\n--b0undary--\r\n");
        let mut d = MultipartDecoder::new(B).unwrap().with_body_len(body.len() as u64);
        // The rest of the body: the image and the closing delimiter, nothing more.
        assert_eq!(capacity_after_headers(&mut d, &body), body.len() - head);
        d.feed(&body[head..]).unwrap();
        assert_eq!(d.finish().unwrap().0[1].body[..], image[..]);
    }

    #[test]
    fn a_claimed_part_length_reserves_no_more_than_the_body() {
        let body = b"--b0undary\r\n\r\n{}\r\n--b0undary\r\nContent-Length: 1073741824\r\n\r\nabc\r\n--b0undary--";
        let mut d = MultipartDecoder::new(B).unwrap().with_body_len(body.len() as u64);
        assert!(capacity_after_headers(&mut d, body) <= 20);
        // Without the body's length, the claim is believed only up to a bound.
        let mut d = MultipartDecoder::new(B).unwrap();
        assert_eq!(capacity_after_headers(&mut d, body), UNSIZED_HINT_CAP);
    }
}

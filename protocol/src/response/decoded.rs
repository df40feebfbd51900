//! Reading a response back: the one response decoder of the workspace (the test tool, the
//! tests and the benchmarks all use it). It names every way an answer breaks the protocol.

use bytes::Bytes;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{InferenceResponse, ResponseJson, ValidationError};
use crate::multipart::{
    boundary_from_content_type, hex, ContentTypeError, DecodedPart, MultipartDecoder, MultipartError,
};

/// One way a received answer breaks the protocol.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The Content-Type is not `multipart/related` with a boundary.
    #[error(transparent)]
    ContentType(#[from] ContentTypeError),
    /// The body is not well-formed multipart.
    #[error("malformed multipart answer: {0}")]
    Multipart(#[from] MultipartError),
    /// No parts at all.
    #[error("the answer has no parts")]
    NoParts,
    /// The first part is not labelled `application/json`.
    #[error("first part's Content-Type is {0:?}, expected application/json")]
    JsonPartType(Option<String>),
    /// The first part does not parse as JSON.
    #[error("first part is not JSON: {0}")]
    NotJson(serde_json::Error),
    /// JSON, but not the protocol's response object.
    #[error("response JSON does not follow the protocol: {0}")]
    Json(serde_json::Error),
    /// No final `text/plain` hashes part.
    #[error("no final text/plain part with the input:output hashes")]
    NoHashes,
    /// A hashes part that is not `<input>:<output>`.
    #[error("hashes part {0:?} is not <input sha256>:<output sha256>")]
    BadHashes(String),
    /// The input hash is not that of what was sent.
    #[error("input hash {got} differs from the SHA-256 of what was sent ({expected})")]
    InputHash {
        /// What the answer says.
        got: String,
        /// What the client computed.
        expected: String,
    },
    /// The output hash is not that of the answer's parts.
    #[error("output hash {got} differs from the SHA-256 of the answer's parts ({expected})")]
    OutputHash {
        /// What the answer says.
        got: String,
        /// The SHA-256 of the JSON and buffers received.
        expected: String,
    },
    /// `parts` and the binary parts differ in number.
    #[error("{parts} parts in the JSON but {buffers} binary parts")]
    PartCount {
        /// Elements of `parts`.
        parts: usize,
        /// Binary parts received.
        buffers: usize,
    },
    /// A buffer sent under the wrong Content-Type.
    #[error("part {index} ({binary_type}) is sent as {sent:?}, expected {expected}")]
    PartType {
        /// Index in `parts`.
        index: usize,
        /// Its `binary_type`.
        binary_type: String,
        /// The Content-Type it came with.
        sent: String,
        /// The one its type needs.
        expected: &'static str,
    },
    /// The paired response breaks a rule of the model.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// A multipart answer split by role: the JSON part, the buffers, the hashes part.
#[derive(Debug, Clone)]
pub struct DecodedResponse {
    parts: Vec<DecodedPart>,
    has_hashes: bool,
}

/// What [`DecodedResponse::check`] found: the response as far as it could be read, and every
/// violation.
#[derive(Debug, Default)]
pub struct ResponseReport {
    /// The response JSON as sent, if it parsed as JSON at all.
    pub json_value: Option<Value>,
    /// The response with its buffers, paired as far as they pair.
    pub response: Option<InferenceResponse>,
    /// Every violation, in the order found.
    pub problems: Vec<ResponseError>,
}

impl ResponseReport {
    /// The response if the answer broke no rule; the first violation otherwise.
    pub fn into_result(self) -> Result<InferenceResponse, ResponseError> {
        match (self.problems.into_iter().next(), self.response) {
            (Some(e), _) => Err(e),
            (None, Some(r)) => Ok(r),
            (None, None) => Err(ResponseError::NoParts),
        }
    }
}

impl DecodedResponse {
    /// Decodes a whole body delimited by the boundary of `content_type`.
    pub fn decode(content_type: &str, body: &[u8]) -> Result<Self, ResponseError> {
        let boundary = boundary_from_content_type(content_type)?;
        let (parts, _) = MultipartDecoder::decode(&boundary, body)?;
        Ok(Self::from_parts(parts))
    }

    /// The parts from a [`MultipartDecoder`] fed as the answer arrived.
    pub fn from_parts(parts: Vec<DecodedPart>) -> Self {
        let has_hashes =
            parts.len() >= 2 && parts.last().and_then(|p| p.headers.essence()).as_deref() == Some("text/plain");
        Self { parts, has_hashes }
    }

    /// The first part.
    pub fn json_part(&self) -> Option<&DecodedPart> {
        self.parts.first()
    }

    /// The final `text/plain` part, if there is one.
    pub fn hashes_part(&self) -> Option<&DecodedPart> {
        self.parts.last().filter(|_| self.has_hashes)
    }

    /// The parts between the JSON and the hashes.
    pub fn buffers(&self) -> &[DecodedPart] {
        let end = self.parts.len() - usize::from(self.has_hashes);
        self.parts.get(1..end).unwrap_or_default()
    }

    /// The `(input, output)` hashes the answer states.
    pub fn stated_hashes(&self) -> Result<(String, String), ResponseError> {
        let h = self.hashes_part().ok_or(ResponseError::NoHashes)?;
        let text = String::from_utf8_lossy(&h.body);
        match text.trim().split_once(':') {
            Some((i, o)) => Ok((i.to_owned(), o.to_owned())),
            None => Err(ResponseError::BadHashes(text.chars().take(140).collect())),
        }
    }

    /// SHA-256 of the JSON and buffers received: what the output hash must be.
    pub fn output_hash(&self) -> String {
        let mut hasher = Sha256::new();
        for p in self.json_part().into_iter().chain(self.buffers()) {
            hasher.update(&p.body);
        }
        hex(&hasher.finalize())
    }

    /// Checks everything: the JSON part, the hashes (the input hash against `input_hash` when
    /// given), the pairing of `parts` and buffers, their Content-Types, and the model's rules.
    pub fn check(&self, input_hash: Option<&str>) -> ResponseReport {
        let mut out = ResponseReport::default();
        let Some(first) = self.json_part() else {
            out.problems.push(ResponseError::NoParts);
            return out;
        };
        let essence = first.headers.essence();
        if essence.as_deref() != Some("application/json") {
            out.problems.push(ResponseError::JsonPartType(essence));
        }
        let value: Value = match serde_json::from_slice(&first.body) {
            Ok(v) => v,
            Err(e) => {
                out.problems.push(ResponseError::NotJson(e));
                return out;
            }
        };
        out.json_value = Some(value.clone());
        let mut json: ResponseJson = match serde_json::from_value(value) {
            Ok(j) => j,
            Err(e) => {
                out.problems.push(ResponseError::Json(e));
                return out;
            }
        };
        match self.stated_hashes() {
            Err(e) => out.problems.push(e),
            Ok((got_in, got_out)) => {
                if let Some(expected) = input_hash.filter(|h| *h != got_in) {
                    out.problems.push(ResponseError::InputHash { got: got_in, expected: expected.to_owned() });
                }
                let expected = self.output_hash();
                if got_out != expected {
                    out.problems.push(ResponseError::OutputHash { got: got_out, expected });
                }
            }
        }
        let buffers = self.buffers();
        if buffers.len() != json.parts.len() {
            out.problems.push(ResponseError::PartCount { parts: json.parts.len(), buffers: buffers.len() });
        }
        for (index, (p, b)) in json.parts.iter().zip(buffers).enumerate() {
            let expected = p.binary_type.mime_type();
            let sent = b.headers.essence().unwrap_or_default();
            if sent != expected {
                let binary_type = p.binary_type.as_str().to_owned();
                out.problems.push(ResponseError::PartType { index, binary_type, sent, expected });
            }
        }
        // Pair what can be paired, then let the model's own validation speak.
        let n = json.parts.len().min(buffers.len());
        json.parts.truncate(n);
        let bytes: Vec<Bytes> = buffers[..n].iter().map(|p| p.body.clone()).collect();
        if let Ok(r) = InferenceResponse::from_parts(json, bytes) {
            out.problems.extend(r.violations().into_iter().map(ResponseError::Invalid));
            out.response = Some(r);
        }
        out
    }

    /// The response if the answer follows the protocol in every respect.
    ///
    /// ```
    /// use arterys_protocol::multipart::{MultipartEncoder, OutgoingPart};
    /// use arterys_protocol::DecodedResponse;
    /// let body: Vec<u8> = MultipartEncoder::new("b", vec![OutgoingPart::new("application/json", r#"{"protocol_version":"1.0","parts":[]}"#)])
    ///     .with_hashes("ab".repeat(32))
    ///     .flat_map(|b| b.to_vec())
    ///     .collect();
    /// let decoded = DecodedResponse::decode("multipart/related; boundary=b", &body).unwrap();
    /// let response = decoded.into_response(Some(&"ab".repeat(32))).unwrap();
    /// assert!(response.json().parts.is_empty());
    /// ```
    pub fn into_response(self, input_hash: Option<&str>) -> Result<InferenceResponse, ResponseError> {
        self.check(input_hash).into_result()
    }
}

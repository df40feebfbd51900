//! What a handler receives: the request JSON, the DICOM instances and the attachments, apart,
//! in request order, with the input hash. Assembled here, and only here, from decoded parts,
//! from a study directory's files, or from bytes in memory.

use std::path::PathBuf;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::facts::PartFacts;
use crate::multipart::{hex, DecodedPart, PartHeaders};
use crate::request::InferenceRequest;
use crate::sniff::looks_like_dicom;

/// One part of the request after the JSON: a DICOM instance or an attachment.
#[derive(Debug, Clone)]
pub struct RequestPart {
    /// Position in the request (0 is the JSON part), so the original order can be rebuilt.
    pub index: usize,
    /// The part's headers (for `studyPath` requests, `filename` is the file's path below the
    /// study directory).
    pub headers: PartHeaders,
    /// The part's bytes, exactly as received (shared, never copied).
    pub body: Bytes,
    /// What the server learned about the part before the handler (for DICOM with
    /// `reserve_decoded_pixels`, the viewer's `ReadOnce`); empty unless something set it.
    pub facts: PartFacts,
}

impl RequestPart {
    /// A part with nothing learned about it yet.
    pub fn new(index: usize, headers: PartHeaders, body: Bytes) -> Self {
        Self { index, headers, body, facts: PartFacts::default() }
    }
}

/// Everything a handler gets for one request.
#[derive(Debug, Clone)]
pub struct InferenceInput {
    /// The parsed JSON part.
    pub request: InferenceRequest,
    /// The JSON part's bytes, as sent.
    pub json: Bytes,
    /// The DICOM instances, in request order (the client sorted them by series and position).
    pub dicom: Vec<RequestPart>,
    /// Other parts (e.g. a license file), in request order.
    pub attachments: Vec<RequestPart>,
    /// SHA-256 (lowercase hex) of every part body in order, JSON included (for `studyPath`
    /// requests, of the JSON body the client sent).
    pub input_hash: String,
    /// The route that received the request.
    pub route: String,
    /// For `studyPath` requests, the resolved directory the DICOM files were read from.
    pub study_dir: Option<PathBuf>,
}

/// Why a request's parts do not make an inference input. [`InputError::is_client_content`]
/// tells a malformed request (400) from content that cannot be processed (422).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// A multipart body without parts.
    #[error("multipart body has no parts")]
    NoParts,
    /// The JSON part (or body) does not parse.
    #[error("{what} is not JSON: {source}")]
    NotJson {
        /// Which part.
        what: &'static str,
        /// The parser's reason.
        source: serde_json::Error,
    },
    /// Valid JSON, but not an object.
    #[error("{what} is not a JSON object")]
    NotObject {
        /// Which part.
        what: &'static str,
    },
    /// A JSON object whose known keys have the wrong types.
    #[error("{what}: {source}")]
    BadRequest {
        /// Which part.
        what: &'static str,
        /// The parser's reason.
        source: serde_json::Error,
    },
    /// A part labelled `application/dicom` that is not DICOM.
    #[error("part {0} is labelled application/dicom but is not DICOM")]
    LabelledNotDicom(usize),
    /// No DICOM instance among the parts.
    #[error("request has no DICOM images")]
    NoDicom,
    /// An `application/json` request without `studyPath`.
    #[error("application/json request without studyPath")]
    NoStudyPath,
    /// A study directory without DICOM files.
    #[error("studyPath holds no DICOM files")]
    StudyHasNoDicom,
}

impl InputError {
    /// Whether the request was well-formed but its content cannot be processed (422), rather
    /// than malformed (400).
    pub fn is_client_content(&self) -> bool {
        matches!(self, Self::LabelledNotDicom(_) | Self::StudyHasNoDicom)
    }
}

/// Parses a request JSON object, as the first part or a `studyPath` body.
pub fn parse_request_json(bytes: &[u8], what: &'static str) -> Result<InferenceRequest, InputError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|source| InputError::NotJson { what, source })?;
    if !value.is_object() {
        return Err(InputError::NotObject { what });
    }
    serde_json::from_value(value).map_err(|source| InputError::BadRequest { what, source })
}

impl InferenceInput {
    /// Assembles a decoded multipart request: the first part is the JSON;
    /// `application/dicom` parts (or unlabelled ones that look like DICOM) are the images; the
    /// rest are attachments. `input_hash` is the decoder's digest in hex.
    ///
    /// ```
    /// use arterys_protocol::multipart::MultipartDecoder;
    /// use arterys_protocol::{hex, InferenceInput};
    /// let mut dcm = vec![0u8; 132];
    /// dcm[128..].copy_from_slice(b"DICM");
    /// let mut body = b"--b\r\n\r\n{}\r\n--b\r\nContent-Type: application/dicom\r\n\r\n".to_vec();
    /// body.extend_from_slice(&dcm);
    /// body.extend_from_slice(b"\r\n--b--\r\n");
    /// let (parts, digest) = MultipartDecoder::decode("b", &body).unwrap();
    /// let input = InferenceInput::from_parts(parts, hex(&digest), "/").unwrap();
    /// assert_eq!((input.dicom.len(), input.dicom[0].index), (1, 1));
    /// ```
    pub fn from_parts(
        parts: Vec<DecodedPart>,
        input_hash: String,
        route: impl Into<String>,
    ) -> Result<Self, InputError> {
        let mut parts = parts.into_iter();
        let first = parts.next().ok_or(InputError::NoParts)?;
        let request = parse_request_json(&first.body, "first part")?;
        let (mut dicom, mut attachments) = (Vec::new(), Vec::new());
        for (i, p) in parts.enumerate() {
            let index = i + 1;
            let is_dicom = match p.headers.essence().as_deref() {
                Some("application/dicom") if !looks_like_dicom(&p.body) => {
                    return Err(InputError::LabelledNotDicom(index))
                }
                Some("application/dicom") => true,
                Some("application/octet-stream") => false,
                _ => looks_like_dicom(&p.body),
            };
            let part = RequestPart::new(index, p.headers, p.body);
            if is_dicom { &mut dicom } else { &mut attachments }.push(part);
        }
        if dicom.is_empty() {
            return Err(InputError::NoDicom);
        }
        let route = route.into();
        Ok(Self { request, json: first.body, dicom, attachments, input_hash, route, study_dir: None })
    }

    /// Assembles a `studyPath` request from its JSON body and the study's files (name below
    /// the study directory, bytes). The input hash is that of the JSON body, what the client
    /// sent, so that the client can check it.
    pub fn from_study_files(
        json: Bytes,
        files: Vec<(String, Vec<u8>)>,
        route: impl Into<String>,
        study_dir: PathBuf,
    ) -> Result<Self, InputError> {
        let request = parse_request_json(&json, "request body")?;
        if request.study_path.is_none() {
            return Err(InputError::NoStudyPath);
        }
        let (mut dicom, mut attachments) = (Vec::new(), Vec::new());
        for (i, (name, bytes)) in files.into_iter().enumerate() {
            let headers = PartHeaders { filename: Some(name), ..PartHeaders::default() };
            let is_dicom = looks_like_dicom(&bytes);
            let part = RequestPart::new(i + 1, headers, Bytes::from(bytes));
            if is_dicom { &mut dicom } else { &mut attachments }.push(part);
        }
        if dicom.is_empty() {
            return Err(InputError::StudyHasNoDicom);
        }
        let input_hash = hex(&Sha256::digest(&json));
        let route = route.into();
        Ok(Self { request, json, dicom, attachments, input_hash, route, study_dir: Some(study_dir) })
    }

    /// An input built in memory (start-up checks, tests, benchmarks): `request` serialized as
    /// the JSON part, each buffer a DICOM part, the input hash computed as a client's would
    /// be, route `/`.
    ///
    /// ```
    /// use arterys_protocol::InferenceInput;
    /// let input = InferenceInput::from_dicom(Default::default(), [bytes::Bytes::from_static(b"DICM")]);
    /// assert_eq!((input.dicom.len(), input.input_hash.len()), (1, 64));
    /// ```
    pub fn from_dicom(request: InferenceRequest, dicom: impl IntoIterator<Item = Bytes>) -> Self {
        // A map of strings and JSON values always serializes.
        let json = Bytes::from(serde_json::to_vec(&request).unwrap_or_else(|_| b"{}".to_vec()));
        let mut hasher = Sha256::new();
        hasher.update(&json);
        let dicom: Vec<RequestPart> = dicom
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                hasher.update(&body);
                RequestPart::new(i + 1, PartHeaders::default(), body)
            })
            .collect();
        let input_hash = hex(&hasher.finalize());
        Self { request, json, dicom, attachments: Vec::new(), input_hash, route: "/".into(), study_dir: None }
    }

    /// The DICOM instances and attachments interleaved in their original request order.
    pub fn parts_in_order(&self) -> Vec<&RequestPart> {
        let mut all: Vec<&RequestPart> = self.dicom.iter().chain(&self.attachments).collect();
        all.sort_by_key(|p| p.index);
        all
    }
}

//! [`ArterysRequest`]: an axum extractor that reads a protocol request as it streams in.
//!
//! A `multipart/related` body goes through the protocol's push decoder frame by frame (each
//! byte copied once into its part and hashed in the same pass); an `application/json` body
//! is the `studyPath` variant, read from below the study root.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use http::header;
use http_body_util::BodyExt;

use crate::budget::{MemoryBudget, Reservation};
use crate::error::GatewayError;
use crate::multipart::{boundary_from_content_type, hex, ContentTypeError, DecoderLimits, MultipartDecoder};
use crate::rate::BodyRate;
use crate::study_path::{self, StudyPathError};
use crate::InferenceInput;

/// What a request may be: body sizes, part limits, where `studyPath` studies live.
#[derive(Debug, Clone)]
pub struct RequestLimits {
    /// Largest body (and largest study read through `studyPath`), in bytes.
    pub body_limit: u64,
    /// Largest `studyPath` JSON body, in bytes.
    pub json_limit: u64,
    /// Limits on parts and part headers.
    pub decoder: DecoderLimits,
    /// The directory `studyPath` requests read below (canonical); `None` disables them.
    pub study_root: Option<PathBuf>,
    /// The process's memory budget; bodies are read only into reserved room. `None`: not
    /// accounted.
    pub budget: Option<MemoryBudget>,
    /// The slowest body accepted.
    pub body_rate: BodyRate,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            body_limit: 4 << 30,
            json_limit: 1 << 20,
            decoder: DecoderLimits::default(),
            study_root: None,
            budget: None,
            body_rate: BodyRate::default(),
        }
    }
}

/// Reserves room for a body step by step when its length is not declared.
const BUDGET_STEP: u64 = 4 << 20;

/// An inference request read off the wire: the handler's input and the boundary to answer
/// with. As an extractor it takes its [`RequestLimits`] from the request's extensions (an
/// `Extension(Arc<RequestLimits>)` layer), or the defaults.
///
/// ```
/// use arterys_gateway::ArterysRequest;
/// async fn count(req: ArterysRequest) -> String {
///     format!("{} images", req.input.dicom.len())
/// }
/// let _app: axum::Router = axum::Router::new().route("/count", axum::routing::post(count));
/// ```
#[derive(Debug)]
pub struct ArterysRequest {
    /// What the handler gets.
    pub input: InferenceInput,
    /// The request's boundary (or one made for a `studyPath` request).
    pub boundary: String,
    /// The body's share of the memory budget (when one is configured): hold it as long as the
    /// input lives.
    pub memory: Option<Reservation>,
}

impl<S: Send + Sync> FromRequest<S> for ArterysRequest {
    type Rejection = GatewayError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, GatewayError> {
        let limits = req.extensions().get::<Arc<RequestLimits>>().cloned().unwrap_or_default();
        read(req, &limits).await
    }
}

/// Reads the request under `limits`. A request refused before its body is read whole has
/// the rest drained in the background (up to a bound) while the refusal is written, so the
/// client reads the answer; except a body that was too slow, whose connection just ends.
pub(crate) async fn read(req: Request, limits: &RequestLimits) -> Result<ArterysRequest, GatewayError> {
    let (head, mut body) = req.into_parts();
    let result = read_body(&head, &mut body, limits).await;
    if let Err(e) = &result {
        if !matches!(e, GatewayError::BodyTooSlow { .. } | GatewayError::BodyRead(_)) {
            crate::linger::drain_after_answer(&head.headers, body);
        }
    }
    result
}

async fn read_body(
    req: &http::request::Parts,
    body: &mut Body,
    limits: &RequestLimits,
) -> Result<ArterysRequest, GatewayError> {
    let route = req.uri.path().to_owned();
    let limit = limits.body_limit;
    let declared = declared_length(&req.headers);
    if let Some(len) = declared.filter(|&len| len > limit) {
        return Err(GatewayError::BodyTooLarge { declared: Some(len), limit });
    }
    let content_type = req
        .headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().map(str::to_owned).map_err(|_| GatewayError::ContentTypeNotAscii))
        .transpose()?
        .ok_or(ContentTypeError::Missing)?;
    if content_type.split(';').next().is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json")) {
        let json = read_limited(body, limits.json_limit).await?;
        return study_path_request(limits, route, json).await;
    }
    let boundary = boundary_from_content_type(&content_type)?;
    let mut decoder = MultipartDecoder::new(&boundary)?.with_limits(limits.decoder);
    if let Some(len) = declared {
        decoder = decoder.with_body_len(len);
    }
    let (_, mut memory) = read_reserved(body, declared, limits, |data| {
        decoder.feed(&data)?;
        Ok(decoder.is_complete())
    })
    .await?;
    let (parts, digest) = decoder.finish()?;
    // The JSON part is parsed into a tree several times its size: counted before parsing.
    if let (Some(m), Some(json)) = (memory.as_mut(), parts.first()) {
        let b = m.budget().clone();
        m.grow(json_parse_cost(json.body.len()), tokio::time::Instant::now() + b.wait()).await?;
    }
    let input = InferenceInput::from_parts(parts, hex(&digest), route)?;
    Ok(ArterysRequest { input, boundary, memory })
}

/// Memory that parsing `len` bytes of JSON into a `serde_json::Value` tree may take: a value
/// is 32 bytes, the shortest JSON value with its separator 2 (`0,`), and a growing array may
/// hold twice its length.
pub(crate) fn json_parse_cost(len: usize) -> u64 {
    (len as u64).saturating_mul(32)
}

/// Reads a body into reserved room under `limits` (body limit, minimum rate, budget), handing
/// each chunk to `sink` until it says the body is complete (or the body ends). A declared
/// length is reserved whole before a byte is read; otherwise room is reserved step by step.
/// Returns the bytes received and the reservation, shrunk to them.
pub(crate) async fn read_reserved<F>(
    body: &mut Body,
    declared: Option<u64>,
    limits: &RequestLimits,
    mut sink: F,
) -> Result<(u64, Option<Reservation>), GatewayError>
where
    F: FnMut(Bytes) -> Result<bool, GatewayError>,
{
    let limit = limits.body_limit;
    if let Some(len) = declared.filter(|&len| len > limit) {
        return Err(GatewayError::BodyTooLarge { declared: Some(len), limit });
    }
    let mut memory = match &limits.budget {
        Some(b) => Some(b.reserve(declared.unwrap_or(BUDGET_STEP)).await?),
        None => None,
    };
    let mut received = 0u64;
    let mut start = tokio::time::Instant::now();
    loop {
        let next = body.frame();
        let frame = match limits.body_rate.deadline(start, received) {
            Some(deadline) => tokio::time::timeout_at(deadline, next)
                .await
                .map_err(|_| GatewayError::BodyTooSlow { received, rate: limits.body_rate })?,
            None => next.await,
        };
        let Some(frame) = frame else { break };
        let Ok(data) = frame.map_err(GatewayError::BodyRead)?.into_data() else { continue };
        received += data.len() as u64;
        if received > limit {
            return Err(GatewayError::BodyTooLarge { declared: None, limit });
        }
        if let (Some(m), Some(b)) = (memory.as_mut(), &limits.budget) {
            if received > m.bytes() {
                let waiting = tokio::time::Instant::now();
                let more = (received - m.bytes()).max(BUDGET_STEP);
                m.grow(more, waiting + b.wait()).await?;
                start += waiting.elapsed();
            }
        }
        if sink(data)? {
            break;
        }
    }
    if let Some(m) = memory.as_mut() {
        m.shrink_to(received);
    }
    Ok((received, memory))
}

/// The body's `Content-Length`, when it has a readable one.
pub(crate) fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
}

async fn read_limited(body: &mut Body, limit: u64) -> Result<Bytes, GatewayError> {
    let limited = http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(GatewayError::JsonTooLarge(limit)),
        Err(e) => Err(GatewayError::BodyRead(axum::Error::new(e))),
    }
}

/// `{"studyPath": ...}`: the images are read from below the study root, off the async
/// threads.
async fn study_path_request(
    limits: &RequestLimits,
    route: String,
    json: Bytes,
) -> Result<ArterysRequest, GatewayError> {
    // The JSON's parsed tree, then the study's bytes, are reserved before they exist.
    let wait = |b: &MemoryBudget| tokio::time::Instant::now() + b.wait();
    let mut memory = match &limits.budget {
        Some(b) => Some(b.reserve(json.len() as u64 + json_parse_cost(json.len())).await?),
        None => None,
    };
    let request = crate::parse_request_json(&json, "request body")?;
    let requested = request.study_path.ok_or(crate::InputError::NoStudyPath)?;
    let root = limits.study_root.clone().ok_or(StudyPathError::Disabled)?;
    let limit = limits.body_limit;
    let listed = root.clone();
    let (dir, size) = blocking(move || {
        let dir = study_path::resolve(&listed, &requested)?;
        let size = study_path::study_size(&listed, &dir, limit)?;
        Ok((dir, size))
    })
    .await?;
    if let (Some(m), Some(b)) = (memory.as_mut(), &limits.budget) {
        m.grow(size, wait(b)).await?;
    }
    let study = dir.clone();
    // Read no more than was reserved: a study that grew since it was listed is refused.
    let files = blocking(move || study_path::read_study(&root, &study, size)).await?;
    let input = InferenceInput::from_study_files(json, files, route, dir)?;
    let boundary = format!("arterys-{}", &input.input_hash[..24]);
    Ok(ArterysRequest { input, boundary, memory })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StudyPathError> + Send + 'static,
) -> Result<T, GatewayError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| GatewayError::Internal("reading the study failed"))?
        .map_err(Into::into)
}

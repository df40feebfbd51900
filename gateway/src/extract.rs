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

use crate::error::GatewayError;
use crate::multipart::{boundary_from_content_type, hex, ContentTypeError, DecoderLimits, MultipartDecoder};
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
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self { body_limit: 4 << 30, json_limit: 1 << 20, decoder: DecoderLimits::default(), study_root: None }
    }
}

/// An inference request read off the wire: the handler's input and the boundary to answer
/// with. As an extractor it takes its [`RequestLimits`] from the request's extensions (an
/// `Extension(Arc<RequestLimits>)` layer), or the defaults.
///
/// ```
/// use arterys_gateway::extract::ArterysRequest;
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
}

impl<S: Send + Sync> FromRequest<S> for ArterysRequest {
    type Rejection = GatewayError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, GatewayError> {
        let limits = req.extensions().get::<Arc<RequestLimits>>().cloned().unwrap_or_default();
        read(req, &limits).await
    }
}

/// Reads the request under `limits`.
pub(crate) async fn read(req: Request, limits: &RequestLimits) -> Result<ArterysRequest, GatewayError> {
    let route = req.uri().path().to_owned();
    let limit = limits.body_limit;
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(len) = declared.filter(|&len| len > limit) {
        return Err(GatewayError::BodyTooLarge { declared: Some(len), limit });
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().map(str::to_owned).map_err(|_| GatewayError::ContentTypeNotAscii))
        .transpose()?
        .ok_or(ContentTypeError::Missing)?;
    if content_type.split(';').next().is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json")) {
        let json = read_limited(req.into_body(), limits.json_limit).await?;
        return study_path_request(limits, route, json).await;
    }
    let boundary = boundary_from_content_type(&content_type)?;
    let mut decoder = MultipartDecoder::new(&boundary)?.with_limits(limits.decoder);
    let mut body = req.into_body();
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(GatewayError::BodyRead)?.into_data() else { continue };
        received += data.len() as u64;
        if received > limit {
            return Err(GatewayError::BodyTooLarge { declared: None, limit });
        }
        decoder.feed(&data)?;
        if decoder.is_complete() {
            break;
        }
    }
    let (parts, digest) = decoder.finish()?;
    let input = InferenceInput::from_parts(parts, hex(&digest), route)?;
    Ok(ArterysRequest { input, boundary })
}

async fn read_limited(body: Body, limit: u64) -> Result<Bytes, GatewayError> {
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
    let request = crate::parse_request_json(&json, "request body")?;
    let requested = request.study_path.ok_or(crate::InputError::NoStudyPath)?;
    let root = limits.study_root.clone().ok_or(StudyPathError::Disabled)?;
    let limit = limits.body_limit;
    let (dir, files) = tokio::task::spawn_blocking(move || {
        let dir = study_path::resolve(&root, &requested)?;
        let files = study_path::read_study(&root, &dir, limit)?;
        Ok::<_, StudyPathError>((dir, files))
    })
    .await
    .map_err(|_| GatewayError::Internal("reading the study failed"))??;
    let input = InferenceInput::from_study_files(json, files, route, dir)?;
    let boundary = format!("arterys-{}", &input.input_hash[..24]);
    Ok(ArterysRequest { input, boundary })
}

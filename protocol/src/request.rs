//! The request's first part: a JSON object with a few known keys and any others.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// What the client asks the model to do (`inference_command`).
///
/// The two values the Arterys app sends are named; any other string is kept as is so that a
/// service with more outputs can dispatch on it.
///
/// ```
/// use arterys_protocol::InferenceCommand;
/// let c: InferenceCommand = serde_json::from_str("\"get-bounding-box-2d\"").unwrap();
/// assert_eq!(c, InferenceCommand::BoundingBox2d);
/// let other: InferenceCommand = serde_json::from_str("\"count-nodules\"").unwrap();
/// assert_eq!(other.as_str(), "count-nodules");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InferenceCommand {
    /// `get-bounding-box-2d`
    BoundingBox2d,
    /// `get-probability-mask`
    ProbabilityMask,
    /// Any other value, verbatim.
    Other(String),
}

impl InferenceCommand {
    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::BoundingBox2d => "get-bounding-box-2d",
            Self::ProbabilityMask => "get-probability-mask",
            Self::Other(s) => s,
        }
    }
}

impl From<&str> for InferenceCommand {
    fn from(s: &str) -> Self {
        match s {
            "get-bounding-box-2d" => Self::BoundingBox2d,
            "get-probability-mask" => Self::ProbabilityMask,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl Serialize for InferenceCommand {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for InferenceCommand {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::from(s.as_str()))
    }
}

/// The request's JSON part. Every key is optional; unknown keys (such as the test tool's
/// `--request_options`) are kept in [`InferenceRequest::options`].
///
/// ```
/// use arterys_protocol::{InferenceCommand, InferenceRequest};
/// let r: InferenceRequest = serde_json::from_str(
///     r#"{"inference_command": "get-probability-mask", "studyUID": "1.2.3",
///         "depth": 3, "height": "512", "width": 512, "threshold": "0.4"}"#,
/// ).unwrap();
/// assert_eq!(r.inference_command, Some(InferenceCommand::ProbabilityMask));
/// assert_eq!(r.height, Some(512)); // numbers sent as strings are accepted
/// assert_eq!(r.option("threshold"), Some("0.4"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InferenceRequest {
    /// What to compute; absent for single-model services.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_command: Option<InferenceCommand>,
    /// The study's StudyInstanceUID.
    #[serde(rename = "studyUID", skip_serializing_if = "Option::is_none")]
    pub study_uid: Option<String>,
    /// A directory (on a volume shared with the service) holding the study, for requests
    /// that do not carry the images.
    #[serde(rename = "studyPath", skip_serializing_if = "Option::is_none")]
    pub study_path: Option<String>,
    /// Number of slices, sent when the client is asked to (`-S`).
    #[serde(default, deserialize_with = "lenient_u32", skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    /// Image rows, sent with `depth`.
    #[serde(default, deserialize_with = "lenient_u32", skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Image columns, sent with `depth`.
    #[serde(default, deserialize_with = "lenient_u32", skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Every other key, as sent.
    #[serde(flatten)]
    pub options: Map<String, Value>,
}

impl InferenceRequest {
    /// A free option as text: strings as they are, other JSON values in their JSON form.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).and_then(Value::as_str)
    }
}

/// Accepts `512`, `"512"` or `null`: clients disagree on how they send sizes.
fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    use serde::de::Error;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected a size, got {n}"))),
        Some(Value::String(s)) => {
            s.trim().parse().map(Some).map_err(|_| D::Error::custom(format!("expected a size, got {s:?}")))
        }
        Some(other) => Err(D::Error::custom(format!("expected a size, got {other}"))),
    }
}

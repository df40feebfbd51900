//! A MONAI Label server's REST subset for the models with `monailabel: true`: `GET /info/`
//! (the app and its models as MONAI Label reports them) and `POST /infer/{model}` with an
//! uploaded image (`file`: DICOM, a zip of a DICOM series, or NIfTI) and the `params` form
//! field, answered as MONAI Label does: a `multipart/form-data` body with the result JSON
//! (`params`) and the label (`image`, NIfTI `.nii.gz`); `?output=json` or `?output=image` for
//! one of them. Errors are MONAI Label's (FastAPI's) `{"detail": "..."}` with a 4xx or 5xx.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arterys_gateway::budget::{BudgetError, Reservation};
use arterys_gateway::dicom::limits::decoded_size;
use arterys_gateway::{Admission, Admitted};
use arterys_gateway::{GatewayError, HandlerError};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::form;
use super::label::{label_of, LabelImage};
use super::upload::{InflateLimits, Upload, UploadError};
use super::{answer_files, nifti_io};
use crate::config::{Layout, ModelConfig, OutputKind};
use crate::service::ModelSlot;

/// The MONAI Label version whose API this subset follows (its client checks nothing more).
pub const API_VERSION: &str = "0.8.5";

/// A served model as MONAI Label sees it.
#[derive(Clone)]
pub struct MonaiModel {
    /// Its name in `/info/` and `/infer/{name}`.
    pub name: String,
    /// Its config (labels, type, dimension).
    pub config: ModelConfig,
    /// The loaded model.
    pub slot: ModelSlot,
}

struct AppState {
    models: Vec<MonaiModel>,
    admission: Admission,
    inflate: InflateLimits,
}

/// A MONAI Label error: the status and FastAPI's `{"detail": ...}` body (a 503 says
/// `Retry-After` as the gateway's do).
#[derive(Debug, thiserror::Error)]
#[error("{status}: {detail}")]
pub struct MonaiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The one-line reason.
    pub detail: String,
}

impl From<GatewayError> for MonaiError {
    fn from(e: GatewayError) -> Self {
        Self::new(e.status(), e.to_string())
    }
}

impl From<BudgetError> for MonaiError {
    fn from(e: BudgetError) -> Self {
        GatewayError::from(e).into()
    }
}

impl From<UploadError> for MonaiError {
    fn from(e: UploadError) -> Self {
        Self::new(e.status(), e.to_string())
    }
}

impl MonaiError {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self { status, detail: detail.into() }
    }
}

impl From<HandlerError> for MonaiError {
    fn from(e: HandlerError) -> Self {
        Self::new(e.status(), e.message())
    }
}

impl IntoResponse for MonaiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(json!({"detail": self.detail}))).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static(RETRY_AFTER_SECS));
        }
        resp
    }
}

/// What a 503 tells the client to wait before trying again (as the gateway's routes say).
const RETRY_AFTER_SECS: &str = "5";

/// The MONAI Label routes for `models`, admitted as the gateway's own routes are (mount them
/// with [`Gateway::merge_admitted`](arterys_gateway::Gateway::merge_admitted)): each upload
/// waits for one of the gateway's inference permits before its body is read, is read into
/// the memory budget under the body limit and minimum rate, inflates within
/// [`InflateLimits`] (the absolute limit being the body limit) and runs under the handler
/// deadline.
///
/// ```
/// use arterys_model_server::platform::monailabel;
/// let gw = arterys_gateway::Gateway::new().merge_admitted(|adm| monailabel::router(Vec::new(), adm));
/// let _app: axum::Router = gw.into_router();
/// ```
pub fn router(models: Vec<MonaiModel>, admission: Admission) -> Router {
    let body_limit = admission.body_limit();
    let inflate = InflateLimits { max_bytes: body_limit, ..InflateLimits::default() };
    let state = Arc::new(AppState { models, admission, inflate });
    Router::new().route("/info/", get(info)).route("/infer/{model}", post(infer)).with_state(state)
}

/// MONAI Label's model type for a config: segmentation when it gives a label image.
pub fn model_type(config: &ModelConfig) -> &'static str {
    let has = |k: OutputKind| config.outputs.iter().any(|o| o.kind == k);
    if has(OutputKind::ProbabilityMask) || has(OutputKind::NumericLabelMask) {
        "segmentation"
    } else if has(OutputKind::Boxes) {
        "detection"
    } else {
        "classification"
    }
}

/// The label names and values a config's label image uses (or its classes when it has none).
pub fn labels(config: &ModelConfig) -> BTreeMap<String, u32> {
    let mask =
        config.outputs.iter().find(|o| matches!(o.kind, OutputKind::ProbabilityMask | OutputKind::NumericLabelMask));
    match mask {
        Some(o) if o.kind == OutputKind::NumericLabelMask => {
            o.classes.iter().enumerate().skip(1).map(|(k, n)| (n.clone(), k as u32)).collect()
        }
        Some(o) => BTreeMap::from([(o.label.clone().unwrap_or_else(|| o.name.clone()), 1)]),
        None => {
            let named = config.outputs.iter().find(|o| !o.classes.is_empty());
            named
                .map(|o| o.classes.iter().enumerate().map(|(k, n)| (n.clone(), k as u32)).collect())
                .unwrap_or_default()
        }
    }
}

async fn info(State(state): State<Arc<AppState>>) -> Json<Value> {
    let mut all: Vec<String> = Vec::new();
    let mut models = Map::new();
    for m in &state.models {
        let labels = labels(&m.config);
        all.extend(labels.keys().filter(|l| !all.contains(l)).cloned().collect::<Vec<_>>());
        let dimension = if m.config.input.layout == Layout::Ncdhw { 3 } else { 2 };
        models.insert(
            m.name.clone(),
            json!({
                "type": model_type(&m.config),
                "labels": labels,
                "dimension": dimension,
                "description": format!("{} served by model-server (input {:?} {:?})",
                    m.name, m.config.input.layout, m.config.input.dims()),
                "config": {},
            }),
        );
    }
    Json(json!({
        "name": "arterys-model-server",
        "description": "Configured models served by model-server (MONAI Label API subset: info, infer)",
        "version": env!("CARGO_PKG_VERSION"),
        "labels": all,
        "models": models,
        "trainers": {},
        "strategies": {},
        "scoring": {},
        "train_stats": {},
        "datastore": {"total": 0, "completed": 0},
    }))
}

#[derive(Deserialize)]
struct InferQuery {
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    output: Option<String>,
}

/// What a request asks for back.
#[derive(Clone, Copy, PartialEq)]
enum Output {
    All,
    Image,
    Json,
}

async fn infer(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(query): Query<InferQuery>,
    req: Request,
) -> Result<Response, MonaiError> {
    let started = Instant::now();
    // A permit, then the whole body into reserved room; the form is read before any other
    // check, as FastAPI does: an error answered while the client still sends would reach it
    // as a broken pipe instead of the reason.
    let mut admitted = state.admission.admit(req).await?;
    let (file, params) = read_form(&mut admitted)?;
    let model = state.models.iter().find(|m| m.name == name).cloned().ok_or_else(|| {
        let known: Vec<&str> = state.models.iter().map(|m| m.name.as_str()).collect();
        MonaiError::new(StatusCode::NOT_FOUND, format!("Model {name} not found (models: {})", known.join(", ")))
    })?;
    let output = match query.output.as_deref() {
        None | Some("all") => Output::All,
        Some("image") => Output::Image,
        Some("json") => Output::Json,
        Some(other) => {
            return Err(MonaiError::new(
                StatusCode::BAD_REQUEST,
                format!("output {other:?} is not supported here: use image, json or all"),
            ))
        }
    };
    let Some(file) = file else {
        let what = query.image.map_or_else(String::new, |i| format!(" (image {i:?})"));
        return Err(MonaiError::new(
            StatusCode::BAD_REQUEST,
            format!("no image file uploaded{what}: this server has no datastore, send the image as the file field"),
        ));
    };
    if model.config.outputs.iter().all(|o| o.kind == OutputKind::Heatmap) {
        return Err(MonaiError::new(
            StatusCode::BAD_REQUEST,
            format!("model {name} gives only heatmaps, which MONAI Label cannot receive (no label, no result)"),
        ));
    }
    if output == Output::Image && model_type(&model.config) != "segmentation" {
        return Err(MonaiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "model {name} gives no label image (it is a {} model): ask for output=json",
                model_type(&model.config)
            ),
        ));
    }
    let inflate = state.inflate;
    let mut memory = admitted.memory.take();
    let run = state
        .admission
        .run_blocking(admitted, move |_| {
            let run = run(&model, file, params, started, inflate, memory.as_mut());
            drop(memory);
            run
        })
        .await?;
    Ok(respond(run, output, &name))
}

/// The `file` upload and the `params` JSON of the admitted body's form; the file is a slice
/// of the body (held once, counted once).
fn read_form(admitted: &mut Admitted) -> Result<(Option<Bytes>, Value), MonaiError> {
    let unprocessable = |e: form::FormError| MonaiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
    let content_type = admitted.head.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let boundary =
        form::boundary(content_type).map_err(|e| MonaiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()))?;
    let body = std::mem::take(&mut admitted.body);
    let (mut file, mut params) = (None, json!({}));
    for field in form::fields(&body, &boundary).map_err(unprocessable)? {
        match field.name.as_deref() {
            Some("file") => file = Some(field.body),
            Some("params") => {
                let text = std::str::from_utf8(&field.body)
                    .map_err(|_| MonaiError::new(StatusCode::UNPROCESSABLE_ENTITY, "params is not UTF-8 text"))?;
                if !text.trim().is_empty() {
                    params = serde_json::from_str(text).map_err(|e| {
                        MonaiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("params is not JSON: {e}"))
                    })?;
                }
            }
            // `label` (scribbles, clicks) and the rest: not used by these models.
            _ => {}
        }
    }
    Ok((file, params))
}

/// One inference's results: the result JSON and the label file.
struct Run {
    params: Value,
    label: Option<Vec<u8>>,
}

fn run(
    model: &MonaiModel,
    file: Bytes,
    params: Value,
    started: Instant,
    inflate: InflateLimits,
    mut memory: Option<&mut Reservation>,
) -> Result<Run, MonaiError> {
    let loaded = model
        .slot
        .model
        .get()
        .ok_or_else(|| MonaiError::new(StatusCode::SERVICE_UNAVAILABLE, "the model is still loading"))?;
    let upload = Upload::read(file, inflate, memory.as_deref_mut())?;
    let (files, nifti) = match upload {
        Upload::Dicom(files) => (files, None),
        Upload::Nifti(mut n) => (std::mem::take(&mut n.slices), Some(n)),
    };
    // What the model decodes, as the Arterys route reserves it (`reserve_decoded_pixels`).
    if let Some(m) = memory {
        m.try_grow(files.iter().map(|f| decoded_size(f).unwrap_or(0)).sum())?;
    }
    let pre = started.elapsed().as_secs_f64();
    let (response, study) = answer_files(loaded, files.clone())?;
    let inferred = started.elapsed().as_secs_f64();
    let mut label = label_of(&response, &study, &files);
    if let (Some(l), Some(n)) = (&mut label, &nifti) {
        *l = in_input_order(l, &study, n.dims);
    }
    let file = label
        .as_ref()
        .map(|l| nifti_io::write_label(l, nifti.as_ref().map(|n| &n.header)))
        .transpose()
        .map_err(|e| MonaiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let total = started.elapsed().as_secs_f64();
    let json = response.json();
    let mut result = json!({
        "model": model.name,
        "label_names": label.as_ref().map(|l| l.names.clone()).unwrap_or_default(),
        "latencies": {
            "pre": round(pre), "infer": round(inferred - pre), "invert": 0.0,
            "post": 0.0, "write": round(total - inferred), "total": round(total), "transform": null,
        },
        "params": params,
    });
    if let Some(l) = &label {
        result["label_source"] = json!(l.source);
        result["series_instance_uid"] = json!(l.series_instance_uid);
    }
    if let Some(v) = &json.study_ml_json {
        result["classification"] = v.clone();
    }
    if let Some(v) = &json.bounding_boxes_2d {
        result["boxes"] = serde_json::to_value(v).unwrap_or_default();
    }
    Ok(Run { params: result, label: file })
}

/// A NIfTI input's label with slice `k` of the input at `k` (the model's series is sorted
/// along its normal, which may run against the volume's k axis).
pub(crate) fn in_input_order(label: &LabelImage, study: &crate::study::Study, dims: [usize; 3]) -> LabelImage {
    let plane = label.dims[0] * label.dims[1];
    let order = study.series.first().and_then(|s| s.timepoints.first()).cloned().unwrap_or_default();
    let mut voxels = vec![0u8; plane * dims[2]];
    for (sorted, &k) in order.iter().enumerate() {
        if let (Some(dst), Some(src)) =
            (voxels.get_mut(k * plane..(k + 1) * plane), label.voxels.get(sorted * plane..(sorted + 1) * plane))
        {
            dst.copy_from_slice(src);
        }
    }
    LabelImage { dims: [dims[0], dims[1], dims[2], 1], voxels, ..label.clone() }
}

fn round(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

/// The answer as MONAI Label gives it: multipart (`params` then `image`), the label alone, or
/// the JSON alone (also when there is no label).
fn respond(run: Run, output: Output, name: &str) -> Response {
    let label = match (output, run.label) {
        (Output::Json, _) | (_, None) => return Json(run.params).into_response(),
        (_, Some(label)) => label,
    };
    // A name of its own per answer: the client saves every label under its file name.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let filename = format!("{name}_label_{}_{n}.nii.gz", std::process::id());
    if output == Output::Image {
        let disposition = format!("attachment; filename=\"{filename}\"");
        return (
            [(header::CONTENT_TYPE, "application/gzip".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
            label,
        )
            .into_response();
    }
    let params = run.params.to_string();
    let boundary = boundary(&[params.as_bytes(), &label]);
    let mut body = Vec::with_capacity(label.len() + params.len() + 512);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"params\"\r\nContent-Type: application/json\r\n\r\n{params}\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{filename}\"\r\nContent-Type: application/gzip\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&label);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    ([(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))], body).into_response()
}

/// A boundary found in none of the bodies.
fn boundary(bodies: &[&[u8]]) -> String {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    (0u32..)
        .map(|n| format!("modelserver{seed:x}{n}"))
        .find(|b| bodies.iter().all(|body| !body.windows(b.len()).any(|w| w == b.as_bytes())))
        .unwrap_or_default()
}

//! A served model: an engine plus its config, answering requests.
//!
//! A request runs as a pipeline: a preprocessing thread decodes and normalizes images and
//! assembles batch k+1 while the engine runs batch k (a channel of [`PIPELINE_DEPTH`] batches
//! between them), and each batch's outputs are written into the result masks as soon as it
//! finishes. Memory holds a few batches plus the result, never the whole study as floats.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::{Duration, Instant};

use arterys_gateway::{
    BoundingBox, HandlerError, HandlerResult, InferenceInput, InferenceResponse, Mask, MaskPart, MaskShape,
};

use crate::config::{EngineKind, Layout, ModelConfig, OutputKind};
use crate::engine::{self, Engine, LoadError, OutputTensor, RunError, RunErrorKind};
use crate::image_ops::components;
use crate::postprocess::{self, Scores};
use crate::preprocess::prepare;
use crate::study::Study;

/// Batches prepared ahead of the engine.
pub const PIPELINE_DEPTH: usize = 2;

/// A model loaded by its engine, ready to answer.
pub struct Model {
    engine: Box<dyn Engine>,
    config: ModelConfig,
}

/// One image of a batch: where it goes in its series.
struct Item {
    /// Index in the request's DICOM list.
    index: usize,
    /// Position in the series' timepoint-then-slice order.
    slot: usize,
    /// Image size (columns, rows).
    size: (u32, u32),
}

/// One engine run's worth of input.
struct Batch {
    series: usize,
    items: Vec<Item>,
    tensor: Vec<f32>,
}

/// What a series has produced so far, per configured output.
enum Pending {
    Scores(Scores),
    Boxes(Vec<BoundingBox>),
    Volume { shape: MaskShape, data: Vec<u8> },
    Images(Vec<MaskPart>),
}

impl Model {
    /// Loads the model with its configured engine (or connects to its remote server) and checks
    /// it against the config.
    pub fn load(config: ModelConfig) -> Result<Self, LoadError> {
        let path = config.model.clone().unwrap_or_default();
        let engine: Box<dyn Engine> = match config.engine {
            EngineKind::Tract => Box::new(engine::tract::TractEngine::load(&path, &config)?),
            EngineKind::Onnxruntime => Box::new(engine::onnxruntime::OrtEngine::load(&path, &config)?),
            EngineKind::Remote => match &config.remote {
                Some(remote) => Box::new(engine::remote::RemoteEngine::load(remote, &config)?),
                None => {
                    return Err(LoadError::Runtime {
                        key: "remote",
                        reason: "engine remote needs a remote block".into(),
                    })
                }
            },
        };
        Ok(Self { engine, config })
    }

    /// A model around an engine loaded elsewhere (e.g. a remote client).
    pub fn with_engine(engine: Box<dyn Engine>, config: ModelConfig) -> Self {
        Self { engine, config }
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// What runs it, for the log.
    pub fn describe(&self) -> String {
        self.engine.describe()
    }

    /// Whether its engine can take requests now (a remote engine asks its server). Blocking.
    pub fn ready(&self) -> bool {
        self.engine.ready()
    }

    /// Runs the model on one input tensor of the configured shape; the configured outputs, in
    /// config order.
    pub fn run(&self, input: &[f32]) -> Result<Vec<OutputTensor>, RunError> {
        self.engine.run(input)
    }

    /// Runs one batch of zeros, so the first request does not pay for lazy allocations; how
    /// long it took.
    pub fn warm_up(&self) -> Result<Duration, LoadError> {
        let started = Instant::now();
        let input = vec![0f32; self.config.input.shape().iter().product()];
        self.run(&input).map_err(LoadError::WarmUp)?;
        Ok(started.elapsed())
    }

    /// Answers a request: every image through the model, results by the config.
    pub fn answer(&self, input: &InferenceInput) -> HandlerResult {
        let study = Study::read(input)?;
        let series: Vec<_> = study.image_series().collect();
        let (tx, rx) = sync_channel(PIPELINE_DEPTH);
        let mut response = InferenceResponse::new();
        std::thread::scope(|scope| {
            scope.spawn(|| self.produce(input, &study, &series, tx));
            self.consume(&study, &series, rx, &mut response)
        })?;
        Ok(response)
    }

    /// The preprocessing side: batches in series order, until done, an error, or the engine
    /// side hangs up.
    fn produce(
        &self,
        input: &InferenceInput,
        study: &Study,
        series: &[&arterys_gateway::dicom::SortedSeries],
        tx: SyncSender<Result<Batch, HandlerError>>,
    ) {
        let model = self.config.input.plane();
        let plane = model.0 * model.1;
        let normalize = &self.config.preprocess.normalize;
        let image = |index: usize| {
            let part = input.dicom.get(index).ok_or_else(|| HandlerError::internal("image index out of range"))?;
            prepare(part, study.instances[index].window, normalize, model)
        };
        for (s, one) in series.iter().enumerate() {
            let order: Vec<usize> = one.timepoints.iter().flatten().copied().collect();
            let groups: Vec<(usize, &[usize])> = match self.config.input.layout {
                Layout::Nchw => order
                    .chunks(self.config.input.batch)
                    .enumerate()
                    .map(|(k, c)| (k * self.config.input.batch, c))
                    .collect(),
                Layout::Ncdhw => {
                    let depth = one.depth().max(1);
                    order.chunks(depth).enumerate().map(|(k, c)| (k * depth, c)).collect()
                }
            };
            for (first, group) in groups {
                let batch = (|| -> Result<Batch, HandlerError> {
                    let mut items = Vec::with_capacity(group.len());
                    let mut planes = Vec::with_capacity(group.len());
                    for (k, &index) in group.iter().enumerate() {
                        let p = image(index)?;
                        items.push(Item { index, slot: first + k, size: p.size });
                        planes.push(p.plane);
                    }
                    let tensor = match self.config.input.layout {
                        Layout::Nchw => {
                            // A short last batch is padded with zeros: the shape is fixed.
                            let mut t = vec![0f32; self.config.input.batch * plane];
                            for (k, p) in planes.iter().enumerate() {
                                t[k * plane..(k + 1) * plane].copy_from_slice(p);
                            }
                            t
                        }
                        Layout::Ncdhw => {
                            let md = self.config.input.size[0];
                            let refs: Vec<&[f32]> = planes.iter().map(Vec::as_slice).collect();
                            let mut t = Vec::with_capacity(md * plane);
                            (0..md).for_each(|z| postprocess::lerp_plane(&refs, md, z, &mut t, plane));
                            t
                        }
                    };
                    Ok(Batch { series: s, items, tensor })
                })();
                let failed = batch.is_err();
                if tx.send(batch).is_err() || failed {
                    return;
                }
            }
        }
    }

    /// The engine side: runs each batch as it arrives and files its results.
    fn consume(
        &self,
        study: &Study,
        series: &[&arterys_gateway::dicom::SortedSeries],
        rx: Receiver<Result<Batch, HandlerError>>,
        r: &mut InferenceResponse,
    ) -> Result<(), HandlerError> {
        let outputs = &self.config.outputs;
        let mut pending: Vec<Vec<Pending>> = Vec::with_capacity(series.len());
        let mut done = vec![0usize; series.len()];
        let mut study_scores: Vec<Scores> = vec![Scores::default(); outputs.len()];
        for batch in rx {
            let batch = batch?;
            let started = Instant::now();
            let tensors = self.engine.run(&batch.tensor).map_err(|e| handler_error(&e))?;
            let route = self.config.route.as_deref().unwrap_or("/");
            arterys_gateway::metrics::model_batch(route, batch.items.len(), started.elapsed());
            if tensors.len() != outputs.len() {
                return Err(HandlerError::internal(format!(
                    "the engine gave {} outputs for {} configured",
                    tensors.len(),
                    outputs.len()
                )));
            }
            let one = series[batch.series];
            let slices = one.timepoints.iter().map(Vec::len).sum::<usize>();
            while pending.len() <= batch.series {
                let geometry = study.has_geometry(series[pending.len()]);
                pending.push(outputs.iter().map(|o| pending_for(o.kind, geometry)).collect());
            }
            let depth = batch.items.len();
            for (k, item) in batch.items.iter().enumerate() {
                for (o, out) in outputs.iter().enumerate() {
                    let (shape, values) = &tensors[o];
                    let values = match self.config.input.layout {
                        Layout::Nchw => postprocess::per_item(shape, values, k, out.activation),
                        Layout::Ncdhw => postprocess::volume_item(shape, values, k, depth, out.activation),
                    };
                    self.file(out, &values, item, study, one, &mut pending[batch.series][o])?;
                }
            }
            done[batch.series] += batch.items.len();
            if done[batch.series] == slices {
                let finished = std::mem::take(&mut pending[batch.series]);
                for ((out, p), study_score) in outputs.iter().zip(finished).zip(&mut study_scores) {
                    match p {
                        Pending::Scores(scores) => {
                            if let Some(mean) = scores.mean() {
                                r.add_series_ml_json(
                                    &one.series_instance_uid,
                                    postprocess::classification_json(out, &mean),
                                );
                            }
                            study_score.merge(&scores);
                        }
                        Pending::Boxes(boxes) => boxes.into_iter().for_each(|b| {
                            r.add_bounding_box(b);
                        }),
                        Pending::Volume { shape, data } => {
                            let mask = Mask::new(shape, data)?;
                            r.add_mask(postprocess::part(out, mask).for_series(&one.series_instance_uid));
                        }
                        Pending::Images(parts) => parts.into_iter().for_each(|p| {
                            r.add_mask(p);
                        }),
                    }
                }
            }
        }
        for (out, scores) in outputs.iter().zip(&study_scores) {
            if let (OutputKind::Classification, Some(mean)) = (out.kind, scores.mean()) {
                r.set_study_ml_json(postprocess::classification_json(out, &mean));
            }
        }
        Ok(())
    }

    /// Files one image's output values into its series' results.
    fn file(
        &self,
        out: &crate::config::OutputConfig,
        values: &[f32],
        item: &Item,
        study: &Study,
        series: &arterys_gateway::dicom::SortedSeries,
        pending: &mut Pending,
    ) -> Result<(), HandlerError> {
        let model = self.config.input.plane();
        let info = &study.instances[item.index];
        match pending {
            Pending::Scores(scores) => scores.add(values),
            Pending::Boxes(boxes) => {
                let plane = postprocess::plane_at(out, values, model, item.size);
                let above: Vec<bool> = plane.iter().map(|&p| p >= out.threshold as f32).collect();
                let (w, h) = (item.size.0 as usize, item.size.1 as usize);
                for (x0, y0, x1, y1) in components(&above, w, h, 16) {
                    let label = out.label.clone().unwrap_or_else(|| "Finding".into());
                    boxes.push(BoundingBox::new(
                        label,
                        &info.sop_instance_uid,
                        [x0 as i64, y0 as i64],
                        [x1 as i64, y1 as i64],
                    ));
                }
            }
            Pending::Volume { shape, data } => {
                let (w, h) = item.size;
                if data.is_empty() {
                    let timepoints = series.timepoints.len() as u32;
                    *shape = MaskShape::Volume { timepoints, depth: series.depth() as u32, height: h, width: w };
                    *data = vec![0; shape.voxel_count().unwrap_or(0)];
                }
                let plane = w as usize * h as usize;
                let target = data
                    .get_mut(item.slot * plane..(item.slot + 1) * plane)
                    .filter(|_| shape.dims().2 == h && shape.dims().3 == w);
                let Some(target) = target else {
                    return Err(HandlerError::unprocessable(format!(
                        "series {}: its images differ in size ({}x{} after {}x{}); a volume needs one size",
                        series.series_instance_uid,
                        w,
                        h,
                        shape.dims().3,
                        shape.dims().2
                    )));
                };
                target.copy_from_slice(&postprocess::mask_at(out, values, model, item.size));
            }
            Pending::Images(parts) => {
                let mask = Mask::new(
                    MaskShape::image(item.size.0, item.size.1),
                    postprocess::mask_at(out, values, model, item.size),
                )?;
                parts.push(postprocess::part(out, mask).for_image(&info.sop_instance_uid, None));
            }
        }
        Ok(())
    }
}

/// An empty result for an output of `kind` in a series with (or without) geometry.
fn pending_for(kind: OutputKind, geometry: bool) -> Pending {
    match kind {
        OutputKind::Classification => Pending::Scores(Scores::default()),
        OutputKind::Boxes => Pending::Boxes(Vec::new()),
        _ if geometry => Pending::Volume { shape: MaskShape::image(0, 0), data: Vec::new() },
        _ => Pending::Images(Vec::new()),
    }
}

/// A failed run as the request's status: 503, 502 or 504 for a remote, 500 otherwise.
fn handler_error(e: &RunError) -> HandlerError {
    match e.kind {
        RunErrorKind::Unavailable => HandlerError::unavailable(e.to_string()),
        RunErrorKind::BadGateway => HandlerError::bad_gateway(e.to_string()),
        RunErrorKind::Timeout => HandlerError::gateway_timeout(e.to_string()),
        RunErrorKind::Failed => HandlerError::internal(e.to_string()),
    }
}

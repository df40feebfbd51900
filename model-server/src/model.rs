//! A served model: an engine plus its config, answering requests.
//!
//! A request runs as a pipeline: a preprocessing thread decodes and normalizes images and
//! assembles batch k+1 while the engine runs batch k (a channel of [`PIPELINE_DEPTH`] batches
//! between them), and each batch's outputs are written into the result masks as soon as it
//! finishes. Memory holds a few batches plus the result, never the whole study as floats.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arterys_gateway::cancel::{self, Cancelled};
use arterys_gateway::{HandlerError, HandlerResult, InferenceInput, InferenceResponse};
use tracing::info;

use crate::config::{Activation, EngineKind, Layout, ModelConfig, OutputConfig, OutputKind};

mod windowed;
use crate::batcher::Batcher;
use crate::config::InvalidKey;
use crate::engine::ensemble::Ensemble;
use crate::engine::{self, Engine, LoadError, OutputTensor, RunError};
use crate::failure::{cancelled, handler_error};
use crate::frames::{self, Image, SeriesPlan};
use crate::postprocess::{self, Scores};
use crate::preprocess::{open_part, prepare, Opened};
use crate::results::{Item, Pending};
use crate::study::Study;

/// Batches prepared ahead of the engine.
pub const PIPELINE_DEPTH: usize = 2;

/// A model loaded by its engine, ready to answer.
pub struct Model {
    engine: Arc<dyn Engine>,
    /// Gathers runs of concurrent requests (`dynamic_batching`).
    batcher: Option<Batcher>,
    config: ModelConfig,
    /// The engine's outputs are probabilities already (an ensemble's average).
    activated: bool,
}

/// One engine run's worth of input.
struct Batch {
    series: usize,
    items: Vec<Item>,
    tensor: Vec<f32>,
}

impl Model {
    /// Loads the model with its configured engine (or connects to its remote server) and checks
    /// it against the config.
    pub fn load(config: ModelConfig) -> Result<Self, LoadError> {
        let local = |path: &std::path::Path| -> Result<Box<dyn Engine>, LoadError> {
            Ok(match config.engine {
                EngineKind::Onnxruntime => Box::new(engine::onnxruntime::OrtEngine::load(path, &config)?),
                _ => Box::new(engine::tract::TractEngine::load(path, &config)?),
            })
        };
        let engine: Box<dyn Engine> = match config.engine {
            EngineKind::Remote => match &config.remote {
                Some(remote) => Box::new(engine::remote::RemoteEngine::load(remote, &config)?),
                None => {
                    return Err(LoadError::Runtime {
                        key: "remote",
                        reason: "engine remote needs a remote block".into(),
                    })
                }
            },
            _ if !config.ensemble.is_empty() => {
                let members = config.ensemble.iter().map(|p| local(p)).collect::<Result<Vec<_>, _>>()?;
                let activations = config.outputs.iter().map(|o| o.activation).collect();
                let engine: Box<dyn Engine> = Box::new(Ensemble::new(members, activations));
                return Self::assemble(engine, config, true);
            }
            _ => local(&config.model.clone().unwrap_or_default())?,
        };
        Self::assemble(engine, config, false)
    }

    fn assemble(engine: Box<dyn Engine>, config: ModelConfig, activated: bool) -> Result<Self, LoadError> {
        let engine: Arc<dyn Engine> = Arc::from(engine);
        let batcher = match config.dynamic_batching {
            Some(_) if !engine.free_batch() => {
                return Err(LoadError::Contradiction(InvalidKey::new(
                    "dynamic_batching",
                    "needs the model's batch dimension free (runs gather any number of images)",
                )))
            }
            Some(d) => Some(Batcher::start(Arc::clone(&engine), d.max_batch, Duration::from_millis(d.max_delay_ms))),
            None => None,
        };
        Ok(Self { engine, batcher, config, activated })
    }

    /// A model around an engine loaded elsewhere (e.g. a remote client).
    pub fn with_engine(engine: Box<dyn Engine>, config: ModelConfig) -> Self {
        Self { engine: Arc::from(engine), batcher: None, config, activated: false }
    }

    /// The activation still to apply to an output (none once an ensemble has averaged
    /// probabilities).
    fn activation(&self, out: &OutputConfig) -> Activation {
        if self.activated {
            Activation::None
        } else {
            out.activation
        }
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

    /// Runs `n` images (or windows) of `tensor`, C order: gathered with other requests' under
    /// `dynamic_batching`, at their number where they are fewer than `input.batch` and the
    /// model's batch is free, else as the configured shape (padded with zeros); the configured
    /// outputs.
    fn run_images(&self, tensor: &mut Vec<f32>, n: usize) -> Result<Vec<OutputTensor>, HandlerError> {
        let batch = self.config.input.batch;
        let short = n < batch;
        let tensors = match &self.batcher {
            Some(batcher) => batcher.run(std::mem::take(tensor), n),
            None if short && self.engine.free_batch() => self.engine.run_images(tensor, n),
            None => {
                if short {
                    tensor.resize(tensor.len() / n.max(1) * batch, 0.0);
                }
                self.engine.run(tensor)
            }
        };
        let tensors = tensors.map_err(|e| handler_error(&e))?;
        if tensors.len() != self.config.outputs.len() {
            return Err(HandlerError::internal(format!(
                "the engine gave {} outputs for {} configured",
                tensors.len(),
                self.config.outputs.len()
            )));
        }
        Ok(tensors)
    }

    /// Runs one batch of zeros, so the first request does not pay for lazy allocations; how
    /// long it took.
    pub fn warm_up(&self) -> Result<Duration, LoadError> {
        let started = Instant::now();
        let input = vec![0f32; self.config.input.shape().iter().product()];
        self.run(&input).map_err(LoadError::WarmUp)?;
        Ok(started.elapsed())
    }

    /// Answers a request: every frame of every image through the model, results by the
    /// config. Stops at the next image or batch once the request is cancelled (its client
    /// gone or its deadline passed), and logs so.
    pub fn answer(&self, input: &InferenceInput) -> HandlerResult {
        let study = Study::read(input)?;
        let images: usize =
            study.instances.iter().filter(|i| i.has_pixels()).map(|i| i.number_of_frames as usize).sum();
        if images > self.config.max_images {
            return Err(HandlerError::unprocessable(format!(
                "the study has {images} images (frames included); this model takes at most {} (max_images)",
                self.config.max_images
            )));
        }
        let plans = frames::plan(&study, input)?;
        let total: usize = plans.iter().map(SeriesPlan::len).sum();
        info!("{} series, {total} images (frames included)", plans.len());
        if self.config.input.patch.is_some() {
            let mut response = InferenceResponse::new();
            return self.answer_windowed(input, &study, &plans, &mut response).map(|()| response);
        }
        let (tx, rx) = sync_channel(PIPELINE_DEPTH);
        let mut response = InferenceResponse::new();
        let (prepared, mut inferred) = (AtomicUsize::new(0), 0);
        // The preprocessing thread stops with the request too: it carries the handler's token.
        let token = cancel::current();
        let (study, plans, counted) = (&study, &plans, &prepared);
        let result = std::thread::scope(|scope| {
            scope.spawn(move || match token {
                Some(token) => token.scope(|| self.produce(input, study, plans, tx, counted)),
                None => self.produce(input, study, plans, tx, counted),
            });
            self.consume(study, plans, rx, &mut response, &mut inferred)
        });
        match result {
            Err(_) if cancel::checkpoint().is_err() => {
                let prepared = prepared.load(Ordering::Relaxed);
                let why = format!(
                    "{Cancelled}: stopped after {prepared} images prepared and {inferred} run of {total} images"
                );
                info!("{why}");
                Err(HandlerError::gateway_timeout(why))
            }
            other => other.map(|()| response),
        }
    }

    /// The preprocessing side: batches in series order, until done, an error, a cancelled
    /// request, or the engine side hangs up.
    fn produce(
        &self,
        input: &InferenceInput,
        study: &Study,
        plans: &[SeriesPlan],
        tx: SyncSender<Result<Batch, HandlerError>>,
        prepared: &AtomicUsize,
    ) {
        // The instance being decoded: its frames come from one opened object.
        let mut opened: Option<Opened> = None;
        for (s, plan) in plans.iter().enumerate() {
            let order: Vec<Image> = plan.order().collect();
            let size = match self.config.input.layout {
                Layout::Nchw => self.config.input.batch,
                Layout::Ncdhw => plan.depth().max(1),
            };
            for (k, group) in order.chunks(size).enumerate() {
                let batch = self.batch(input, study, (s, k * size), group, &mut opened, prepared);
                let failed = batch.is_err();
                if tx.send(batch).is_err() || failed {
                    return;
                }
            }
        }
    }

    /// One engine run's input: the images of `group`, the first at `slot` of series `series`.
    fn batch(
        &self,
        input: &InferenceInput,
        study: &Study,
        (series, first): (usize, usize),
        group: &[Image],
        opened: &mut Option<Opened>,
        prepared: &AtomicUsize,
    ) -> Result<Batch, HandlerError> {
        let model = self.config.input.plane();
        let plane = model.0 * model.1;
        let mut items = Vec::with_capacity(group.len());
        let mut planes = Vec::with_capacity(group.len());
        for (k, image) in group.iter().enumerate() {
            cancel::checkpoint().map_err(cancelled)?;
            let part =
                input.dicom.get(image.index).ok_or_else(|| HandlerError::internal("image index out of range"))?;
            if opened.as_ref().map(|o| o.index) != Some(image.index) {
                *opened = None; // one decoded instance held at a time
                *opened = Some(open_part(part, image.index)?);
            }
            let Some(instance) = opened.as_mut() else {
                return Err(HandlerError::internal("no image opened"));
            };
            let window = study.instances[image.index].window;
            let p = prepare(part, instance, image.frame_index(), window, &self.config.preprocess.normalize, model)?;
            items.push(Item { index: image.index, frame: image.frame, slot: first + k, size: p.size });
            planes.push(p.plane);
            prepared.fetch_add(1, Ordering::Relaxed);
        }
        let tensor = match self.config.input.layout {
            // A short last batch is padded (or not) when it runs.
            Layout::Nchw => planes.concat(),
            Layout::Ncdhw => {
                let md = self.config.input.size[0];
                let refs: Vec<&[f32]> = planes.iter().map(Vec::as_slice).collect();
                let mut t = Vec::with_capacity(md * plane);
                (0..md).for_each(|z| postprocess::lerp_plane(&refs, md, z, &mut t, plane));
                t
            }
        };
        Ok(Batch { series, items, tensor })
    }

    /// The engine side: runs each batch as it arrives and files its results; counts the
    /// images run into `inferred`.
    fn consume(
        &self,
        study: &Study,
        plans: &[SeriesPlan],
        rx: Receiver<Result<Batch, HandlerError>>,
        r: &mut InferenceResponse,
        inferred: &mut usize,
    ) -> Result<(), HandlerError> {
        let outputs = &self.config.outputs;
        let mut pending: Vec<Vec<Pending>> =
            plans.iter().map(|p| outputs.iter().map(|o| Pending::new(o.kind, p.volume)).collect()).collect();
        let mut done = vec![0usize; plans.len()];
        let mut study_scores: Vec<Scores> = vec![Scores::default(); outputs.len()];
        let mut dropped = vec![0usize; outputs.len()];
        for batch in rx {
            let mut batch = batch?;
            cancel::checkpoint().map_err(cancelled)?;
            let started = Instant::now();
            let tensors = self.run_images(&mut batch.tensor, batch.items.len())?;
            let route = self.config.route.as_deref().unwrap_or("/");
            arterys_gateway::metrics::model_batch(route, batch.items.len(), started.elapsed());
            *inferred += batch.items.len();
            let plan = &plans[batch.series];
            let depth = batch.items.len();
            for (k, item) in batch.items.iter().enumerate() {
                for (o, out) in outputs.iter().enumerate() {
                    let (shape, values) = &tensors[o];
                    let values = match self.config.input.layout {
                        Layout::Nchw => postprocess::per_item(shape, values, k, self.activation(out)),
                        Layout::Ncdhw => postprocess::volume_item(shape, values, k, depth, self.activation(out)),
                    };
                    pending[batch.series][o].file(out, &values, item, study, plan, self.config.input.plane())?;
                }
            }
            done[batch.series] += batch.items.len();
            if done[batch.series] == plan.len() {
                let finished = std::mem::take(&mut pending[batch.series]);
                for (o, (out, p)) in outputs.iter().zip(finished).enumerate() {
                    p.finish(out, plan, &mut study_scores[o], &mut dropped[o], r)?;
                }
            }
        }
        finish_study(outputs, &study_scores, &dropped, r);
        Ok(())
    }
}

/// The study's classification from every series' scores, and the log of dropped boxes.
fn finish_study(outputs: &[OutputConfig], study_scores: &[Scores], dropped: &[usize], r: &mut InferenceResponse) {
    for (out, scores) in outputs.iter().zip(study_scores) {
        if let (OutputKind::Classification, Some(mean)) = (out.kind, scores.mean()) {
            r.set_study_ml_json(postprocess::classification_json(out, &mean));
        }
    }
    for (out, &n) in outputs.iter().zip(dropped).filter(|(_, &n)| n > 0) {
        info!("output {}: {n} boxes under min_box_pixels ({}) dropped", out.name, out.min_box_pixels());
    }
}

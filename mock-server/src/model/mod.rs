//! Serving an ONNX model with no code: tract runs it; the config says how images become its
//! input and what its outputs mean (see [`config`]).

pub mod config;
mod image_ops;

use std::path::Path;
use std::sync::Arc;

use arterys_gateway::dicom::display::modality_values;
use arterys_gateway::{
    BoundingBox, HandlerError, HandlerResult, InferenceInput, InferenceResponse, Mask, MaskPart, MaskShape,
};
use serde_json::json;
use tract_onnx::prelude::*;

use crate::study::Study;
use config::{Activation, Layout, ModelConfig, Normalize, OutputConfig, OutputKind};
use image_ops::{components, resize_bilinear, resize_nearest};

type Plan = Arc<TypedRunnableModel>;

/// One model output: its shape and its values in C order.
pub type OutputTensor = (Vec<usize>, Vec<f32>);

/// A model loaded and optimized once, ready to run.
pub struct OnnxModel {
    plan: Plan,
    config: ModelConfig,
    input_shape: Vec<usize>,
}

/// One image after preprocessing, and what the model said of it.
struct Slice {
    /// Index in the request's DICOM list.
    index: usize,
    /// Image size (columns, rows).
    size: (u32, u32),
    /// The preprocessed plane at the model's size.
    input: Vec<f32>,
    /// Per configured output: `[C, H, W]` planes or `[K]` scores, at the model's size.
    outputs: Vec<Vec<f32>>,
}

impl OnnxModel {
    /// Loads `path`, fixes its input shape from the config, selects the configured outputs and
    /// optimizes it. Every failure names its cause (missing file, invalid model, an output that
    /// does not exist, a shape that contradicts the model).
    pub fn load(path: &Path, config: ModelConfig) -> Result<Self, String> {
        if !path.is_file() {
            return Err(format!("model file {} does not exist", path.display()));
        }
        let mut model = tract_onnx::onnx()
            .model_for_path(path)
            .map_err(|e| format!("{} is not a valid ONNX model: {e}", path.display()))?;
        let (h, w) = (config.input.size[config.input.size.len() - 2], config.input.size[config.input.size.len() - 1]);
        let input_shape = match config.input.layout {
            Layout::Nchw => vec![config.input.batch, 1, h, w],
            Layout::Ncdhw => vec![1, 1, config.input.size[0], h, w],
        };
        let inputs = model.input_outlets().map_err(|e| e.to_string())?.to_vec();
        if inputs.len() != 1 {
            return Err(format!("the model has {} inputs; one image input is supported", inputs.len()));
        }
        if let Some(name) = &config.input.name {
            let actual = &model.node(inputs[0].node).name;
            if actual != name {
                return Err(format!("the config's input {name:?} is not the model's input ({actual:?})"));
            }
        }
        let available: Vec<String> = model
            .output_outlets()
            .map_err(|e| e.to_string())?
            .iter()
            .map(|o| model.node(o.node).name.clone())
            .collect();
        for o in &config.outputs {
            if !available.contains(&o.name) {
                return Err(format!("the config's output {:?} is not among the model's outputs {available:?}", o.name));
            }
        }
        model.select_outputs_by_name(config.outputs.iter().map(|o| o.name.as_str())).map_err(|e| e.to_string())?;
        let model = model
            .with_input_fact(0, f32::fact(&input_shape).into())
            .and_then(|m| m.into_optimized())
            .map_err(|e| format!("the config's input shape {input_shape:?} contradicts the model: {}", one_line(&e)))?;
        let plan = model.into_runnable().map_err(|e| format!("cannot prepare the model: {}", one_line(&e)))?;
        Ok(Self { plan, config, input_shape })
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Runs the model on one input tensor of the configured shape; the configured outputs as
    /// (shape, values).
    pub fn run(&self, input: Vec<f32>) -> Result<Vec<OutputTensor>, String> {
        let tensor = Tensor::from_shape(&self.input_shape, &input).map_err(|e| e.to_string())?;
        let outputs =
            self.plan.run(tvec!(tensor.into_tvalue())).map_err(|e| format!("model run failed: {}", one_line(&e)))?;
        outputs
            .iter()
            .map(|t| {
                let view = t.to_plain_array_view::<f32>().map_err(|e| format!("model output is not float32: {e}"))?;
                Ok((view.shape().to_vec(), view.iter().copied().collect()))
            })
            .collect()
    }

    /// Answers a request: every image through the model, results by the config.
    pub fn answer(&self, input: &InferenceInput) -> HandlerResult {
        let study = Study::read(input)?;
        let mut r = InferenceResponse::new();
        let mut study_scores: Vec<Vec<f64>> = vec![Vec::new(); self.config.outputs.len()];
        for series in study.image_series() {
            let order: Vec<Vec<usize>> = series.timepoints.clone();
            let mut slices = Vec::new();
            for &index in order.iter().flatten() {
                slices.push(self.prepare(input, index, study.instances[index].window)?);
            }
            self.infer(&mut slices, order.iter().map(Vec::len).max().unwrap_or(0)).map_err(HandlerError::internal)?;
            for (o, out) in self.config.outputs.iter().enumerate() {
                match out.kind {
                    OutputKind::Classification => {
                        let mean = mean_scores(slices.iter().map(|s| &s.outputs[o]));
                        if study_scores[o].is_empty() {
                            study_scores[o] = vec![0.0; mean.len()];
                        }
                        for (acc, v) in study_scores[o].iter_mut().zip(&mean) {
                            *acc += v * slices.len() as f64;
                        }
                        r.add_series_ml_json(&series.series_instance_uid, classification_json(out, &mean));
                    }
                    OutputKind::Boxes => {
                        for s in &slices {
                            let plane = self.plane_at_image_size(out, s, o);
                            let info = &study.instances[s.index];
                            for (x0, y0, x1, y1) in components(
                                &plane.iter().map(|&p| p >= out.threshold as f32).collect::<Vec<_>>(),
                                s.size.0 as usize,
                                s.size.1 as usize,
                                16,
                            ) {
                                let label = out.label.clone().unwrap_or_else(|| "Finding".into());
                                r.add_bounding_box(BoundingBox::new(
                                    label,
                                    &info.sop_instance_uid,
                                    [x0 as i64, y0 as i64],
                                    [x1 as i64, y1 as i64],
                                ));
                            }
                        }
                    }
                    _ => {
                        if study.has_geometry(series) {
                            let (w, h) = slices[0].size;
                            let depth = series.depth() as u32;
                            let shape =
                                MaskShape::Volume { timepoints: order.len() as u32, depth, height: h, width: w };
                            // The slices are in timepoint-then-slice order: the buffer's order.
                            let mut data = Vec::with_capacity(shape.voxel_count().unwrap_or(0));
                            for s in &slices {
                                data.extend_from_slice(&self.mask_at_image_size(out, s, o));
                            }
                            let mask = Mask::new(shape, data)?;
                            r.add_mask(self.part(out, mask).for_series(&series.series_instance_uid));
                        } else {
                            for s in &slices {
                                let mask = Mask::new(
                                    MaskShape::image(s.size.0, s.size.1),
                                    self.mask_at_image_size(out, s, o),
                                )?;
                                r.add_mask(
                                    self.part(out, mask).for_image(&study.instances[s.index].sop_instance_uid, None),
                                );
                            }
                        }
                    }
                }
            }
        }
        for (o, out) in self.config.outputs.iter().enumerate() {
            if out.kind == OutputKind::Classification && !study_scores[o].is_empty() {
                let n = study.frames().count().max(1) as f64;
                let mean: Vec<f64> = study_scores[o].iter().map(|v| v / n).collect();
                r.set_study_ml_json(classification_json(out, &mean));
            }
        }
        Ok(r)
    }

    fn part(&self, out: &OutputConfig, mask: Mask) -> MaskPart {
        let label = out.label.clone().unwrap_or_else(|| out.name.clone());
        match out.kind {
            OutputKind::Heatmap => MaskPart::heatmap(label, mask),
            OutputKind::NumericLabelMask => MaskPart::numeric_labels(
                label,
                mask,
                out.classes.iter().enumerate().skip(1).map(|(k, name)| (k as u8, name.clone())),
            ),
            _ => MaskPart::probability(label, mask).threshold(out.threshold),
        }
    }

    /// Decodes one image and preprocesses it to the model's plane size.
    fn prepare(&self, input: &InferenceInput, index: usize, window: Option<[f64; 2]>) -> Result<Slice, HandlerError> {
        let part = &input.dicom[index];
        let undecodable =
            |e: String| HandlerError::unprocessable(format!("part {}: the image cannot be decoded: {e}", part.index));
        let obj = arterys_gateway::dicom::open(&part.body).map_err(|e| undecodable(e.to_string()))?;
        let (w, h, mut values) = modality_values(&obj, 0).map_err(|e| undecodable(e.to_string()))?;
        normalize(&mut values, &self.config.preprocess.normalize, window);
        let size = &self.config.input.size;
        let (mh, mw) = (size[size.len() - 2], size[size.len() - 1]);
        let input = resize_bilinear(&values, w as usize, h as usize, mw, mh);
        Ok(Slice { index, size: (w, h), input, outputs: Vec::new() })
    }

    /// Runs the model over every slice of a series (batched for NCHW, as a volume for NCDHW)
    /// and stores each slice's outputs, activations applied.
    fn infer(&self, slices: &mut [Slice], depth: usize) -> Result<(), String> {
        let size = &self.config.input.size;
        let (mh, mw) = (size[size.len() - 2], size[size.len() - 1]);
        let plane = mh * mw;
        match self.config.input.layout {
            Layout::Nchw => {
                let batch = self.config.input.batch;
                for chunk in slices.chunks_mut(batch) {
                    let mut input = vec![0f32; batch * plane];
                    for (i, s) in chunk.iter().enumerate() {
                        input[i * plane..(i + 1) * plane].copy_from_slice(&s.input);
                    }
                    let outputs = self.run(input)?;
                    for (i, s) in chunk.iter_mut().enumerate() {
                        s.outputs = outputs
                            .iter()
                            .zip(&self.config.outputs)
                            .map(|((shape, v), cfg)| per_item(shape, v, i, cfg.activation))
                            .collect();
                    }
                }
            }
            Layout::Ncdhw => {
                // Each timepoint is a volume: resample its slices to the model's depth.
                let md = size[0];
                for tp in slices.chunks_mut(depth.max(1)) {
                    let d = tp.len();
                    let mut input = Vec::with_capacity(md * plane);
                    for z in 0..md {
                        input.extend(lerp_planes(tp.iter().map(|s| s.input.as_slice()), d, md, z, plane));
                    }
                    let outputs = self.run(input)?;
                    for (z, s) in tp.iter_mut().enumerate() {
                        s.outputs = outputs
                            .iter()
                            .zip(&self.config.outputs)
                            .map(|((shape, v), cfg)| volume_item(shape, v, z, d, cfg.activation))
                            .collect();
                    }
                }
            }
        }
        Ok(())
    }

    /// The configured channel of a per-pixel output, as probabilities at the image's size.
    fn plane_at_image_size(&self, out: &OutputConfig, s: &Slice, o: usize) -> Vec<f32> {
        let size = &self.config.input.size;
        let (mh, mw) = (size[size.len() - 2], size[size.len() - 1]);
        let plane = mh * mw;
        let values = &s.outputs[o];
        let c = out.channel.min((values.len() / plane).saturating_sub(1));
        resize_bilinear(&values[c * plane..(c + 1) * plane], mw, mh, s.size.0 as usize, s.size.1 as usize)
    }

    /// The mask buffer of a per-pixel output at the image's size.
    fn mask_at_image_size(&self, out: &OutputConfig, s: &Slice, o: usize) -> Vec<u8> {
        if out.kind == OutputKind::NumericLabelMask {
            let size = &self.config.input.size;
            let (mh, mw) = (size[size.len() - 2], size[size.len() - 1]);
            let plane = mh * mw;
            let values = &s.outputs[o];
            let channels = (values.len() / plane).max(1);
            let labels: Vec<u8> = (0..plane)
                .map(|p| {
                    (0..channels)
                        .max_by(|&a, &b| values[a * plane + p].total_cmp(&values[b * plane + p]))
                        .unwrap_or(0)
                        .min(out.classes.len().saturating_sub(1)) as u8
                })
                .collect();
            return resize_nearest(&labels, mw, mh, s.size.0 as usize, s.size.1 as usize);
        }
        self.plane_at_image_size(out, s, o).iter().map(|p| (p.clamp(0.0, 1.0) * 255.0).round() as u8).collect()
    }
}

/// Item `i` of a batched output (`[N, ...]`), activation applied over its channel axis.
fn per_item(shape: &[usize], values: &[f32], i: usize, activation: Activation) -> Vec<f32> {
    let n = shape.first().copied().unwrap_or(1).max(1);
    let per = values.len() / n;
    let mut item = values[i * per..(i + 1) * per].to_vec();
    let channels = shape.get(1).copied().unwrap_or(1).max(1);
    activate(&mut item, channels, activation);
    item
}

/// Slice `z` of `d` from a volume output `[1, C, D', H, W]` (nearest model slice), as `[C, H, W]`.
fn volume_item(shape: &[usize], values: &[f32], z: usize, d: usize, activation: Activation) -> Vec<f32> {
    if shape.len() < 5 {
        return per_item(shape, values, 0, activation); // e.g. [1, K] scores for the volume
    }
    let (c, md, plane) = (shape[1], shape[2], shape[3] * shape[4]);
    let mz = ((z as f64 + 0.5) * md as f64 / d.max(1) as f64).floor().min(md as f64 - 1.0) as usize;
    let mut item = Vec::with_capacity(c * plane);
    for ch in 0..c {
        let start = (ch * md + mz) * plane;
        item.extend_from_slice(&values[start..start + plane]);
    }
    activate(&mut item, c, activation);
    item
}

/// Linear interpolation along z: plane `z` of `md` resampled from `d` planes.
fn lerp_planes<'a>(
    planes: impl Iterator<Item = &'a [f32]> + Clone,
    d: usize,
    md: usize,
    z: usize,
    plane: usize,
) -> Vec<f32> {
    let pos = ((z as f64 + 0.5) * d as f64 / md as f64 - 0.5).clamp(0.0, (d.max(1) - 1) as f64);
    let (lo, f) = (pos.floor() as usize, (pos - pos.floor()) as f32);
    let hi = (lo + 1).min(d.saturating_sub(1));
    let a = planes.clone().nth(lo).unwrap_or(&[]);
    let b = planes.clone().nth(hi).unwrap_or(&[]);
    (0..plane).map(|i| a.get(i).copied().unwrap_or(0.0) * (1.0 - f) + b.get(i).copied().unwrap_or(0.0) * f).collect()
}

/// Applies the activation to `[C, ...]` values (softmax over the C axis).
fn activate(values: &mut [f32], channels: usize, activation: Activation) {
    match activation {
        Activation::None => {}
        Activation::Sigmoid => values.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
        Activation::Softmax => {
            let per = values.len() / channels.max(1);
            for p in 0..per {
                let max = (0..channels).map(|c| values[c * per + p]).fold(f32::NEG_INFINITY, f32::max);
                let sum: f32 = (0..channels).map(|c| (values[c * per + p] - max).exp()).sum();
                for c in 0..channels {
                    values[c * per + p] = (values[c * per + p] - max).exp() / sum;
                }
            }
        }
    }
}

/// Rescaled values to the model's range, in place.
fn normalize(values: &mut [f32], how: &Normalize, file_window: Option<[f64; 2]>) {
    let window = |v: &mut [f32], c: f64, w: f64| {
        let lo = c - w / 2.0;
        v.iter_mut().for_each(|x| *x = ((f64::from(*x) - lo) / w).clamp(0.0, 1.0) as f32);
    };
    match how {
        Normalize::None => {}
        Normalize::Window { center, width } => window(values, *center, width.max(1e-6)),
        Normalize::Auto => match file_window {
            Some([c, w]) => window(values, c, w),
            None => {
                let (lo, hi) =
                    values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
                let span = (hi - lo).max(1e-6);
                values.iter_mut().for_each(|x| *x = (*x - lo) / span);
            }
        },
        Normalize::Zscore => {
            let n = values.len().max(1) as f64;
            let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
            let sd = var.sqrt().max(1e-6);
            values.iter_mut().for_each(|x| *x = ((f64::from(*x) - mean) / sd) as f32);
        }
    }
}

fn mean_scores<'a>(items: impl Iterator<Item = &'a Vec<f32>>) -> Vec<f64> {
    let mut sum: Vec<f64> = Vec::new();
    let mut n = 0;
    for s in items {
        if sum.is_empty() {
            sum = vec![0.0; s.len()];
        }
        for (a, v) in sum.iter_mut().zip(s) {
            *a += f64::from(*v);
        }
        n += 1;
    }
    sum.iter().map(|v| v / f64::from(n.max(1))).collect()
}

fn classification_json(out: &OutputConfig, scores: &[f64]) -> serde_json::Value {
    let best = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap_or(0);
    let name = |k: usize| out.classes.get(k).cloned().unwrap_or_else(|| format!("class {k}"));
    let probabilities: serde_json::Map<String, serde_json::Value> =
        scores.iter().enumerate().map(|(k, p)| (name(k), json!((p * 1e4).round() / 1e4))).collect();
    json!({"label": name(best), "score": (scores.get(best).copied().unwrap_or(0.0) * 1e4).round() / 1e4, "probabilities": probabilities})
}

fn one_line(e: &impl std::fmt::Display) -> String {
    e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

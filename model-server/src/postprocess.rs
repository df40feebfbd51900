//! What the model's outputs become: one image's values cut from a batched or volume output,
//! activations, masks at the image's size, classification JSON.

use arterys_gateway::{Mask, MaskPart};
use serde_json::json;

use crate::config::{Activation, OutputConfig, OutputKind};
use crate::image_ops::{resize_bilinear, resize_nearest};

/// Item `i` of a batched output (`[N, ...]`), activation applied over its channel axis.
pub(crate) fn per_item(shape: &[usize], values: &[f32], i: usize, activation: Activation) -> Vec<f32> {
    let n = shape.first().copied().unwrap_or(1).max(1);
    let per = values.len() / n;
    let mut item = values.get(i * per..(i + 1) * per).map(<[f32]>::to_vec).unwrap_or_default();
    let channels = shape.get(1).copied().unwrap_or(1).max(1);
    activate(&mut item, channels, activation);
    item
}

/// Slice `z` of `d` from a volume output `[1, C, D', H, W]` (nearest model slice), as `[C, H, W]`.
pub(crate) fn volume_item(shape: &[usize], values: &[f32], z: usize, d: usize, activation: Activation) -> Vec<f32> {
    if shape.len() < 5 {
        return per_item(shape, values, 0, activation); // e.g. [1, K] scores for the volume
    }
    let (c, md, plane) = (shape[1], shape[2].max(1), shape[3] * shape[4]);
    let mz = ((z as f64 + 0.5) * md as f64 / d.max(1) as f64).floor().min(md as f64 - 1.0) as usize;
    let mut item = Vec::with_capacity(c * plane);
    for ch in 0..c {
        let start = (ch * md + mz) * plane;
        item.extend_from_slice(values.get(start..start + plane).unwrap_or(&[]));
    }
    activate(&mut item, c, activation);
    item
}

/// Linear interpolation along z: plane `z` of `md` resampled from the `d` planes, added to `out`.
pub(crate) fn lerp_plane(planes: &[&[f32]], md: usize, z: usize, out: &mut Vec<f32>, plane: usize) {
    let d = planes.len();
    let pos = ((z as f64 + 0.5) * d as f64 / md as f64 - 0.5).clamp(0.0, (d.max(1) - 1) as f64);
    let (lo, f) = (pos.floor() as usize, (pos - pos.floor()) as f32);
    let hi = (lo + 1).min(d.saturating_sub(1));
    let (a, b) = (planes.get(lo).copied().unwrap_or(&[]), planes.get(hi).copied().unwrap_or(&[]));
    out.extend((0..plane).map(|i| a.get(i).copied().unwrap_or(0.0) * (1.0 - f) + b.get(i).copied().unwrap_or(0.0) * f));
}

/// Applies the activation to `[C, ...]` values (softmax over the C axis).
pub(crate) fn activate(values: &mut [f32], channels: usize, activation: Activation) {
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

/// The configured channel of a per-pixel item `[C, mh, mw]`, resampled to `(w, h)`.
pub(crate) fn plane_at(out: &OutputConfig, values: &[f32], (mh, mw): (usize, usize), (w, h): (u32, u32)) -> Vec<f32> {
    let plane = mh * mw;
    let c = out.channel.min((values.len() / plane.max(1)).saturating_sub(1));
    let channel = values.get(c * plane..(c + 1) * plane).unwrap_or(&[]);
    resize_bilinear(channel, mw, mh, w as usize, h as usize)
}

/// The mask bytes of a per-pixel item at the image's size `(w, h)`: labels by argmax, else
/// the channel's probability scaled to 0..255.
pub(crate) fn mask_at(out: &OutputConfig, values: &[f32], model: (usize, usize), image: (u32, u32)) -> Vec<u8> {
    let (mh, mw) = model;
    if out.kind == OutputKind::NumericLabelMask {
        let plane = mh * mw;
        let channels = (values.len() / plane.max(1)).max(1);
        let at = |c: usize, p: usize| values.get(c * plane + p).copied().unwrap_or(f32::NEG_INFINITY);
        let labels: Vec<u8> = (0..plane)
            .map(|p| {
                (0..channels)
                    .max_by(|&a, &b| at(a, p).total_cmp(&at(b, p)))
                    .unwrap_or(0)
                    .min(out.classes.len().saturating_sub(1)) as u8
            })
            .collect();
        return resize_nearest(&labels, mw, mh, image.0 as usize, image.1 as usize);
    }
    plane_at(out, values, model, image).iter().map(|p| (p.clamp(0.0, 1.0) * 255.0).round() as u8).collect()
}

/// The response part of a mask output.
pub(crate) fn part(out: &OutputConfig, mask: Mask) -> MaskPart {
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

/// Running sums of classification scores.
#[derive(Default, Clone)]
pub(crate) struct Scores {
    sum: Vec<f64>,
    n: usize,
}

impl Scores {
    /// Adds one image's scores.
    pub fn add(&mut self, scores: &[f32]) {
        if self.sum.is_empty() {
            self.sum = vec![0.0; scores.len()];
        }
        self.sum.iter_mut().zip(scores).for_each(|(a, v)| *a += f64::from(*v));
        self.n += 1;
    }

    /// Adds another sum (a series' into the study's).
    pub fn merge(&mut self, other: &Scores) {
        if self.sum.is_empty() {
            self.sum = vec![0.0; other.sum.len()];
        }
        self.sum.iter_mut().zip(&other.sum).for_each(|(a, v)| *a += v);
        self.n += other.n;
    }

    /// The mean, or `None` before any image.
    pub fn mean(&self) -> Option<Vec<f64>> {
        (self.n > 0).then(|| self.sum.iter().map(|v| v / self.n as f64).collect())
    }
}

/// `{label, score, probabilities}` of mean scores named by the output's classes.
pub(crate) fn classification_json(out: &OutputConfig, scores: &[f64]) -> serde_json::Value {
    let best = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap_or(0);
    let name = |k: usize| out.classes.get(k).cloned().unwrap_or_else(|| format!("class {k}"));
    let probabilities: serde_json::Map<String, serde_json::Value> =
        scores.iter().enumerate().map(|(k, p)| (name(k), json!((p * 1e4).round() / 1e4))).collect();
    json!({"label": name(best), "score": (scores.get(best).copied().unwrap_or(0.0) * 1e4).round() / 1e4, "probabilities": probabilities})
}

//! Models that run on windows (`input.patch`): each volume (NCDHW, a timepoint of a series) or
//! image (NCHW) is decoded and normalized, resampled to `preprocess.spacing` from its DICOM
//! geometry, padded to the patch and to `pad_to_multiple`, and the model runs on overlapping
//! windows, `batch` at a time (mirrored too with `tta: mirror`). The outputs are fused with
//! Gaussian weights and come back to the original grid: linearly for probabilities, by the
//! nearest voxel for labels, so masks line up with the original slices.
//!
//! Memory holds the volume at the model's spacing, the fused sums of each output and one batch
//! of windows; the decoded slices are resampled in-plane as they arrive. The planes, the volume
//! and the sums are counted against the process's memory budget before they are made: a finer
//! spacing can multiply a small study's voxels (up to [`MAX_UPSAMPLING`] times), which the
//! decoded-pixel reservation made before the handler ran does not see.

use arterys_gateway::budget::{MemoryBudget, Reservation};
use arterys_gateway::{cancel, HandlerError, InferenceInput, InferenceResponse};

use super::Model;
use crate::config::{Activation, Layout, OutputConfig, OutputKind, Tta};
use crate::engine::OutputTensor;
use crate::failure::cancelled;
use crate::frames::{Image, SeriesPlan};
use crate::postprocess::{self, activate, Scores};
use crate::preprocess::{decode, open_part, Opened};
use crate::resample::{self, nearest, series_spacing, source, target_len, MAX_UPSAMPLING};
use crate::results::{Item, Pending};
use crate::sliding::{gaussian, starts, Fusion, Window};
use crate::study::Study;

/// A volume at the model's spacing, padded: `[D, H, W]` before padding and after.
struct Grid {
    dims: [usize; 3],
    padded: [usize; 3],
    values: Vec<f32>,
    /// Its bytes, held against the memory budget while it lives.
    _held: Reservation,
}

/// The plane every image of a volume shares: its size (columns, rows), its size at the
/// model's spacing (rows, columns) and its pixel spacing.
#[derive(Clone, Copy)]
struct Plane {
    size: (u32, u32),
    target: (usize, usize),
    pixel: [f64; 2],
}

/// What the windows of one volume produced: fused sums per per-pixel output, scores per
/// classification output.
struct Fused {
    maps: Vec<Option<Fusion>>,
    scores: Vec<Scores>,
    /// The sums' bytes, held against the memory budget while they live.
    held: Reservation,
}

/// Bytes of `n` floats.
fn floats(n: usize) -> u64 {
    (n as u64).saturating_mul(size_of::<f32>() as u64)
}

impl Model {
    /// Answers with windows: every series' volumes (or images) through the windows, results by
    /// the config.
    pub(super) fn answer_windowed(
        &self,
        input: &InferenceInput,
        study: &Study,
        plans: &[SeriesPlan],
        r: &mut InferenceResponse,
    ) -> Result<(), HandlerError> {
        let outputs = &self.config.outputs;
        let mut study_scores = vec![Scores::default(); outputs.len()];
        let mut dropped = vec![0usize; outputs.len()];
        for plan in plans {
            let mut pending: Vec<Pending> = outputs.iter().map(|o| Pending::new(o.kind, plan.volume)).collect();
            let images: Vec<(usize, Image)> = plan.order().enumerate().collect();
            let unit = match self.config.input.layout {
                Layout::Ncdhw => plan.depth().max(1),
                Layout::Nchw => 1,
            };
            for group in images.chunks(unit) {
                self.run_volume(input, study, plan, group, &mut pending)?;
            }
            for (o, (out, p)) in outputs.iter().zip(pending).enumerate() {
                p.finish(out, plan, &mut study_scores[o], &mut dropped[o], r)?;
            }
        }
        super::finish_study(outputs, &study_scores, &dropped, r);
        Ok(())
    }

    /// One volume (or image): gathered, windowed, and its results filed.
    fn run_volume(
        &self,
        input: &InferenceInput,
        study: &Study,
        plan: &SeriesPlan,
        group: &[(usize, Image)],
        pending: &mut [Pending],
    ) -> Result<(), HandlerError> {
        let (grid, items) = self.gather(input, study, plan, group)?;
        let fused = self.slide(&grid)?;
        let depth = items.len();
        let (h, w) = (grid.dims[1], grid.dims[2]);
        for (o, out) in self.config.outputs.iter().enumerate() {
            if let (Some(first), Some(mean)) = (items.first(), fused.scores[o].mean()) {
                let mean: Vec<f32> = mean.iter().map(|&v| v as f32).collect();
                pending[o].file(out, &mean, first, study, plan, (h, w))?;
                continue;
            }
            let Some(map) = &fused.maps[o] else { continue };
            let channels = map.channels();
            for (k, item) in items.iter().enumerate() {
                cancel::checkpoint().map_err(cancelled)?;
                let plane = |z| {
                    let mut p = map.plane(z, (h, w));
                    activate(&mut p, channels, self.activation(out));
                    p
                };
                let values = match source(k, grid.dims[0], depth) {
                    _ if out.kind == OutputKind::NumericLabelMask => plane(nearest(k, grid.dims[0], depth)),
                    // On a model plane (no resampling along z): that plane alone.
                    (lo, _, 0.0) => plane(lo),
                    (lo, hi, f) => plane(lo).iter().zip(&plane(hi)).map(|(x, y)| x * (1.0 - f) + y * f).collect(),
                };
                pending[o].file(out, &values, item, study, plan, (h, w))?;
            }
        }
        Ok(())
    }

    /// Decodes and normalizes the group's images, resamples them to the model's spacing and pads
    /// the volume; the items to file results for, in the group's order.
    fn gather(
        &self,
        input: &InferenceInput,
        study: &Study,
        plan: &SeriesPlan,
        group: &[(usize, Image)],
    ) -> Result<(Grid, Vec<Item>), HandlerError> {
        let spacing = self.config.preprocess.spacing.as_deref();
        let refuse = |why: String| HandlerError::unprocessable(format!("series {}: {why}", plan.uid));
        let mut opened: Option<Opened> = None;
        let mut planes_held = MemoryBudget::process().charge(0);
        let (mut planes, mut items) = (Vec::with_capacity(group.len()), Vec::with_capacity(group.len()));
        let mut plane: Option<Plane> = None;
        for &(slot, image) in group {
            cancel::checkpoint().map_err(cancelled)?;
            let part =
                input.dicom.get(image.index).ok_or_else(|| HandlerError::internal("image index out of range"))?;
            if opened.as_ref().map(|o| o.index) != Some(image.index) {
                drop(opened.take()); // one decoded instance held at a time
                opened = Some(open_part(part, image.index)?);
            }
            let Some(instance) = opened.as_mut() else { return Err(HandlerError::internal("no image opened")) };
            let window = study.instances[image.index].window;
            let d = decode(part, instance, image.frame_index(), window, &self.config.preprocess.normalize)?;
            let (w, h) = (d.size.0 as usize, d.size.1 as usize);
            let Plane { size, target: (th, tw), .. } = *match &mut plane {
                Some(p) => &*p,
                None => {
                    let pixel = match spacing {
                        Some(_) => instance.pixel_spacing().ok_or_else(|| {
                            refuse("preprocess.spacing needs the images' PixelSpacing; it is missing".into())
                        })?,
                        None => [1.0, 1.0],
                    };
                    let target = match spacing {
                        Some(t) => {
                            let n = t.len();
                            (target_len(h, pixel[0], t[n - 2]), target_len(w, pixel[1], t[n - 1]))
                        }
                        None => (h, w),
                    };
                    &*plane.insert(Plane { size: d.size, target, pixel })
                }
            };
            if d.size != size {
                return Err(refuse(format!(
                    "its images differ in size ({}x{} after {}x{}); a volume needs one size",
                    d.size.0, d.size.1, size.0, size.1
                )));
            }
            if th * tw > MAX_UPSAMPLING * (w * h).max(1) {
                return Err(refuse(format!("resampling {w}x{h} pixels to preprocess.spacing would make {tw}x{th}")));
            }
            if items.is_empty() {
                planes_held.try_grow(floats(group.len() * th * tw))?;
            }
            items.push(Item { index: image.index, frame: image.frame, slot, size: d.size });
            planes.push(d.into_plane((th, tw)));
        }
        let Some(Plane { target: (th, tw), pixel, .. }) = plane else {
            return Err(HandlerError::internal("an empty volume"));
        };
        let depth = match (spacing, self.config.input.layout) {
            (Some(t), Layout::Ncdhw) if group.len() > 1 => {
                if !plan.volume {
                    return Err(refuse(
                        "preprocess.spacing needs the slices' positions (single-frame slices with geometry)".into(),
                    ));
                }
                let infos: Vec<_> = group.iter().map(|(_, i)| &study.instances[i.index]).collect();
                let [z, _, _] = series_spacing(&infos, pixel).map_err(refuse)?;
                target_len(group.len(), z, t[0])
            }
            _ => group.len(),
        };
        let (before, after) = (group.len() * pixels(plane_size(&items)), depth * th * tw);
        if after > MAX_UPSAMPLING * before.max(1) {
            return Err(refuse(format!(
                "resampling to preprocess.spacing would make {after} voxels of {before} (more than {MAX_UPSAMPLING} times)"
            )));
        }
        Ok((self.pad(&planes, [depth, th, tw])?, items))
    }

    /// The planes resampled along z to `dims[0]` and padded to the patch and `pad_to_multiple`
    /// with zeros at the far end of each axis.
    fn pad(&self, planes: &[Vec<f32>], dims: [usize; 3]) -> Result<Grid, HandlerError> {
        let patch = self.patch();
        let multiple = self.config.preprocess.pad_to_multiple.unwrap_or(1).max(1);
        let layout = self.config.input.layout;
        let padded: [usize; 3] = std::array::from_fn(|a| {
            let at_least = dims[a].max(patch[a]);
            if a == 0 && layout == Layout::Nchw {
                at_least
            } else {
                at_least.div_ceil(multiple) * multiple
            }
        });
        let [_, ph, pw] = padded;
        let held = {
            let mut r = MemoryBudget::process().charge(0);
            r.try_grow(floats(padded.iter().product()))?;
            r
        };
        let mut values = vec![0f32; padded.iter().product()];
        let refs: Vec<&[f32]> = planes.iter().map(Vec::as_slice).collect();
        let mut row = Vec::with_capacity(dims[1] * dims[2]);
        for z in 0..dims[0] {
            row.clear();
            postprocess::lerp_plane(&refs, dims[0], z, &mut row, dims[1] * dims[2]);
            for y in 0..dims[1] {
                let at = (z * ph + y) * pw;
                values[at..at + dims[2]].copy_from_slice(&row[y * dims[2]..(y + 1) * dims[2]]);
            }
        }
        Ok(Grid { dims, padded, values, _held: held })
    }

    /// The patch as `[d, h, w]` (`d` = 1 for NCHW).
    fn patch(&self) -> [usize; 3] {
        let p = self.config.input.dims();
        match p {
            [d, h, w] => [*d, *h, *w],
            [h, w] => [1, *h, *w],
            _ => [1, 1, 1],
        }
    }

    /// Every window (mirrored too with `tta: mirror`) through the engine, `batch` at a time,
    /// fused.
    fn slide(&self, grid: &Grid) -> Result<Fused, HandlerError> {
        let patch = self.patch();
        let overlap = self.config.input.overlap;
        let axes: Vec<Vec<usize>> = (0..3).map(|a| starts(grid.padded[a], patch[a], overlap)).collect();
        let mirrored: &[usize] = if self.config.input.layout == Layout::Ncdhw { &[0, 1, 2] } else { &[1, 2] };
        let flips: Vec<[bool; 3]> = match self.config.input.tta {
            Some(Tta::Mirror) => (0..1usize << mirrored.len())
                .map(|bits| {
                    let mut f = [false; 3];
                    mirrored.iter().enumerate().for_each(|(i, &a)| f[a] = bits >> i & 1 == 1);
                    f
                })
                .collect(),
            None => vec![[false; 3]],
        };
        let importance = [gaussian(patch[0]), gaussian(patch[1]), gaussian(patch[2])];
        let outputs = &self.config.outputs;
        let mut fused = Fused {
            maps: outputs.iter().map(|_| None).collect(),
            scores: vec![Scores::default(); outputs.len()],
            held: MemoryBudget::process().charge(0),
        };
        // Windows are made as they run: memory holds one run's worth, whatever their number.
        let batch = self.config.input.batch;
        let mut tensor = Vec::with_capacity(batch * patch.iter().product::<usize>());
        let mut chunk = Vec::with_capacity(batch);
        let (zs, ys, xs) = (&axes[0], &axes[1], &axes[2]);
        let starts = zs.iter().flat_map(|&z| ys.iter().flat_map(move |&y| xs.iter().map(move |&x| [z, y, x])));
        for start in starts {
            for &flip in &flips {
                chunk.push(Window { start, patch, flip });
                if chunk.len() == batch {
                    self.run_chunk(grid, &chunk, &importance, &mut tensor, &mut fused)?;
                    chunk.clear();
                }
            }
        }
        if !chunk.is_empty() {
            self.run_chunk(grid, &chunk, &importance, &mut tensor, &mut fused)?;
        }
        Ok(fused)
    }

    /// One run of windows, its outputs added to the fused sums.
    fn run_chunk(
        &self,
        grid: &Grid,
        chunk: &[Window],
        importance: &[Vec<f32>; 3],
        tensor: &mut Vec<f32>,
        fused: &mut Fused,
    ) -> Result<(), HandlerError> {
        cancel::checkpoint().map_err(cancelled)?;
        tensor.clear();
        for window in chunk {
            extract(grid, window, tensor);
        }
        let tensors = self.run_images(tensor, chunk.len())?;
        for (o, out) in self.config.outputs.iter().enumerate() {
            let activation = self.activation(out);
            let fused_o = (&mut fused.maps[o], &mut fused.scores[o], &mut fused.held);
            file_windows(out, activation, &tensors[o], chunk, grid, importance, fused_o)?;
        }
        Ok(())
    }
}

/// The size of the group's images (all the same once gathered).
fn plane_size(items: &[Item]) -> (u32, u32) {
    items.first().map_or((0, 0), |i| i.size)
}

fn pixels((w, h): (u32, u32)) -> usize {
    w as usize * h as usize
}

/// Appends the window's voxels (mirrored as it says) to `tensor`.
fn extract(grid: &Grid, window: &Window, tensor: &mut Vec<f32>) {
    let [pd, ph, pw] = window.patch;
    let [_, gh, gw] = grid.padded;
    for z in 0..pd {
        for y in 0..ph {
            for x in 0..pw {
                let [a, b, c] = window.at(z, y, x);
                tensor.push(grid.values.get((a * gh + b) * gw + c).copied().unwrap_or(0.0));
            }
        }
    }
}

/// Adds one output of a run of windows into its fused sums (per-pixel kinds) or scores.
fn file_windows(
    out: &OutputConfig,
    activation: Activation,
    (shape, values): &OutputTensor,
    chunk: &[Window],
    grid: &Grid,
    importance: &[Vec<f32>; 3],
    (map, scores, held): (&mut Option<Fusion>, &mut Scores, &mut Reservation),
) -> Result<(), HandlerError> {
    let n = shape.first().copied().unwrap_or(1).max(1);
    let each = values.len() / n;
    for (k, window) in chunk.iter().enumerate() {
        let item = values.get(k * each..(k + 1) * each).unwrap_or(&[]);
        if !out.kind.per_pixel() {
            let mut s = item.to_vec();
            let classes = s.len();
            activate(&mut s, classes, activation);
            scores.add(&s);
            continue;
        }
        let per: usize = window.patch.iter().product();
        let channels = shape.get(1).copied().unwrap_or(1).max(1);
        if channels * per != item.len() {
            return Err(HandlerError::internal(format!(
                "output {} of shape {shape:?} does not match the patch {:?}",
                out.name, window.patch
            )));
        }
        let map = match map {
            Some(m) => m,
            None => {
                held.try_grow(floats(grid.padded.iter().product::<usize>() * (channels + 1)))?;
                map.insert(Fusion::new(grid.padded, channels))
            }
        };
        map.add(window, item, importance);
    }
    Ok(())
}

/// For `resample::pixel_spacing` on an opened instance.
impl Opened {
    /// The pixel spacing `[row, column]` (mm) the instance declares.
    pub(crate) fn pixel_spacing(&self) -> Option<[f64; 2]> {
        resample::pixel_spacing(self.object())
    }
}

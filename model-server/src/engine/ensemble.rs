//! `ensemble:`: several ONNX files (nnU-Net's folds) run on the same input, one after another on
//! the same engine kind and threads; each output is activated per member (softmax over its
//! channels, sigmoid) and the probabilities are averaged, so the model's results are those of
//! the averaged probabilities.

use super::{Engine, OutputTensor, RunError};
use crate::config::Activation;
use crate::postprocess::activate;

/// Members whose activated outputs are averaged.
pub struct Ensemble {
    members: Vec<Box<dyn Engine>>,
    activations: Vec<Activation>,
}

impl Ensemble {
    /// Members run in order; `activations` has one entry per configured output.
    pub fn new(members: Vec<Box<dyn Engine>>, activations: Vec<Activation>) -> Self {
        Self { members, activations }
    }

    fn average(&self, runs: Vec<Vec<OutputTensor>>) -> Result<Vec<OutputTensor>, RunError> {
        let n = runs.len().max(1) as f32;
        let mut runs = runs.into_iter();
        let Some(mut sum) = runs.next() else { return Err(RunError::failed("an ensemble without members")) };
        let activate_all = |outputs: &mut Vec<OutputTensor>| {
            for ((shape, values), &activation) in outputs.iter_mut().zip(&self.activations) {
                activate_batched(shape, values, activation);
            }
        };
        activate_all(&mut sum);
        for mut run in runs {
            activate_all(&mut run);
            for ((shape, acc), (other_shape, values)) in sum.iter_mut().zip(&run) {
                if shape != other_shape {
                    return Err(RunError::failed(format!(
                        "ensemble members disagree on an output's shape: {shape:?} and {other_shape:?}"
                    )));
                }
                acc.iter_mut().zip(values).for_each(|(a, v)| *a += v);
            }
        }
        sum.iter_mut().for_each(|(_, values)| values.iter_mut().for_each(|v| *v /= n));
        Ok(sum)
    }
}

/// The activation over the channel axis (1) of every item of a `[N, C, ...]` output.
fn activate_batched(shape: &[usize], values: &mut [f32], activation: Activation) {
    let n = shape.first().copied().unwrap_or(1).max(1);
    let channels = shape.get(1).copied().unwrap_or(1).max(1);
    let per = values.len() / n;
    if per == 0 {
        return;
    }
    values.chunks_mut(per).for_each(|item| activate(item, channels, activation));
}

impl Engine for Ensemble {
    fn run(&self, input: &[f32]) -> Result<Vec<OutputTensor>, RunError> {
        let runs = self.members.iter().map(|m| m.run(input)).collect::<Result<Vec<_>, _>>()?;
        self.average(runs)
    }

    fn free_batch(&self) -> bool {
        self.members.iter().all(|m| m.free_batch())
    }

    fn run_images(&self, input: &[f32], images: usize) -> Result<Vec<OutputTensor>, RunError> {
        let runs = self.members.iter().map(|m| m.run_images(input, images)).collect::<Result<Vec<_>, _>>()?;
        self.average(runs)
    }

    fn describe(&self) -> String {
        let first = self.members.first().map(|m| m.describe()).unwrap_or_default();
        format!("ensemble of {} models, probabilities averaged: {first}", self.members.len())
    }

    fn ready(&self) -> bool {
        self.members.iter().all(|m| m.ready())
    }
}

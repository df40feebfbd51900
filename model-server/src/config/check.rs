//! The rules a model's config follows on its own (the model is checked when loaded).

use super::{EngineKind, InvalidKey, Layout, ModelConfig, Normalize, OutputKind};

impl ModelConfig {
    /// The rules a config must follow on its own (the model is checked when loaded).
    pub fn check(&self) -> Result<(), InvalidKey> {
        self.check_input()?;
        if self.max_images == 0 {
            return Err(InvalidKey::new("max_images", "must be at least 1"));
        }
        if self.threads == Some(0) {
            return Err(InvalidKey::new("threads", "must be at least 1"));
        }
        if let Some(route) = &self.route {
            if !route.starts_with('/') {
                return Err(InvalidKey::new("route", format!("{route:?} must start with /")));
            }
        }
        let onnxruntime_only = [
            ("device", self.device.is_some()),
            ("fallback", self.fallback.is_some()),
            ("library", self.library.is_some()),
        ];
        for (key, set) in onnxruntime_only {
            if set && self.engine != EngineKind::Onnxruntime {
                return Err(InvalidKey::new(key, format!("applies to engine onnxruntime, not {:?}", self.engine)));
            }
        }
        match (self.engine, &self.model, &self.remote) {
            (EngineKind::Remote, _, None) => {
                return Err(InvalidKey::new("remote", "engine remote needs a remote block"))
            }
            (EngineKind::Remote, Some(_), _) => {
                return Err(InvalidKey::new("model", "engine remote runs the server's model, not a file"))
            }
            (EngineKind::Tract | EngineKind::Onnxruntime, _, Some(_)) => {
                return Err(InvalidKey::new("remote", "applies to engine remote only"))
            }
            _ => {}
        }
        if let Some(d) = self.dynamic_batching {
            if self.input.layout != Layout::Nchw || self.input.patch.is_some() {
                return Err(InvalidKey::new("dynamic_batching", "applies to NCHW models without input.patch"));
            }
            if d.max_batch == 0 {
                return Err(InvalidKey::new("dynamic_batching.max_batch", "must be at least 1"));
            }
            if d.max_delay_ms > 10_000 {
                return Err(InvalidKey::new("dynamic_batching.max_delay_ms", "must be at most 10000"));
            }
        }
        if !self.ensemble.is_empty() {
            if self.model.is_some() {
                return Err(InvalidKey::new("ensemble", "replaces model: give one of them"));
            }
            if self.ensemble.len() < 2 {
                return Err(InvalidKey::new("ensemble", "lists at least two files (one is `model:`)"));
            }
            if self.engine == EngineKind::Remote {
                return Err(InvalidKey::new("ensemble", "applies to engines tract and onnxruntime"));
            }
        }
        if self.outputs.is_empty() {
            return Err(InvalidKey::new("outputs", "no outputs configured"));
        }
        for (i, o) in self.outputs.iter().enumerate() {
            if !(0.0..=1.0).contains(&o.threshold) {
                return Err(InvalidKey::new(
                    format!("outputs[{i}].threshold"),
                    format!("{} is outside 0..1", o.threshold),
                ));
            }
            if o.min_box_pixels.is_some() && o.kind != OutputKind::Boxes {
                return Err(InvalidKey::new(
                    format!("outputs[{i}].min_box_pixels"),
                    format!("applies to kind boxes, not {:?}", o.kind),
                ));
            }
            let needs_classes = matches!(o.kind, OutputKind::Classification | OutputKind::NumericLabelMask);
            if needs_classes && o.classes.is_empty() {
                return Err(InvalidKey::new(format!("outputs[{i}].classes"), format!("{:?} needs classes", o.kind)));
            }
            if self.outputs[..i].iter().any(|p| p.name == o.name && p.kind == o.kind) {
                return Err(InvalidKey::new(format!("outputs[{i}]"), format!("{:?} is configured twice", o.name)));
            }
        }
        Ok(())
    }

    fn check_input(&self) -> Result<(), InvalidKey> {
        let input = &self.input;
        let want = input.layout.rank() - 2;
        let positive = |key: &str, v: &[usize]| {
            if v.len() != want || v.contains(&0) {
                return Err(InvalidKey::new(key, format!("must be {want} positive numbers for {:?}", input.layout)));
            }
            Ok(())
        };
        match &input.patch {
            Some(patch) => {
                positive("input.patch", patch)?;
                if !input.size.is_empty() {
                    return Err(InvalidKey::new("input.size", "not used with input.patch: the model runs the patch"));
                }
            }
            None => positive("input.size", &input.size)?,
        }
        if input.batch == 0 {
            return Err(InvalidKey::new("input.batch", "must be at least 1"));
        }
        if input.layout == Layout::Ncdhw && input.patch.is_none() && input.batch != 1 {
            return Err(InvalidKey::new(
                "input.batch",
                "NCDHW models take one volume per run: batch must be 1 (or set input.patch)",
            ));
        }
        if !(0.0..=0.9).contains(&input.overlap) {
            return Err(InvalidKey::new("input.overlap", format!("{} is outside 0..0.9", input.overlap)));
        }
        let windowed = input.patch.is_some();
        if input.tta.is_some() && !windowed {
            return Err(InvalidKey::new("input.tta", "needs input.patch (it mirrors windows)"));
        }
        let pre = &self.preprocess;
        if let Some(spacing) = &pre.spacing {
            if !windowed {
                return Err(InvalidKey::new("preprocess.spacing", "needs input.patch (the window the model runs)"));
            }
            if spacing.len() != want || !spacing.iter().all(|s| s.is_finite() && *s > 0.0) {
                return Err(InvalidKey::new(
                    "preprocess.spacing",
                    format!("must be {want} positive numbers (mm) for {:?}", input.layout),
                ));
            }
        }
        match pre.pad_to_multiple {
            Some(_) if !windowed => {
                return Err(InvalidKey::new("preprocess.pad_to_multiple", "needs input.patch"));
            }
            Some(0) => return Err(InvalidKey::new("preprocess.pad_to_multiple", "must be at least 1")),
            _ => {}
        }
        if let Normalize::Dataset { clip, std, .. } = &pre.normalize {
            if !(std.is_finite() && *std > 0.0) {
                return Err(InvalidKey::new("preprocess.normalize.std", "must be positive"));
            }
            if clip.is_some_and(|[lo, hi]| lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less)) {
                return Err(InvalidKey::new("preprocess.normalize.clip", "must be [lo, hi] with lo < hi"));
            }
        }
        Ok(())
    }
}

//! Heatmap palettes (`"palettes"` in the response) and their 256-entry lookup tables.

use serde::{Deserialize, Serialize};

/// One anchor point: at `threshold` (0..=1 of the uint8 range) the color is `color` (RGBA).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnchorPoint {
    /// Position in 0.0..=1.0 (0 = voxel value 0, 1 = voxel value 255).
    pub threshold: f64,
    /// `[r, g, b, a]`, each 0..=255.
    pub color: [u8; 4],
}

/// A palette: `{"type": "anchorpoints", "data": [{"threshold", "color"}, ...]}`.
///
/// ```
/// use arterys_protocol::{AnchorPoint, Palette};
/// let p = Palette::anchorpoints(vec![
///     AnchorPoint { threshold: 0.0, color: [0, 0, 0, 0] },
///     AnchorPoint { threshold: 1.0, color: [255, 0, 0, 255] },
/// ]).unwrap();
/// assert_eq!(p.lookup_table()[255], [255, 0, 0, 255]);
/// assert!(Palette::anchorpoints(vec![AnchorPoint { threshold: 0.5, color: [0; 4] }]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Palette {
    /// Always `anchorpoints` in protocol 1.0.
    #[serde(rename = "type")]
    pub kind: String,
    /// The anchor points, thresholds increasing from 0.0 to 1.0.
    pub data: Vec<AnchorPoint>,
}

/// Why a palette breaks the protocol's rules.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PaletteError {
    /// `type` is not `anchorpoints`.
    #[error("type is {0:?}, expected \"anchorpoints\"")]
    Kind(String),
    /// Fewer than two anchor points.
    #[error("needs at least two anchor points")]
    TooFewPoints,
    /// The first threshold is not 0.0.
    #[error("first threshold is {0}, expected 0.0")]
    First(f64),
    /// The last threshold is not 1.0.
    #[error("last threshold is {0}, expected 1.0")]
    Last(f64),
    /// Two thresholds out of order.
    #[error("thresholds not increasing ({0} then {1})")]
    NotIncreasing(f64, f64),
}

impl Palette {
    /// A validated `anchorpoints` palette.
    pub fn anchorpoints(points: Vec<AnchorPoint>) -> Result<Self, PaletteError> {
        let p = Self { kind: "anchorpoints".into(), data: points };
        p.check()?;
        Ok(p)
    }

    /// Checks the rules: type `anchorpoints`, at least two points, the first at 0.0, the last
    /// at 1.0, thresholds increasing. Returns the reason when one fails.
    pub fn check(&self) -> Result<(), PaletteError> {
        if self.kind != "anchorpoints" {
            return Err(PaletteError::Kind(self.kind.clone()));
        }
        let (Some(first), Some(last)) = (self.data.first(), self.data.last()) else {
            return Err(PaletteError::TooFewPoints);
        };
        if self.data.len() < 2 {
            return Err(PaletteError::TooFewPoints);
        }
        if first.threshold != 0.0 {
            return Err(PaletteError::First(first.threshold));
        }
        if last.threshold != 1.0 {
            return Err(PaletteError::Last(last.threshold));
        }
        if let Some(w) =
            self.data.windows(2).find(|w| w[0].threshold.partial_cmp(&w[1].threshold).is_none_or(|o| o.is_gt()))
        {
            return Err(PaletteError::NotIncreasing(w[0].threshold, w[1].threshold));
        }
        Ok(())
    }

    /// The color of every voxel value 0..=255: linear interpolation between the anchor points
    /// around `value / 255`.
    pub fn lookup_table(&self) -> [[u8; 4]; 256] {
        let mut lut = [[0u8; 4]; 256];
        for (v, out) in lut.iter_mut().enumerate() {
            let t = v as f64 / 255.0;
            let upper = self.data.iter().position(|p| p.threshold >= t).unwrap_or(self.data.len().saturating_sub(1));
            let Some(hi) = self.data.get(upper) else { break };
            let lo = if upper == 0 { hi } else { &self.data[upper - 1] };
            let span = hi.threshold - lo.threshold;
            let f = if span > 0.0 { ((t - lo.threshold) / span).clamp(0.0, 1.0) } else { 1.0 };
            for (c, o) in out.iter_mut().enumerate() {
                *o = (lo.color[c] as f64 + f * (hi.color[c] as f64 - lo.color[c] as f64)).round() as u8;
            }
        }
        lut
    }

    /// The JET-like colormap used for heatmaps without a palette: blue through cyan, yellow
    /// and red; value 0 is transparent, every other value half opaque.
    pub fn jet_lookup_table() -> [[u8; 4]; 256] {
        let mut lut = [[0u8; 4]; 256];
        for (v, out) in lut.iter_mut().enumerate() {
            let t = v as f64 / 255.0;
            let ch = |c: f64| ((1.5 - (4.0 * t - c).abs()).clamp(0.0, 1.0) * 255.0).round() as u8;
            *out = [ch(3.0), ch(2.0), ch(1.0), if v == 0 { 0 } else { 128 }];
        }
        lut
    }
}

//! Sliding-window fusion: where the windows of a patch lie over a volume, their Gaussian
//! importance weights, and the weighted sums that outputs of overlapping windows add into.
//!
//! As nnU-Net and MONAI's `SlidingWindowInferer` do: windows are spread evenly so that
//! neighbours overlap by at least `overlap` of the patch, and each window's output is weighted
//! by a Gaussian centred on the patch with sigma = patch / 8 along each axis, so that voxels near
//! a window's border (where the network sees little context) count least.

/// Start offsets along one axis of windows of `patch` voxels over `size` voxels, with
/// neighbours overlapping by at least `overlap` (0 to below 1) of the patch; one window at 0
/// when the patch covers the axis.
pub(crate) fn starts(size: usize, patch: usize, overlap: f64) -> Vec<usize> {
    if size <= patch {
        return vec![0];
    }
    let step = (patch as f64 * (1.0 - overlap)).max(1.0);
    let n = ((size - patch) as f64 / step).ceil() as usize + 1;
    let span = (size - patch) as f64 / (n - 1) as f64;
    (0..n).map(|i| (i as f64 * span).round() as usize).collect()
}

/// The Gaussian importance of each position of a `patch`-long axis: exp(-(i - c)^2 / 2 sigma^2)
/// with c the patch's centre and sigma = patch / 8.
pub(crate) fn gaussian(patch: usize) -> Vec<f32> {
    let c = (patch as f64 - 1.0) / 2.0;
    let sigma = (patch as f64 / 8.0).max(1e-3);
    (0..patch).map(|i| (-((i as f64 - c).powi(2)) / (2.0 * sigma * sigma)).exp() as f32).collect()
}

/// Weighted sums of window outputs over a `[D, H, W]` grid, for one output of `channels`
/// channels, with the sum of the weights.
pub(crate) struct Fusion {
    dims: [usize; 3],
    channels: usize,
    sums: Vec<f32>,
    weights: Vec<f32>,
}

/// One window: its start in the grid, its size, and the axes it is mirrored along.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// Start `[z, y, x]`.
    pub start: [usize; 3],
    /// Size `[d, h, w]`.
    pub patch: [usize; 3],
    /// Mirrored along z, y, x.
    pub flip: [bool; 3],
}

impl Window {
    /// The grid position of patch voxel `(z, y, x)`.
    pub fn at(&self, z: usize, y: usize, x: usize) -> [usize; 3] {
        let m = |i: usize, a: usize| self.start[a] + if self.flip[a] { self.patch[a] - 1 - i } else { i };
        [m(z, 0), m(y, 1), m(x, 2)]
    }
}

impl Fusion {
    /// Empty sums over `dims` for `channels` channels.
    pub fn new(dims: [usize; 3], channels: usize) -> Self {
        let n = dims.iter().product::<usize>();
        Self { dims, channels, sums: vec![0.0; n * channels], weights: vec![0.0; n] }
    }

    /// Channels per voxel.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Adds a window's output `[C, d, h, w]` weighted by `importance` (one vector per axis).
    pub fn add(&mut self, window: &Window, values: &[f32], importance: &[Vec<f32>; 3]) {
        let [pd, ph, pw] = window.patch;
        let [_, gh, gw] = self.dims;
        let n = self.weights.len();
        let per = pd * ph * pw;
        for z in 0..pd {
            for y in 0..ph {
                let wzy = importance[0][z] * importance[1][y];
                for (x, &wx) in importance[2].iter().enumerate().take(pw) {
                    let w = wzy * wx;
                    let [gz, gy, gx] = window.at(z, y, x);
                    let g = (gz * gh + gy) * gw + gx;
                    let p = (z * ph + y) * pw + x;
                    self.weights[g] += w;
                    for c in 0..self.channels {
                        self.sums[c * n + g] += w * values.get(c * per + p).copied().unwrap_or(0.0);
                    }
                }
            }
        }
    }

    /// The fused `[C, h, w]` values of plane `z`, cut to its first `h` rows and `w` columns
    /// (the grid before padding).
    pub fn plane(&self, z: usize, (h, w): (usize, usize)) -> Vec<f32> {
        let [_, gh, gw] = self.dims;
        let n = self.weights.len();
        let mut out = Vec::with_capacity(self.channels * h * w);
        for c in 0..self.channels {
            for y in 0..h {
                for x in 0..w {
                    let g = (z * gh + y) * gw + x;
                    let weight = self.weights.get(g).copied().unwrap_or(0.0);
                    let sum = self.sums.get(c * n + g).copied().unwrap_or(0.0);
                    out.push(if weight > 0.0 { sum / weight } else { 0.0 });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_axis_with_the_overlap_asked() {
        assert_eq!(starts(64, 128, 0.5), vec![0]);
        assert_eq!(starts(128, 128, 0.5), vec![0]);
        assert_eq!(starts(200, 128, 0.5), vec![0, 36, 72]);
        assert_eq!(starts(300, 128, 0.5), vec![0, 57, 115, 172]);
        assert_eq!(starts(10, 4, 0.0), vec![0, 3, 6]);
    }

    #[test]
    fn a_constant_output_fuses_to_itself_and_mirrors_map_back() {
        let importance = [gaussian(2), gaussian(4), gaussian(4)];
        assert!((importance[1][1] - importance[1][2]).abs() < 1e-6, "symmetric");
        let mut f = Fusion::new([2, 6, 6], 1);
        for start in [[0, 0, 0], [0, 2, 2], [0, 2, 0], [0, 0, 2]] {
            let w = Window { start, patch: [2, 4, 4], flip: [false, true, false] };
            f.add(&w, &[3.0; 32], &importance);
        }
        let plane = f.plane(1, (6, 6));
        assert!(plane.iter().all(|&v| (v - 3.0).abs() < 1e-5), "{plane:?}");
        let w = Window { start: [0, 1, 2], patch: [1, 4, 4], flip: [false, true, true] };
        assert_eq!(w.at(0, 0, 0), [0, 4, 5]);
    }
}

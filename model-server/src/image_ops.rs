//! Resampling and connected components on single planes.

/// Bilinear resampling of a row-major `sw x sh` plane to `dw x dh` (pixel centres aligned).
pub fn resize_bilinear(src: &[f32], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<f32> {
    if (sw, sh) == (dw, dh) {
        return src.to_vec();
    }
    // An empty source has nothing to sample (and `sw - 1` would underflow).
    if sw == 0 || sh == 0 {
        return vec![0.0; dw * dh];
    }
    let mut out = Vec::with_capacity(dw * dh);
    let (sx, sy) = (sw as f32 / dw as f32, sh as f32 / dh as f32);
    let at = |x: usize, y: usize| src.get(y * sw + x).copied().unwrap_or(0.0);
    for y in 0..dh {
        let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (sh - 1) as f32);
        let (y0, ty) = (fy.floor() as usize, fy - fy.floor());
        let y1 = (y0 + 1).min(sh - 1);
        for x in 0..dw {
            let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (sw - 1) as f32);
            let (x0, tx) = (fx.floor() as usize, fx - fx.floor());
            let x1 = (x0 + 1).min(sw - 1);
            let top = at(x0, y0) * (1.0 - tx) + at(x1, y0) * tx;
            let bottom = at(x0, y1) * (1.0 - tx) + at(x1, y1) * tx;
            out.push(top * (1.0 - ty) + bottom * ty);
        }
    }
    out
}

/// Nearest-neighbour resampling (for labels).
pub fn resize_nearest(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    if (sw, sh) == (dw, dh) {
        return src.to_vec();
    }
    if sw == 0 || sh == 0 {
        return vec![0; dw * dh];
    }
    (0..dh)
        .flat_map(|y| {
            let sy = (y * sh / dh).min(sh - 1);
            (0..dw).map(move |x| src.get(sy * sw + (x * sw / dw).min(sw - 1)).copied().unwrap_or(0))
        })
        .collect()
}

/// A box `(x0, y0, x1, y1)`, corners included.
pub type PixelBox = (usize, usize, usize, usize);

/// Bounding boxes of the 4-connected components of `mask` with at least `min_pixels` pixels,
/// and how many smaller components were dropped.
pub fn components(mask: &[bool], w: usize, h: usize, min_pixels: usize) -> (Vec<PixelBox>, usize) {
    let mut seen = vec![false; mask.len()];
    let mut boxes = Vec::new();
    let mut dropped = 0;
    let mut stack = Vec::new();
    for start in 0..mask.len().min(w * h) {
        if !mask[start] || seen[start] {
            continue;
        }
        let (mut x0, mut y0, mut x1, mut y1, mut n) = (w, h, 0, 0, 0);
        seen[start] = true;
        stack.push(start);
        while let Some(p) = stack.pop() {
            let (x, y) = (p % w, p / w);
            (x0, y0, x1, y1, n) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y), n + 1);
            let neighbours = [
                (x > 0).then(|| p - 1),
                (x + 1 < w).then(|| p + 1),
                (y > 0).then(|| p - w),
                (y + 1 < h).then(|| p + w),
            ];
            for q in neighbours.into_iter().flatten() {
                if mask[q] && !seen[q] {
                    seen[q] = true;
                    stack.push(q);
                }
            }
        }
        if n >= min_pixels {
            boxes.push((x0, y0, x1, y1));
        } else {
            dropped += 1;
        }
    }
    (boxes, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_keeps_constants_and_identity() {
        assert_eq!(resize_bilinear(&[2.0; 16], 4, 4, 7, 3), vec![2.0; 21]);
        let src: Vec<f32> = (0..12).map(|v| v as f32).collect();
        assert_eq!(resize_bilinear(&src, 4, 3, 4, 3), src);
        let up = resize_bilinear(&[0.0, 1.0], 2, 1, 4, 1);
        assert_eq!(up, vec![0.0, 0.25, 0.75, 1.0]);
    }

    #[test]
    fn nearest_and_components() {
        assert_eq!(resize_nearest(&[1, 2, 3, 4], 2, 2, 4, 2), vec![1, 1, 2, 2, 3, 3, 4, 4]);
        #[rustfmt::skip]
        let m = [true, true, false, false,
                 false, true, false, true,
                 false, false, false, true];
        assert_eq!(components(&m, 4, 3, 1), (vec![(0, 0, 1, 1), (3, 1, 3, 2)], 0));
        assert_eq!(components(&m, 4, 3, 3), (vec![(0, 0, 1, 1)], 1));
    }

    #[test]
    fn an_empty_source_resamples_to_zeros_without_panicking() {
        assert_eq!(resize_nearest(&[], 0, 3, 2, 2), vec![0; 4]);
        assert_eq!(resize_bilinear(&[], 3, 0, 2, 1), vec![0.0; 2]);
    }
}

//! Drawing primitives on an RGB8 canvas: rectangles, lines, text ([`text`]), mask overlays, and PNG export.

/// How a mask value is drawn: `None` leaves the pixel alone, otherwise a color and its opacity.
type MaskStyle = Option<([u8; 3], f32)>;

/// An RGB8 canvas (the rendered DICOM frame, drawn on in place).
///
/// Pixels are stored row-major, 3 bytes per pixel, `width * height * 3` bytes in all.
/// Every method tolerates out-of-range coordinates (they are clipped or ignored) and never panics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canvas {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major RGB8 pixel data.
    pub rgb: Vec<u8>,
}

impl Canvas {
    /// Wraps RGB8 pixel data; `rgb` is zero-padded or truncated to exactly `width * height * 3` bytes.
    pub fn new(width: u32, height: u32, mut rgb: Vec<u8>) -> Canvas {
        rgb.resize(width as usize * height as usize * 3, 0);
        Canvas { width, height, rgb }
    }

    /// Byte offset of pixel (x, y), or `None` when it is outside the canvas.
    fn offset(&self, x: i64, y: i64) -> Option<usize> {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return None;
        }
        Some((y as usize * self.width as usize + x as usize) * 3)
    }

    /// Blends `color` over pixel (x, y) with `alpha` 0.0..=1.0 (out of bounds: ignored).
    ///
    /// `alpha` is clamped to 0.0..=1.0 (NaN counts as 0.0); channels are rounded to the nearest value.
    pub fn blend(&mut self, x: i64, y: i64, color: [u8; 3], alpha: f32) {
        let alpha = if alpha.is_nan() { 0.0 } else { alpha.clamp(0.0, 1.0) };
        if alpha <= 0.0 {
            return;
        }
        if alpha >= 1.0 {
            self.set(x, y, color);
            return;
        }
        let Some(i) = self.offset(x, y) else { return };
        if let Some(px) = self.rgb.get_mut(i..i + 3) {
            for (dst, &src) in px.iter_mut().zip(color.iter()) {
                let mixed = f32::from(*dst) * (1.0 - alpha) + f32::from(src) * alpha;
                *dst = mixed.round().clamp(0.0, 255.0) as u8;
            }
        }
    }

    /// Sets pixel (x, y) to `color` (out of bounds: ignored).
    pub fn set(&mut self, x: i64, y: i64, color: [u8; 3]) {
        let Some(i) = self.offset(x, y) else { return };
        if let Some(px) = self.rgb.get_mut(i..i + 3) {
            px.copy_from_slice(&color);
        }
    }

    /// The color of pixel (x, y); black when out of bounds.
    // Part of the canvas API (used by the tests) even while the binary itself only draws.
    pub fn get(&self, x: u32, y: u32) -> [u8; 3] {
        self.offset(i64::from(x), i64::from(y))
            .and_then(|i| self.rgb.get(i..i + 3))
            .map_or([0, 0, 0], |px| [px[0], px[1], px[2]])
    }

    /// Fills the rectangle between two inclusive corners, clipped to the canvas.
    fn fill_rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, color: [u8; 3]) {
        let x0 = x0.max(0);
        let y0 = y0.max(0);
        let x1 = x1.min(i64::from(self.width) - 1);
        let y1 = y1.min(i64::from(self.height) - 1);
        if x0 > x1 || y0 > y1 {
            return;
        }
        let row_len = self.width as usize * 3;
        for y in y0..=y1 {
            let start = y as usize * row_len + x0 as usize * 3;
            let end = y as usize * row_len + (x1 as usize + 1) * 3;
            if let Some(span) = self.rgb.get_mut(start..end) {
                for px in span.chunks_exact_mut(3) {
                    px.copy_from_slice(&color);
                }
            }
        }
    }

    /// Blends `color` over the rectangle between two inclusive corners, clipped to the canvas.
    pub(crate) fn blend_rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, color: [u8; 3], alpha: f32) {
        let x0 = x0.max(0);
        let y0 = y0.max(0);
        let x1 = x1.min(i64::from(self.width) - 1);
        let y1 = y1.min(i64::from(self.height) - 1);
        for y in y0..=y1 {
            for x in x0..=x1 {
                self.blend(x, y, color, alpha);
            }
        }
    }

    /// Rectangle outline between two corners (inclusive), `thickness` px drawn inward, clipped.
    ///
    /// The corners may be given in any order; a thickness of 0 is treated as 1.
    pub fn rect(&mut self, top_left: [i64; 2], bottom_right: [i64; 2], color: [u8; 3], thickness: u32) {
        let (x0, x1) = (top_left[0].min(bottom_right[0]), top_left[0].max(bottom_right[0]));
        let (y0, y1) = (top_left[1].min(bottom_right[1]), top_left[1].max(bottom_right[1]));
        let t = i64::from(thickness.max(1));
        // Bands are clamped to the rectangle so a thick outline of a small box just fills it.
        let top_end = y0.saturating_add(t - 1).min(y1);
        let bottom_start = y1.saturating_sub(t - 1).max(y0);
        let left_end = x0.saturating_add(t - 1).min(x1);
        let right_start = x1.saturating_sub(t - 1).max(x0);
        self.fill_rect(x0, y0, x1, top_end, color);
        self.fill_rect(x0, bottom_start, x1, y1, color);
        self.fill_rect(x0, y0, left_end, y1, color);
        self.fill_rect(right_start, y0, x1, y1, color);
    }

    /// A straight line (Bresenham) `thickness` px wide, float endpoints rounded.
    ///
    /// Each point of the line is stamped as a `thickness`-sized square (0 is treated as 1).
    /// Lines reaching far outside the canvas are clipped first; non-finite endpoints draw nothing.
    pub fn line(&mut self, from: [f64; 2], to: [f64; 2], color: [u8; 3], thickness: u32) {
        if !from.iter().chain(to.iter()).all(|v| v.is_finite()) {
            return;
        }
        let t = i64::from(thickness.max(1));
        let margin = t as f64 + 1.0;
        let bounds = [-margin, -margin, f64::from(self.width) + margin, f64::from(self.height) + margin];
        let Some((from, to)) = clip_segment(from, to, bounds) else { return };
        let (mut x, mut y) = (from[0].round() as i64, from[1].round() as i64);
        let (x_end, y_end) = (to[0].round() as i64, to[1].round() as i64);
        let dx = (x_end - x).abs();
        let dy = -(y_end - y).abs();
        let sx = if x < x_end { 1 } else { -1 };
        let sy = if y < y_end { 1 } else { -1 };
        let mut err = dx + dy;
        let lo = -(t - 1) / 2;
        let hi = lo + t - 1;
        loop {
            if t == 1 {
                self.set(x, y, color);
            } else {
                self.fill_rect(x + lo, y + lo, x + hi, y + hi, color);
            }
            if x == x_end && y == y_end {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Lays a mask slice over the canvas: `mask` is mask_w*mask_h bytes row-major; when the mask size differs
    /// from the canvas it is scaled nearest-neighbour; for each canvas pixel the mask value v is mapped by
    /// `color_of(v)` to `Option<([u8; 3], f32)>` (colour, alpha); `None` leaves the pixel untouched.
    ///
    /// A mask shorter than `mask_w * mask_h` bytes, or with a zero dimension, is ignored.
    /// `color_of` is called at most once per distinct mask value.
    pub fn overlay_mask(
        &mut self,
        mask: &[u8],
        mask_w: u32,
        mask_h: u32,
        color_of: impl Fn(u8) -> Option<([u8; 3], f32)>,
    ) {
        let (mw, mh) = (mask_w as usize, mask_h as usize);
        if mw == 0 || mh == 0 || mask.len() < mw * mh {
            return;
        }
        let (cw, ch) = (self.width as usize, self.height as usize);
        let mut cache: [Option<MaskStyle>; 256] = [None; 256];
        let mx_of: Vec<usize> = (0..cw).map(|x| x * mw / cw).collect();
        for y in 0..ch {
            let row = &mask[(y * mh / ch) * mw..][..mw];
            for (x, &mx) in mx_of.iter().enumerate() {
                let v = row[mx];
                let entry = *cache[usize::from(v)].get_or_insert_with(|| color_of(v));
                if let Some((color, alpha)) = entry {
                    self.blend(x as i64, y as i64, color, alpha);
                }
            }
        }
    }

    /// PNG bytes (RGB8) via the `png` crate with fast compression (speed matters: hundreds of 512x512 slices).
    pub fn to_png(&self) -> Result<Vec<u8>, String> {
        let expected = self.width as usize * self.height as usize * 3;
        if self.rgb.len() != expected {
            return Err(format!(
                "canvas data is {} bytes, expected {expected} for {}x{} RGB8",
                self.rgb.len(),
                self.width,
                self.height
            ));
        }
        let mut out = Vec::with_capacity(expected / 2 + 1024);
        let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().map_err(|e| format!("PNG header: {e}"))?;
        writer.write_image_data(&self.rgb).map_err(|e| format!("PNG data: {e}"))?;
        writer.finish().map_err(|e| format!("PNG finish: {e}"))?;
        Ok(out)
    }
}

/// Clips the segment `a`-`b` to `[min_x, min_y, max_x, max_y]` (Liang–Barsky); `None` when fully outside.
fn clip_segment(a: [f64; 2], b: [f64; 2], bounds: [f64; 4]) -> Option<([f64; 2], [f64; 2])> {
    let inside = |p: [f64; 2]| p[0] >= bounds[0] && p[0] <= bounds[2] && p[1] >= bounds[1] && p[1] <= bounds[3];
    if inside(a) && inside(b) {
        return Some((a, b));
    }
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [(-dx, a[0] - bounds[0]), (dx, bounds[2] - a[0]), (-dy, a[1] - bounds[1]), (dy, bounds[3] - a[1])] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    Some(([a[0] + t0 * dx, a[1] + t0 * dy], [a[0] + t1 * dx, a[1] + t1 * dy]))
}

/// Distinct overlay colors: red, green, blue, yellow, magenta, cyan, then orange, purple, teal, pink, lime, brown,
/// then a golden-angle hue sequence for any index. `palette_color(0)` is red.
pub fn palette_color(index: usize) -> [u8; 3] {
    const FIXED: [[u8; 3]; 12] = [
        [255, 0, 0],     // red
        [0, 255, 0],     // green
        [0, 0, 255],     // blue
        [255, 255, 0],   // yellow
        [255, 0, 255],   // magenta
        [0, 255, 255],   // cyan
        [255, 165, 0],   // orange
        [128, 0, 128],   // purple
        [0, 128, 128],   // teal
        [255, 192, 203], // pink
        [50, 205, 50],   // lime
        [139, 69, 19],   // brown
    ];
    if let Some(color) = FIXED.get(index) {
        return *color;
    }
    // Golden angle in degrees: successive hues stay well apart for any count.
    const GOLDEN_ANGLE: f64 = 137.507_764_050_037_85;
    let n = (index - FIXED.len()) as f64;
    let hue = (15.0 + n * GOLDEN_ANGLE).rem_euclid(360.0);
    hsv_to_rgb(hue, 0.8, 0.95)
}

/// Converts HSV (hue in degrees, saturation and value 0..=1) to RGB8.
fn hsv_to_rgb(hue: f64, saturation: f64, value: f64) -> [u8; 3] {
    let c = value * saturation;
    let h = hue / 60.0;
    let x = c * (1.0 - (h.rem_euclid(2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = value - c;
    let to_u8 = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    [to_u8(r), to_u8(g), to_u8(b)]
}

pub mod text;

#[cfg(test)]
mod tests;

//! Drawing primitives on an RGB8 canvas: rectangles, lines, text, mask overlays, and PNG export.

use font8x8::legacy::BASIC_LEGACY;

/// How a mask value is drawn: `None` leaves the pixel alone, otherwise a color and its opacity.
type MaskStyle = Option<([u8; 3], f32)>;

/// Color of the translucent box drawn behind text.
const TEXT_BACKGROUND: [u8; 3] = [0, 0, 0];
/// Opacity of the translucent box drawn behind text.
const TEXT_BACKGROUND_ALPHA: f32 = 0.6;

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
    fn blend_rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, color: [u8; 3], alpha: f32) {
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

    /// Text with the 8x8 font scaled by `scale`, on a dark translucent background box, at (x, y) top-left;
    /// lines split on '\n'; non-ASCII shown as '?'; clipped at the edges. Returns the height drawn.
    ///
    /// The box has a padding of `2 * scale` px on every side and `2 * scale` px between lines; its size
    /// is [`Canvas::text_size`]. The returned height is the full box height even when clipped (so callers
    /// can stack blocks); empty text draws nothing and returns 0. A scale of 0 is treated as 1.
    pub fn text(&mut self, x: i64, y: i64, text: &str, color: [u8; 3], scale: u32) -> u32 {
        let (box_w, box_h) = Self::text_size(text, scale);
        if box_h == 0 {
            return 0;
        }
        let s = i64::from(scale.max(1));
        self.blend_rect(
            x,
            y,
            x.saturating_add(i64::from(box_w) - 1),
            y.saturating_add(i64::from(box_h) - 1),
            TEXT_BACKGROUND,
            TEXT_BACKGROUND_ALPHA,
        );
        let pad = 2 * s;
        let line_step = 10 * s;
        for (row, line) in text_lines(text).enumerate() {
            let gy = y.saturating_add(pad + row as i64 * line_step);
            for (col, ch) in line.chars().enumerate() {
                let gx = x.saturating_add(pad + col as i64 * 8 * s);
                let glyph = BASIC_LEGACY[if ch.is_ascii() { ch as usize } else { '?' as usize }];
                for (by, bits) in glyph.iter().enumerate() {
                    for bx in 0..8 {
                        if bits & (1 << bx) != 0 {
                            let px = gx.saturating_add(bx * s);
                            let py = gy.saturating_add(by as i64 * s);
                            self.fill_rect(px, py, px.saturating_add(s - 1), py.saturating_add(s - 1), color);
                        }
                    }
                }
            }
        }
        box_h
    }

    /// Size (width, height) in pixels of the box [`Canvas::text`] draws for `text` at `scale`; (0, 0) when empty.
    pub fn text_size(text: &str, scale: u32) -> (u32, u32) {
        if text.is_empty() {
            return (0, 0);
        }
        let s = scale.max(1);
        let (lines, max_chars) =
            text_lines(text).fold((0u32, 0u32), |(n, w), line| (n + 1, w.max(line.chars().count() as u32)));
        let width = max_chars.saturating_mul(8 * s).saturating_add(4 * s);
        let height = lines.saturating_mul(10 * s).saturating_add(2 * s);
        (width, height)
    }

    /// Lays a mask slice over the canvas: `mask` is mask_w*mask_h bytes row-major; when the mask size differs
    /// from the canvas it is scaled nearest-neighbour; for each canvas pixel the mask value v is mapped by
    /// `color_of(v)` to Option<([u8;3] color, f32 alpha)>; None leaves the pixel untouched.
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

/// Lines of `text` as [`Canvas::text`] draws them: split on '\n', with a trailing '\r' removed.
fn text_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line))
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

#[cfg(test)]
mod tests {
    use super::*;

    const BG: [u8; 3] = [10, 20, 30];

    fn canvas(w: u32, h: u32) -> Canvas {
        Canvas::new(w, h, BG.repeat(w as usize * h as usize))
    }

    #[test]
    fn new_fixes_buffer_length() {
        assert_eq!(Canvas::new(3, 2, vec![1; 5]).rgb.len(), 18);
        assert_eq!(Canvas::new(1, 1, vec![1; 50]).rgb.len(), 3);
    }

    #[test]
    fn set_get_and_out_of_bounds() {
        let mut c = canvas(4, 3);
        c.set(3, 2, [1, 2, 3]);
        assert_eq!(c.get(3, 2), [1, 2, 3]);
        assert_eq!(c.rgb[(2 * 4 + 3) * 3..], [1, 2, 3]);
        let before = c.clone();
        c.set(-1, 0, [9, 9, 9]);
        c.set(4, 0, [9, 9, 9]);
        c.set(0, 3, [9, 9, 9]);
        c.blend(0, -5, [9, 9, 9], 1.0);
        assert_eq!(c, before);
        assert_eq!(c.get(4, 0), [0, 0, 0]);
    }

    #[test]
    fn blend_half_gives_midpoint() {
        let mut c = Canvas::new(1, 1, vec![100, 0, 255]);
        c.blend(0, 0, [200, 100, 55], 0.5);
        assert_eq!(c.get(0, 0), [150, 50, 155]);
        c.blend(0, 0, [0, 0, 0], 0.0);
        assert_eq!(c.get(0, 0), [150, 50, 155]);
        c.blend(0, 0, [7, 8, 9], 1.0);
        assert_eq!(c.get(0, 0), [7, 8, 9]);
        c.blend(0, 0, [0, 0, 0], f32::NAN);
        assert_eq!(c.get(0, 0), [7, 8, 9]);
    }

    #[test]
    fn rect_edges_colored_inside_untouched() {
        let red = [255, 0, 0];
        for thickness in [1u32, 2] {
            let mut c = canvas(10, 8);
            c.rect([2, 1], [7, 6], red, thickness);
            let t = thickness as i64;
            for y in 0..8i64 {
                for x in 0..10i64 {
                    let in_rect = (2..=7).contains(&x) && (1..=6).contains(&y);
                    let inner = (2 + t..=7 - t).contains(&x) && (1 + t..=6 - t).contains(&y);
                    let expected = if in_rect && !inner { red } else { BG };
                    assert_eq!(c.get(x as u32, y as u32), expected, "t={thickness} ({x},{y})");
                }
            }
        }
    }

    #[test]
    fn rect_clipped_and_swapped_corners() {
        let mut c = canvas(5, 5);
        c.rect([8, 3], [-3, -100], [1, 1, 1], 1);
        // Only the bottom edge (y = 3) is visible; left/right edges are off-canvas.
        for x in 0..5 {
            assert_eq!(c.get(x, 3), [1, 1, 1]);
            assert_eq!(c.get(x, 2), BG);
            assert_eq!(c.get(x, 4), BG);
        }
        // Huge coordinates and thickness must not hang or panic; the bands stay far off-canvas.
        let before = c.clone();
        c.rect([i64::MIN, i64::MIN], [i64::MAX, i64::MAX], [2, 2, 2], u32::MAX);
        assert_eq!(c, before);
        // A thickness larger than the box fills it.
        c.rect([-3, -3], [100, 100], [2, 2, 2], 50);
        assert!(c.rgb.chunks(3).all(|p| p == [2, 2, 2]));
    }

    #[test]
    fn line_horizontal_diagonal_and_thick() {
        let white = [255, 255, 255];
        let mut c = canvas(8, 8);
        c.line([0.6, 2.2], [5.4, 1.8], white, 1);
        for x in 0..8 {
            assert_eq!(c.get(x, 2), if (1..=5).contains(&x) { white } else { BG }, "x={x}");
        }
        let mut c = canvas(8, 8);
        c.line([7.0, 7.0], [0.0, 0.0], white, 1);
        for y in 0..8u32 {
            for x in 0..8u32 {
                assert_eq!(c.get(x, y), if x == y { white } else { BG });
            }
        }
        let mut c = canvas(8, 8);
        c.line([1.0, 4.0], [6.0, 4.0], white, 3);
        for y in 0..8u32 {
            for x in 0..8u32 {
                let on = (0..=7).contains(&x) && (3..=5).contains(&y);
                assert_eq!(c.get(x, y), if on { white } else { BG }, "({x},{y})");
            }
        }
        // Far-away and non-finite endpoints: clipped, no hang.
        let mut c = canvas(8, 8);
        c.line([-1e15, 3.0], [1e15, 3.0], white, 1);
        assert!((0..8).all(|x| c.get(x, 3) == white));
        c.line([f64::NAN, 0.0], [1.0, 1.0], [0, 0, 0], 1);
        assert_eq!(c.get(1, 1), BG);
    }

    #[test]
    fn text_draws_only_inside_its_box() {
        let (x, y, scale) = (5i64, 7i64, 2u32);
        let text = "Hi é\nline 2";
        let mut c = canvas(120, 60);
        let h = c.text(x, y, text, [255, 255, 0], scale);
        let (w, expected_h) = Canvas::text_size(text, scale);
        assert_eq!(h, expected_h);
        assert_eq!(w, 6 * 8 * 2 + 8);
        assert_eq!(h, 2 * 10 * 2 + 4);
        let mut text_pixels = 0;
        for py in 0..c.height {
            for px in 0..c.width {
                let inside = i64::from(px) >= x
                    && i64::from(px) < x + i64::from(w)
                    && i64::from(py) >= y
                    && i64::from(py) < y + i64::from(h);
                let p = c.get(px, py);
                if inside {
                    assert_ne!(p, BG, "background box missing at ({px},{py})");
                    if p == [255, 255, 0] {
                        text_pixels += 1;
                    }
                } else {
                    assert_eq!(p, BG, "pixel outside the box changed at ({px},{py})");
                }
            }
        }
        assert!(text_pixels > 50, "only {text_pixels} text pixels");
        // The non-ASCII character renders as '?': same pixels as drawing '?' directly.
        let mut a = canvas(40, 20);
        let mut b = canvas(40, 20);
        a.text(0, 0, "é", [255, 255, 255], 1);
        b.text(0, 0, "?", [255, 255, 255], 1);
        assert_eq!(a, b);
    }

    #[test]
    fn text_clipped_and_empty() {
        let mut c = canvas(10, 10);
        assert_eq!(c.text(0, 0, "", [255, 255, 255], 1), 0);
        assert!(c.rgb.chunks(3).all(|p| p == BG));
        let h = c.text(-20, 5, "clipped text", [255, 255, 255], 3);
        assert_eq!(h, 36);
        assert!(c.rgb.chunks(3).any(|p| p != BG));
        for y in 0..5 {
            for x in 0..10 {
                assert_eq!(c.get(x, y), BG);
            }
        }
    }

    #[test]
    fn overlay_mask_scales_2x2_to_4x4() {
        let mut c = canvas(4, 4);
        let mask = [0u8, 1, 2, 3];
        let colors = [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]];
        c.overlay_mask(&mask, 2, 2, |v| if v == 0 { None } else { Some((colors[v as usize], 1.0)) });
        for y in 0..4u32 {
            for x in 0..4u32 {
                let v = (y / 2) * 2 + x / 2;
                let expected = if v == 0 { BG } else { colors[v as usize] };
                assert_eq!(c.get(x, y), expected, "({x},{y})");
            }
        }
        // Translucent overlay blends; same-size mask maps 1:1.
        let mut c = Canvas::new(2, 1, vec![0, 0, 0, 0, 0, 0]);
        c.overlay_mask(&[1, 0], 2, 1, |v| (v == 1).then_some(([200, 100, 50], 0.5)));
        assert_eq!(c.get(0, 0), [100, 50, 25]);
        assert_eq!(c.get(1, 0), [0, 0, 0]);
        // Too-short masks are ignored.
        c.overlay_mask(&[1], 2, 1, |_| Some(([255, 255, 255], 1.0)));
        assert_eq!(c.get(1, 0), [0, 0, 0]);
    }

    #[test]
    fn overlay_mask_downscales() {
        let mut c = canvas(2, 2);
        // 4x4 mask: only the top-left pixel of each 2x2 block is sampled.
        let mut mask = [0u8; 16];
        mask[0] = 1;
        mask[1] = 1; // not sampled
        mask[2] = 2;
        c.overlay_mask(&mask, 4, 4, |v| match v {
            1 => Some(([255, 0, 0], 1.0)),
            2 => Some(([0, 255, 0], 1.0)),
            _ => None,
        });
        assert_eq!(c.get(0, 0), [255, 0, 0]);
        assert_eq!(c.get(1, 0), [0, 255, 0]);
        assert_eq!(c.get(0, 1), BG);
        assert_eq!(c.get(1, 1), BG);
    }

    #[test]
    fn to_png_round_trips() {
        let (w, h) = (37u32, 23u32);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
        let c = Canvas::new(w, h, rgb.clone());
        let bytes = c.to_png().unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).unwrap();
        assert_eq!(decoded.color(), image::ColorType::Rgb8);
        let decoded = decoded.to_rgb8();
        assert_eq!(decoded.dimensions(), (w, h));
        assert_eq!(decoded.into_raw(), rgb);
        let mut broken = c.clone();
        broken.rgb.pop();
        assert!(broken.to_png().is_err());
    }

    #[test]
    fn palette_is_distinct() {
        assert_eq!(palette_color(0), [255, 0, 0]);
        assert_eq!(palette_color(1), [0, 255, 0]);
        assert_eq!(palette_color(2), [0, 0, 255]);
        assert_eq!(palette_color(5), [0, 255, 255]);
        let colors: Vec<[u8; 3]> = (0..64).map(palette_color).collect();
        for (i, a) in colors.iter().enumerate() {
            for b in &colors[..i] {
                assert_ne!(a, b, "index {i} repeats a color");
            }
        }
        // Any index works.
        let _ = palette_color(usize::MAX);
    }
}

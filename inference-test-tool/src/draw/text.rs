//! Text on the canvas with DejaVu Sans (embedded; licence in `assets/DejaVuSans-LICENSE.txt`),
//! rasterised with anti-aliasing by `ab_glyph`. Text is kept inside the canvas: long lines are
//! wrapped at word boundaries and the box is moved in from the edges instead of being cut.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};

use super::Canvas;

/// DejaVu Sans (Bitstream Vera licence; DejaVu changes public domain).
static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Color of the translucent box drawn behind text.
const TEXT_BACKGROUND: [u8; 3] = [0, 0, 0];
/// Opacity of the translucent box drawn behind text.
const TEXT_BACKGROUND_ALPHA: f32 = 0.6;
/// Font size in pixels at scale 1.
const BASE_PX: f32 = 13.0;

fn font() -> Option<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).ok()).as_ref()
}

/// The font size in pixels of `scale` (0 is treated as 1).
pub fn scale_px(scale: u32) -> f32 {
    BASE_PX * scale.max(1) as f32
}

/// Padding around the text and the height of one line, in pixels, at `px` pixels a font size.
fn metrics(px: f32) -> (u32, u32, PxScale) {
    let px = if px.is_finite() { px.clamp(4.0, 512.0) } else { BASE_PX };
    let line = font().map_or(px, |f| {
        let sf = f.as_scaled(PxScale::from(px));
        sf.ascent() - sf.descent() + sf.line_gap()
    });
    (((px * 2.0 / BASE_PX).round() as u32).max(1), line.ceil() as u32, PxScale::from(px))
}

/// Width in pixels of one line of text.
fn line_width(line: &str, scale: PxScale) -> f32 {
    let Some(font) = font() else { return 0.0 };
    let sf = font.as_scaled(scale);
    let mut width = 0.0;
    let mut previous = None;
    for ch in line.chars() {
        let id = font.glyph_id(ch);
        if let Some(p) = previous {
            width += sf.kern(p, id);
        }
        width += sf.h_advance(id);
        previous = Some(id);
    }
    width
}

/// Lines of `text` as drawn: split on '\n', with a trailing '\r' removed.
fn text_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line))
}

/// Breaks `text` into lines no wider than `max_width` pixels (at word boundaries; a single
/// word wider than that is split between characters).
pub fn wrap(text: &str, scale: u32, max_width: u32) -> Vec<String> {
    wrap_px(text, scale_px(scale), max_width)
}

/// [`wrap`] at a font size of `size` pixels.
pub fn wrap_px(text: &str, size: f32, max_width: u32) -> Vec<String> {
    let (pad, _, px) = metrics(size);
    let limit = max_width.saturating_sub(2 * pad) as f32;
    if limit <= 0.0 {
        // No room at all: one character per line would help no one.
        return text_lines(text).map(str::to_owned).collect();
    }
    let mut out = Vec::new();
    for line in text_lines(text) {
        let mut current = String::new();
        for word in line.split(' ') {
            let candidate = if current.is_empty() { word.to_owned() } else { format!("{current} {word}") };
            if line_width(&candidate, px) <= limit {
                current = candidate;
                continue;
            }
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            // The word alone: split it where it overflows.
            for ch in word.chars() {
                current.push(ch);
                if line_width(&current, px) > limit && current.chars().count() > 1 {
                    current.pop();
                    out.push(std::mem::take(&mut current));
                    current.push(ch);
                }
            }
        }
        out.push(current);
    }
    out
}

impl Canvas {
    /// Text at (x, y) top-left on a dark translucent box, `scale` times the base size
    /// (13 px; 0 is treated as 1); lines split on '\n'. Lines wider than the canvas are
    /// wrapped and the box is moved inside the canvas, so nothing is cut off (unless the
    /// canvas is smaller than the text). Returns the height of the box; empty text draws
    /// nothing and returns 0.
    pub fn text(&mut self, x: i64, y: i64, text: &str, color: [u8; 3], scale: u32) -> u32 {
        let [_, y0, _, y1] = self.text_px(x, y, text, color, scale_px(scale));
        if y1 < y0 {
            0
        } else {
            (y1 - y0 + 1) as u32
        }
    }

    /// [`Canvas::text`] at a font size of `size` pixels; returns the box drawn, as inclusive
    /// corners `[x0, y0, x1, y1]` (`x1 < x0` when nothing was drawn).
    pub fn text_px(&mut self, x: i64, y: i64, text: &str, color: [u8; 3], size: f32) -> [i64; 4] {
        if text.is_empty() {
            return [x, y, x - 1, y - 1];
        }
        let (lines, box_size) = self.text_layout(text, size);
        let drawn = self.fit_box([x, y], box_size);
        let [x, y, x1, y1] = drawn;
        self.blend_rect(x, y, x1, y1, TEXT_BACKGROUND, TEXT_BACKGROUND_ALPHA);
        let Some(font) = font() else { return drawn };
        let (pad, line_h, px) = metrics(size);
        let sf = font.as_scaled(px);
        for (row, line) in lines.iter().enumerate() {
            let baseline = y as f32 + pad as f32 + row as f32 * line_h as f32 + sf.ascent();
            let mut pen = x as f32 + pad as f32;
            let mut previous = None;
            for ch in line.chars() {
                let id = font.glyph_id(ch);
                if let Some(p) = previous {
                    pen += sf.kern(p, id);
                }
                previous = Some(id);
                let glyph = id.with_scale_and_position(px, ab_glyph::point(pen, baseline));
                pen += sf.h_advance(id);
                let Some(outlined) = font.outline_glyph(glyph) else { continue };
                let bounds = outlined.px_bounds();
                outlined.draw(|gx, gy, coverage| {
                    let px = bounds.min.x as i64 + i64::from(gx);
                    let py = bounds.min.y as i64 + i64::from(gy);
                    self.blend(px, py, color, coverage);
                });
            }
        }
        drawn
    }

    /// The lines [`Canvas::text_px`] draws `text` in at `size` pixels (wrapped to the canvas'
    /// width), and the size (width, height) of their box.
    pub fn text_layout(&self, text: &str, size: f32) -> (Vec<String>, (u32, u32)) {
        let lines = wrap_px(text, size, self.width);
        let box_size = Self::text_size_px(&lines.join("\n"), size);
        (lines, box_size)
    }

    /// Where [`Canvas::text_px`] puts a box of `(width, height)` asked for at top-left `at`:
    /// moved inside the canvas (to its top or left edge when larger), as inclusive corners
    /// `[x0, y0, x1, y1]`.
    pub fn fit_box(&self, at: [i64; 2], (w, h): (u32, u32)) -> [i64; 4] {
        let x = at[0].min(i64::from(self.width) - i64::from(w)).max(0);
        let y = at[1].min(i64::from(self.height) - i64::from(h)).max(0);
        [x, y, x.saturating_add(i64::from(w)) - 1, y.saturating_add(i64::from(h)) - 1]
    }

    /// Size (width, height) in pixels of the box [`Canvas::text`] draws for `text` at `scale`
    /// before any wrapping; (0, 0) when empty.
    pub fn text_size(text: &str, scale: u32) -> (u32, u32) {
        Self::text_size_px(text, scale_px(scale))
    }

    /// [`Canvas::text_size`] at a font size of `size` pixels.
    pub fn text_size_px(text: &str, size: f32) -> (u32, u32) {
        if text.is_empty() {
            return (0, 0);
        }
        let (pad, line_h, px) = metrics(size);
        let (lines, widest) = text_lines(text).fold((0u32, 0f32), |(n, w), line| (n + 1, w.max(line_width(line, px))));
        (widest.ceil() as u32 + 2 * pad, lines * line_h + 2 * pad)
    }
}

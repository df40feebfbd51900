//! Text on an image, placed so that it hides as little as possible: at a size that follows the
//! image's, never over another label, and (for the study and series labels) in the corner where
//! the image is darkest, which is where the anatomy is not.

use crate::draw::Canvas;

/// Font size in pixels for labels on an image of this size: a fortieth of its longer side,
/// at least 9 px (legible) and at most 32 px.
pub fn label_px(width: u32, height: u32) -> f32 {
    (width.max(height) as f32 / 40.0).clamp(9.0, 32.0)
}

/// The labels drawn on one image so far.
pub struct Labels {
    placed: Vec<[i64; 4]>,
    size: f32,
}

fn overlaps(a: [i64; 4], b: [i64; 4]) -> bool {
    a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3]
}

impl Labels {
    /// No labels yet on `canvas`; text at [`label_px`] of its size.
    pub fn new(canvas: &Canvas) -> Self {
        Labels { placed: Vec::new(), size: label_px(canvas.width, canvas.height) }
    }

    /// The boxes drawn so far, as inclusive corners `[x0, y0, x1, y1]`.
    pub fn boxes(&self) -> &[[i64; 4]] {
        &self.placed
    }

    /// Width and height of the box of `text` on `canvas` (wrapped to its width).
    fn size_of(&self, canvas: &Canvas, text: &str) -> (u32, u32) {
        canvas.text_layout(text, self.size).1
    }

    fn free(&self, b: [i64; 4]) -> bool {
        !self.placed.iter().any(|p| overlaps(*p, b))
    }

    fn draw(&mut self, canvas: &mut Canvas, b: [i64; 4], text: &str, color: [u8; 3]) {
        let drawn = canvas.text_px(b[0], b[1], text, color, self.size);
        if drawn[2] >= drawn[0] {
            self.placed.push(drawn);
        }
    }

    /// Draws `text` with its top-left corner at the first of `candidates` where it covers no
    /// earlier label (each moved inside the canvas); at the first candidate when none is free.
    pub fn put(&mut self, canvas: &mut Canvas, text: &str, color: [u8; 3], candidates: &[[i64; 2]]) {
        if text.is_empty() || candidates.is_empty() {
            return;
        }
        let size = self.size_of(canvas, text);
        let boxes: Vec<[i64; 4]> = candidates.iter().map(|c| canvas.fit_box(*c, size)).collect();
        let chosen = boxes.iter().copied().find(|b| self.free(*b)).unwrap_or(boxes[0]);
        self.draw(canvas, chosen, text, color);
    }

    /// Draws `text` in the corner of the canvas where what lies under it is darkest (off the
    /// anatomy and the results drawn so far), covering no earlier label where one is free.
    pub fn put_in_corner(&mut self, canvas: &mut Canvas, text: &str, color: [u8; 3]) {
        if text.is_empty() {
            return;
        }
        let size = self.size_of(canvas, text);
        let (w, h) = (i64::from(size.0), i64::from(size.1));
        let margin = 2;
        let (cw, ch) = (i64::from(canvas.width), i64::from(canvas.height));
        let corners = [
            [margin, margin],
            [cw - w - margin, margin],
            [margin, ch - h - margin],
            [cw - w - margin, ch - h - margin],
        ];
        // Labels already placed stack below (or above) in their corner: try those places too.
        let mut candidates: Vec<[i64; 4]> = corners.iter().map(|c| canvas.fit_box(*c, size)).collect();
        for p in &self.placed {
            candidates.push(canvas.fit_box([p[0], p[3] + 1 + margin], size));
            candidates.push(canvas.fit_box([p[0], p[1] - h - margin], size));
        }
        let free: Vec<[i64; 4]> = candidates.iter().copied().filter(|b| self.free(*b)).collect();
        let pool = if free.is_empty() { &candidates } else { &free };
        let chosen = pool.iter().copied().min_by_key(|b| brightness(canvas, *b)).unwrap_or(candidates[0]);
        self.draw(canvas, chosen, text, color);
    }
}

/// Sum of the brightness of the pixels under `b` (sampled every other pixel).
fn brightness(canvas: &Canvas, b: [i64; 4]) -> u64 {
    let mut sum = 0u64;
    for y in (b[1].max(0)..=b[3].min(i64::from(canvas.height) - 1)).step_by(2) {
        for x in (b[0].max(0)..=b[2].min(i64::from(canvas.width) - 1)).step_by(2) {
            let [r, g, bl] = canvas.get(x as u32, y as u32);
            sum += u64::from(r) + u64::from(g) + u64::from(bl);
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 512-px image bright everywhere but its bottom-right corner.
    fn bright_but_one_corner() -> Canvas {
        let mut c = Canvas::new(512, 512, vec![200; 512 * 512 * 3]);
        for y in 400..512 {
            for x in 300..512 {
                c.set(x, y, [0, 0, 0]);
            }
        }
        c
    }

    #[test]
    fn corner_labels_go_where_the_image_is_dark_and_never_overlap() {
        let mut c = bright_but_one_corner();
        let mut labels = Labels::new(&c);
        labels.put_in_corner(&mut c, "study: Body (80.0%)\nBody 80.0% \u{b7} No body 20.0%", [255, 255, 255]);
        labels.put_in_corner(&mut c, "series: Series looks fine", [255, 255, 0]);
        let b = labels.boxes().to_vec();
        assert_eq!(b.len(), 2);
        assert!(b[0][0] >= 300 && b[0][1] >= 400, "the first label in the dark corner: {b:?}");
        assert!(!overlaps(b[0], b[1]), "{b:?}");
        // Text at a fortieth of 512 px: two lines take about a tenth of the height, not half.
        let height = b[0][3] - b[0][1] + 1;
        assert!((20..60).contains(&height), "{height}");
    }

    #[test]
    fn labels_move_off_each_other() {
        let mut c = Canvas::new(200, 200, vec![0; 200 * 200 * 3]);
        let mut labels = Labels::new(&c);
        for _ in 0..3 {
            labels.put(&mut c, "Lesion", [255, 0, 0], &[[50, 50], [50, 80], [50, 110]]);
        }
        let b = labels.boxes();
        assert_eq!(b.len(), 3);
        for i in 0..3 {
            for j in i + 1..3 {
                assert!(!overlaps(b[i], b[j]), "{b:?}");
            }
        }
    }

    #[test]
    fn the_size_follows_the_image() {
        assert_eq!(label_px(512, 512), 12.8);
        assert_eq!(label_px(1024, 800), 25.6);
        assert_eq!(label_px(64, 64), 9.0);
    }
}

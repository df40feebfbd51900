//! Drawing the graphics of a softcopy presentation state (or a structured report's image
//! regions) on the image it references, in the annotation's colour.

use crate::draw::Canvas;
use crate::outputs::Annotation;

/// Presentation-state graphics are orange, apart from the answer's own results.
pub const GSPS_COLOR: [u8; 3] = [255, 160, 0];

/// Segments a circle or ellipse is drawn with.
const CURVE_SEGMENTS: usize = 72;

/// Draws `a` on a canvas showing an image of `size` (columns, rows) at `zoom`.
///
/// PIXEL coordinates have (0, 0) at the top-left corner of the first pixel; DISPLAY
/// coordinates are fractions of the image.
pub fn draw_annotation(canvas: &mut Canvas, a: &Annotation, size: (u32, u32), zoom: f64, thick: u32, scale: u32) {
    let to_canvas = |p: [f64; 2], display: bool| -> [f64; 2] {
        let p = if display { [p[0] * f64::from(size.0), p[1] * f64::from(size.1)] } else { p };
        p.map(|v| v * zoom - 0.5)
    };
    for g in &a.graphics {
        let pts: Vec<[f64; 2]> = g.points.iter().map(|&p| to_canvas(p, g.display)).collect();
        let path: Vec<[f64; 2]> = match (g.kind.as_str(), pts.as_slice()) {
            ("CIRCLE", [c, edge, ..]) => {
                let r = (edge[0] - c[0]).hypot(edge[1] - c[1]);
                curve(*c, [r, 0.0], [0.0, r])
            }
            ("ELLIPSE", [a0, a1, b0, b1, ..]) => {
                let c = [(a0[0] + a1[0]) / 2.0, (a0[1] + a1[1]) / 2.0];
                let major = [(a1[0] - a0[0]) / 2.0, (a1[1] - a0[1]) / 2.0];
                let minor = [(b1[0] - b0[0]) / 2.0, (b1[1] - b0[1]) / 2.0];
                curve(c, major, minor)
            }
            // A cross on each point (MULTIPOINT: a structured report's point set).
            ("POINT" | "MULTIPOINT", points) => {
                let arm = f64::from(thick * 3);
                for p in points {
                    canvas.line([p[0] - arm, p[1]], [p[0] + arm, p[1]], a.color, thick);
                    canvas.line([p[0], p[1] - arm], [p[0], p[1] + arm], a.color, thick);
                }
                continue;
            }
            // POLYLINE and INTERPOLATED (drawn through its points).
            _ => pts,
        };
        for seg in path.windows(2) {
            canvas.line(seg[0], seg[1], a.color, thick);
        }
    }
    for t in &a.texts {
        let [x, y] = to_canvas(t.at, t.display);
        canvas.text(x.round() as i64, y.round() as i64, &t.text, a.color, scale);
    }
}

/// A closed curve `c + u cos t + v sin t`.
fn curve(c: [f64; 2], u: [f64; 2], v: [f64; 2]) -> Vec<[f64; 2]> {
    (0..=CURVE_SEGMENTS)
        .map(|i| {
            let t = i as f64 / CURVE_SEGMENTS as f64 * std::f64::consts::TAU;
            [c[0] + u[0] * t.cos() + v[0] * t.sin(), c[1] + u[1] * t.cos() + v[1] * t.sin()]
        })
        .collect()
}

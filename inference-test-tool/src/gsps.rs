//! Softcopy presentation states: their graphics read by referenced image, and drawn (with a
//! structured report's image regions) on the image they reference, in the annotation's colour.

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::annotation::{floats, items, points, text, Annotation, Graphic, TextObject};
use crate::draw::Canvas;

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

/// The graphics of a presentation state by referenced image.
pub fn annotations(obj: &InMemDicomObject) -> Vec<Annotation> {
    // Images the state applies to when an annotation names none: every referenced image.
    let all: Vec<(String, Vec<u32>)> = items(obj, tags::REFERENCED_SERIES_SEQUENCE)
        .iter()
        .flat_map(|s| items(s, tags::REFERENCED_IMAGE_SEQUENCE))
        .filter_map(image_ref)
        .collect();
    let mut out = Vec::new();
    for a in items(obj, tags::GRAPHIC_ANNOTATION_SEQUENCE) {
        let graphics: Vec<Graphic> = items(a, tags::GRAPHIC_OBJECT_SEQUENCE)
            .iter()
            .map(|g| Graphic {
                kind: text(g, tags::GRAPHIC_TYPE).unwrap_or_default(),
                points: points(&floats(g, tags::GRAPHIC_DATA)),
                display: text(g, tags::GRAPHIC_ANNOTATION_UNITS).as_deref() == Some("DISPLAY"),
            })
            .collect();
        let texts: Vec<TextObject> = items(a, tags::TEXT_OBJECT_SEQUENCE)
            .iter()
            .filter_map(|t| {
                let value = text(t, tags::UNFORMATTED_TEXT_VALUE)?;
                let (at, units) = match floats(t, tags::BOUNDING_BOX_TOP_LEFT_HAND_CORNER).as_slice() {
                    [x, y, ..] => ([*x, *y], tags::BOUNDING_BOX_ANNOTATION_UNITS),
                    _ => match floats(t, tags::ANCHOR_POINT).as_slice() {
                        [x, y, ..] => ([*x, *y], tags::ANCHOR_POINT_ANNOTATION_UNITS),
                        _ => return None,
                    },
                };
                Some(TextObject { text: value, at, display: text(t, units).as_deref() == Some("DISPLAY") })
            })
            .collect();
        let images: Vec<(String, Vec<u32>)> =
            items(a, tags::REFERENCED_IMAGE_SEQUENCE).iter().filter_map(image_ref).collect();
        for (uid, frames) in if images.is_empty() { all.clone() } else { images } {
            out.push(Annotation {
                sop_instance_uid: uid,
                frames,
                graphics: graphics.clone(),
                texts: texts.clone(),
                color: GSPS_COLOR,
            });
        }
    }
    out
}

fn image_ref(r: &InMemDicomObject) -> Option<(String, Vec<u32>)> {
    let uid = text(r, tags::REFERENCED_SOP_INSTANCE_UID)?;
    let frames = floats(r, tags::REFERENCED_FRAME_NUMBER).into_iter().filter(|f| *f >= 1.0).map(|f| f as u32).collect();
    Some((uid, frames))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn graphics_in_display_units_and_ellipses_are_drawn() {
        use crate::draw::Canvas;
        let a = Annotation {
            sop_instance_uid: "1".into(),
            frames: vec![],
            graphics: vec![
                Graphic { kind: "POLYLINE".into(), points: vec![[0.1, 0.5], [0.9, 0.5]], display: true },
                Graphic {
                    kind: "ELLIPSE".into(),
                    points: vec![[10.0, 30.0], [30.0, 30.0], [20.0, 25.0], [20.0, 35.0]],
                    display: false,
                },
            ],
            texts: vec![],
            color: GSPS_COLOR,
        };
        let mut c = Canvas::new(100, 60, vec![0; 100 * 60 * 3]);
        draw_annotation(&mut c, &a, (100, 60), 1.0, 1, 1);
        let orange = GSPS_COLOR;
        // DISPLAY: a line across 10%..90% of the width at half the height.
        assert_eq!(c.get(50, 30), orange);
        assert_eq!(c.get(5, 30), [0, 0, 0]);
        assert_eq!(c.get(95, 30), [0, 0, 0]);
        // The ellipse: the top and bottom of its minor axis, not its centre or beyond.
        assert_eq!(c.get(20, 25), orange);
        assert_eq!(c.get(20, 35), orange);
        assert_eq!(c.get(20, 22), [0, 0, 0]);
        assert_eq!(c.get(20, 38), [0, 0, 0]);
    }
}

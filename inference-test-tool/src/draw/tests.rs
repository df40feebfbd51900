//! The drawing primitives, pixel by pixel.

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

/// Pixels of `c` inside the rectangle that differ from the background.
fn changed(c: &Canvas, x0: u32, y0: u32, x1: u32, y1: u32) -> usize {
    (y0..y1).flat_map(|y| (x0..x1).map(move |x| (x, y))).filter(|&(x, y)| c.get(x, y) != BG).count()
}

#[test]
fn text_draws_only_inside_its_box() {
    let (x, y, scale) = (5i64, 7i64, 2u32);
    let text = "Hi é\nline 2";
    let mut c = canvas(200, 100);
    let h = c.text(x, y, text, [255, 255, 0], scale);
    let (w, expected_h) = Canvas::text_size(text, scale);
    assert_eq!(h, expected_h);
    assert!(h > 2 * 26 && h < 2 * 40, "two lines of 26 px text: {h}");
    assert!(w > 40 && w < 120, "{w}");
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
                if p[0] > 200 && p[1] > 200 && p[2] < 100 {
                    text_pixels += 1;
                }
            } else {
                assert_eq!(p, BG, "pixel outside the box changed at ({px},{py})");
            }
        }
    }
    assert!(text_pixels > 100, "only {text_pixels} text pixels");
    // Non-ASCII has its own glyph (a real font): é is neither e nor '?'.
    let draw = |t: &str| {
        let mut c = canvas(40, 30);
        c.text(0, 0, t, [255, 255, 255], 1);
        c
    };
    assert_ne!(draw("é"), draw("e"));
    assert_ne!(draw("é"), draw("?"));
}

#[test]
fn text_is_kept_inside_the_canvas() {
    let mut c = canvas(10, 10);
    assert_eq!(c.text(0, 0, "", [255, 255, 255], 1), 0);
    assert!(c.rgb.chunks(3).all(|p| p == BG));
    // Past the right and bottom edges: moved in, not cut.
    let mut c = canvas(200, 60);
    let (w, h) = Canvas::text_size("edge", 1);
    assert_eq!(c.text(190, 55, "edge", [255, 255, 255], 1), h);
    assert!(changed(&c, 200 - w, 60 - h, 200, 60) as u32 == w * h, "the whole box is on the canvas");
    // A line wider than the canvas is wrapped at spaces into a taller box.
    let mut c = canvas(120, 200);
    let long = "study: Mock classification no acute finding";
    let one_line = Canvas::text_size(long, 1);
    assert!(one_line.0 > 120);
    let h = c.text(-20, 0, long, [255, 255, 255], 1);
    assert!(h >= 2 * one_line.1 - 8, "wrapped into several lines: {h}");
    assert_ne!(c.get(0, 0), BG, "a box starting left of the canvas is moved in");
    assert_eq!(changed(&c, 0, h, 120, 200), 0, "nothing below the box");
    for line in crate::draw::text::wrap(long, 1, 120) {
        assert!(Canvas::text_size(&line, 1).0 <= 120, "{line:?} fits");
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

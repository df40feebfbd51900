//! The legend of the gallery: what each colour on the images means.

use std::fmt::Write as _;

use arterys_protocol::{BinaryType, InferenceResponse};

use super::escape;
use crate::draw::palette_color;
use crate::gsps::GSPS_COLOR;
use crate::overlay::heatmap_lut;

fn css([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn swatch(html: &mut String, color: [u8; 3], text: &str) {
    let _ =
        writeln!(html, "<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>", css(color), escape(text));
}

/// A CSS gradient through a heatmap's lookup table (opacity as in the overlay).
fn gradient(lut: &[[u8; 4]; 256]) -> String {
    let stops: Vec<String> = (0..=16)
        .map(|k| {
            let v = (k * 255 / 16).min(255);
            let [r, g, b, a] = lut[v];
            format!("rgba({r},{g},{b},{:.2}) {:.1}%", f32::from(a) / 255.0, k as f32 * 100.0 / 16.0)
        })
        .collect();
    format!("linear-gradient(to right,{})", stops.join(","))
}

/// `<ul class="legend">` of every kind of result in `r` with its colour, with the graphics of
/// presentation states (`gsps`) and the measurements of structured reports (`sr`) when some
/// are drawn; empty when there is nothing drawn.
pub fn legend(r: &InferenceResponse, gsps: bool, sr: bool) -> String {
    let j = r.json();
    let mut html = String::new();
    let mut mask_index = 0;
    for part in &j.parts {
        if !part.binary_type.is_mask() {
            continue;
        }
        let color = palette_color(mask_index);
        mask_index += 1;
        let label = part.label.as_deref().unwrap_or("(no label)");
        match &part.binary_type {
            BinaryType::ProbabilityMask => {
                let t = part.probability_threshold.unwrap_or(0.5);
                swatch(&mut html, color, &format!("{label}: probability mask, shown where p \u{2265} {t:.2}"));
            }
            BinaryType::BooleanMask => swatch(&mut html, color, &format!("{label}: boolean mask")),
            BinaryType::NumericLabelMask => {
                let _ = writeln!(html, "<li>{}: numeric label mask<ul>", escape(label));
                for (value, name) in part.label_map.iter().flatten() {
                    let v: usize = value.parse().unwrap_or(0);
                    if v > 0 {
                        swatch(&mut html, palette_color(v - 1), &format!("{value} = {name}"));
                    }
                }
                html.push_str("</ul></li>\n");
            }
            BinaryType::Heatmap => {
                let lut = heatmap_lut(r, part.palette.as_deref());
                let palette = part.palette.as_deref().unwrap_or("JET (no palette named)");
                let _ = writeln!(
                    html,
                    "<li>{}: heatmap, palette {}<div class=\"bar\" style=\"background:{}\"></div>\
                     <div class=\"scale\"><span>0.0</span><span>0.25</span><span>0.5</span><span>0.75</span>\
                     <span>1.0</span></div></li>",
                    escape(label),
                    escape(palette),
                    gradient(&lut)
                );
            }
            _ => {}
        }
    }
    if j.bounding_boxes_2d.as_ref().is_some_and(|b| !b.is_empty()) {
        swatch(&mut html, crate::overlay::BOX_COLOR, "bounding boxes");
    }
    if j.linear_measurements_2d.as_ref().is_some_and(|m| !m.is_empty()) {
        swatch(&mut html, crate::overlay::LINE_COLOR, "linear measurements (length in mm with Pixel Spacing, else px)");
    }
    if gsps {
        swatch(&mut html, GSPS_COLOR, "presentation state graphics (GSPS)");
    }
    if sr {
        swatch(&mut html, crate::sr::SR_COLOR, "structured report measurements (SR image regions)");
    }
    if html.is_empty() {
        return html;
    }
    format!("<h2>Legend</h2>\n<ul class=\"legend\">\n{html}</ul>\n")
}

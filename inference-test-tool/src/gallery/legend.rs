//! The legend of a series: what each colour on its images means, one entry per finding.

use std::fmt::Write as _;

use arterys_protocol::{BinaryType, InferenceResponse, MaskShape, Part};

use super::{escape, GalleryItem};
use crate::draw::palette_color;
use crate::gsps::GSPS_COLOR;
use crate::overlay::{heatmap_floor, heatmap_lut, mask_colors, BOX_COLOR, LINE_COLOR};
use crate::words::{count, tally};

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

/// What the legend of one series draws from: the series, its images, and which DICOM outputs
/// drew on them.
pub struct SeriesScope<'a> {
    /// Its SeriesInstanceUID.
    pub uid: &'a str,
    /// Its images (and placeholders).
    pub items: &'a [&'a GalleryItem],
    /// The study has this one series only (a 3D mask without SeriesInstanceUID is its).
    pub only_series: bool,
    /// Presentation-state graphics were drawn on its images.
    pub gsps: bool,
    /// Structured-report regions were drawn on its images.
    pub sr: bool,
}

impl SeriesScope<'_> {
    fn has_image(&self, sop: &str) -> bool {
        self.items.iter().any(|i| i.sop_instance_uid == sop)
    }

    /// Whether `part` is drawn on this series' images.
    fn shows(&self, part: &Part) -> bool {
        if let Some(img) = &part.dicom_image {
            return self.has_image(&img.sop_instance_uid);
        }
        let volume = part.binary_data_shape.map(|s| !MaskShape::from_binary_data_shape(&s).is_image()).unwrap_or(false);
        volume
            && match &part.series_instance_uid {
                Some(uid) => uid == self.uid,
                None => self.only_series,
            }
    }
}

/// One entry per finding: a mask's label with its colour and threshold, however many images
/// its parts cover; a label map's classes; a heatmap's palette and scale.
fn mask_entries(html: &mut String, r: &InferenceResponse, scope: &SeriesScope<'_>) {
    let colors = mask_colors(r);
    let mut seen: Vec<String> = Vec::new();
    for (n, part) in r.json().parts.iter().enumerate() {
        if !part.binary_type.is_mask() || !scope.shows(part) {
            continue;
        }
        let label = part.label.as_deref().unwrap_or("(no label)");
        let key = format!("{}\u{0}{label}\u{0}{:?}", part.binary_type.as_str(), part.palette);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let color = colors.get(n).copied().flatten().unwrap_or(BOX_COLOR);
        match &part.binary_type {
            BinaryType::ProbabilityMask => {
                let mut ts: Vec<f64> = r
                    .json()
                    .parts
                    .iter()
                    .filter(|p| p.label == part.label && p.binary_type == part.binary_type && scope.shows(p))
                    .map(|p| p.probability_threshold.unwrap_or(0.5))
                    .collect();
                ts.sort_by(f64::total_cmp);
                ts.dedup();
                let shown = match ts.as_slice() {
                    [t] => format!("p \u{2265} {t:.2}"),
                    [lo, .., hi] => format!("p \u{2265} {lo:.2} to {hi:.2}"),
                    [] => "p \u{2265} 0.50".to_owned(),
                };
                swatch(html, color, &format!("{label}: probability mask, shown where {shown}"));
            }
            BinaryType::BooleanMask => swatch(html, color, &format!("{label}: mask")),
            BinaryType::NumericLabelMask => {
                let _ = writeln!(html, "<li>{}: labels<ul>", escape(label));
                for (value, name) in part.label_map.iter().flatten() {
                    let v: usize = value.parse().unwrap_or(0);
                    if v > 0 {
                        swatch(html, palette_color(v - 1), &format!("{value} = {name}"));
                    }
                }
                html.push_str("</ul></li>\n");
            }
            BinaryType::Heatmap => {
                let lut = heatmap_lut(r, part.palette.as_deref());
                let floor = heatmap_floor(r, part.palette.as_deref());
                let palette = part.palette.as_deref().unwrap_or("JET (no palette named)");
                let _ = writeln!(
                    html,
                    "<li>{}: heatmap, palette {}, transparent below {floor:.2}<div class=\"bar\" style=\"background:{}\"></div>\
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
}

/// `<ul class="legend">` of what is drawn on the images of one series, one entry per finding
/// (box and measurement labels included); empty when nothing is drawn on them.
pub fn legend(r: &InferenceResponse, scope: &SeriesScope<'_>) -> String {
    let j = r.json();
    let mut html = String::new();
    mask_entries(&mut html, r, scope);
    let boxes = j.bounding_boxes_2d.iter().flatten().filter(|b| scope.has_image(&b.sop_instance_uid));
    for (label, n) in tally(boxes.map(|b| b.label.as_str())) {
        swatch(&mut html, BOX_COLOR, &format!("{label}: {}", count(n, "box", "boxes")));
    }
    let lines = j.linear_measurements_2d.iter().flatten().filter(|m| scope.has_image(&m.sop_instance_uid));
    for (label, _) in tally(lines.map(|m| m.label.as_str())) {
        swatch(&mut html, LINE_COLOR, &format!("{label}: length (mm with Pixel Spacing, else px)"));
    }
    if scope.gsps {
        swatch(&mut html, GSPS_COLOR, "presentation state graphics (GSPS)");
    }
    if scope.sr {
        swatch(&mut html, crate::sr::SR_COLOR, "structured report measurements (SR image regions)");
    }
    if html.is_empty() {
        return html;
    }
    format!("<ul class=\"legend\">\n{html}</ul>\n")
}

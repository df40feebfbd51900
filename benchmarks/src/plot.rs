//! A small SVG line chart: panels of series over evenly spaced x values (no plotting crate
//! needed for a few lines).

use std::fmt::Write;

/// One line of a panel.
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// One chart.
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

const W: f64 = 420.0;
const H: f64 = 300.0;
/// Margins: left, right, top, bottom.
const L: f64 = 64.0;
const R: f64 = 16.0;
const T: f64 = 40.0;
const B: f64 = 48.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Panels side by side; x values are placed evenly in the order of their first appearance.
pub fn svg(panels: &[Panel]) -> String {
    let mut out = String::new();
    let total_w = W * panels.len() as f64;
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(out, r#"<rect width="{total_w}" height="{H}" fill="white"/>"#);
    for (i, p) in panels.iter().enumerate() {
        let ox = W * i as f64;
        let mut xs: Vec<f64> = Vec::new();
        for s in &p.series {
            for &(x, _) in &s.points {
                if !xs.contains(&x) {
                    xs.push(x);
                }
            }
        }
        xs.sort_by(f64::total_cmp);
        let y_max = p.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max) * 1.1;
        let y_max = if y_max > 0.0 { y_max } else { 1.0 };
        let (pw, ph) = (W - L - R, H - T - B);
        let px = |x: f64| {
            let k = xs.iter().position(|v| *v == x).unwrap_or(0) as f64;
            ox + L + if xs.len() > 1 { k * pw / (xs.len() - 1) as f64 } else { pw / 2.0 }
        };
        let py = |y: f64| T + ph - y / y_max * ph;
        let _ = write!(
            out,
            r#"<text x="{}" y="18" text-anchor="middle" font-size="13">{}</text>"#,
            ox + W / 2.0,
            esc(&p.title)
        );
        let _ = write!(out, r##"<rect x="{}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>"##, ox + L);
        for k in 0..=4 {
            let v = y_max * f64::from(k) / 4.0;
            let y = py(v);
            let _ = write!(
                out,
                r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{v:.0}</text>"##,
                ox + L,
                ox + L + pw,
                ox + L - 4.0,
                y + 4.0
            );
        }
        for &x in &xs {
            let _ = write!(out, r#"<text x="{}" y="{}" text-anchor="middle">{x}</text>"#, px(x), T + ph + 14.0);
        }
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            ox + L + pw / 2.0,
            H - 12.0,
            esc(&p.x_label)
        );
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle" transform="rotate(-90 {} {})">{}</text>"#,
            ox + 14.0,
            T + ph / 2.0,
            ox + 14.0,
            T + ph / 2.0,
            esc(&p.y_label)
        );
        for (j, s) in p.series.iter().enumerate() {
            let pts: Vec<String> = s.points.iter().map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y))).collect();
            let _ = write!(
                out,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
                pts.join(" "),
                s.color
            );
            for &(x, y) in &s.points {
                let _ = write!(out, r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"#, px(x), py(y), s.color);
            }
            let ly = T + 14.0 + 14.0 * j as f64;
            let _ = write!(
                out,
                r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2"/><text x="{}" y="{}">{}</text>"#,
                ox + L + 8.0,
                ly - 4.0,
                ox + L + 24.0,
                ly - 4.0,
                s.color,
                ox + L + 28.0,
                ly,
                esc(&s.name)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

//! The images of the gallery, one section per series: its heading and what it shows, its
//! classification, its legend, and its images (or why one was not drawn) in slice order.

use std::fmt::Write as _;

use super::{escape, image_notes, key_values, legend, url_path, GalleryItem, Page, SeriesScope};
use crate::outputs::OutputKind;
use crate::words::count;

/// `3 images`, `1 image, 15 frames`, `2 images, 1 not drawn`: what the section shows.
fn what_it_shows(items: &[&GalleryItem]) -> String {
    // Each image has its first frame (or its placeholder) once; two files may share a UID.
    let images = items.iter().filter(|i| i.frame == 1).count();
    let drawn = items.iter().filter(|i| i.not_drawn.is_none()).count();
    let not_drawn = items.len() - drawn;
    let mut out = count(images, "image", "images");
    if drawn > images - not_drawn.min(images) {
        out.push_str(&format!(", {}", count(drawn, "frame", "frames")));
    }
    if not_drawn > 0 {
        out.push_str(&format!(", {not_drawn} not drawn"));
    }
    out
}

fn figure(html: &mut String, page: &Page<'_>, item: &GalleryItem) {
    let caption = escape(&item.caption);
    let (w, h) = item.size;
    if let Some(reason) = &item.not_drawn {
        let _ = writeln!(
            html,
            "<figure class=\"not-drawn\"><div class=\"placeholder\" style=\"width:{w}px;height:{h}px\">\
             Not drawn: {}</div><figcaption>{caption}</figcaption></figure>",
            escape(reason)
        );
        return;
    }
    let href = escape(&url_path(&item.file_name));
    let (src, plain) = (escape(&url_path(&item.thumbnail)), escape(&url_path(&item.plain)));
    let notes = page.response.map(|r| image_notes(r, item)).unwrap_or_default();
    let notes: String = notes.iter().map(|n| format!("<li>{}</li>", escape(n))).collect();
    let notes = if notes.is_empty() { notes } else { format!("<ul>{notes}</ul>") };
    let _ = writeln!(
        html,
        "<figure class=\"image\"><a href=\"{href}\">\
         <img class=\"with-results\" src=\"{src}\" width=\"{w}\" height=\"{h}\" alt=\"{caption}\">\
         <img class=\"plain\" src=\"{plain}\" width=\"{w}\" height=\"{h}\" alt=\"{caption} (without results)\">\
         </a><figcaption>{caption}{notes}</figcaption></figure>"
    );
}

/// The images section: `Images (n)`, then one section per series in send order.
pub fn images_html(html: &mut String, page: &Page<'_>) {
    let mut series: Vec<&str> = Vec::new();
    for item in page.items {
        if !series.contains(&item.series_instance_uid.as_str()) {
            series.push(&item.series_instance_uid);
        }
    }
    let drawn = page.items.iter().filter(|i| i.not_drawn.is_none()).count();
    let _ = writeln!(html, "<section class=\"images\">\n<h2>Images ({drawn})</h2>");
    let j = page.response.map(|r| r.json());
    for uid in series.iter().copied() {
        let items: Vec<&GalleryItem> = page.items.iter().filter(|i| i.series_instance_uid == uid).collect();
        let title = page.series_titles.iter().find(|(u, _)| u == uid).map(|(_, t)| t.as_str());
        let heading = match title {
            // Without a UID or a number, these images share nothing but the lack of both.
            Some("Series without a number") | None if uid.is_empty() => "Images without a SeriesInstanceUID".to_owned(),
            Some(t) => t.to_owned(),
            None => "Series without a number".to_owned(),
        };
        let _ = writeln!(html, "<section class=\"series\" data-series=\"{}\">", escape(uid));
        let _ = writeln!(html, "<h3>{}</h3>", escape(&heading));
        let uid_note = if uid.is_empty() { String::new() } else { format!(" \u{b7} {uid}") };
        let _ = writeln!(html, "<p class=\"count\">{}{}</p>", escape(&what_it_shows(&items)), escape(&uid_note));
        if let Some(v) = j.and_then(|j| j.series_ml_json.as_ref()).and_then(|m| m.get(uid)) {
            html.push_str(&key_values(v));
        }
        if let Some(r) = page.response {
            let on_series = |kind: OutputKind| {
                page.outputs.iter().any(|o| {
                    o.output.kind == kind
                        && o.output
                            .annotations
                            .iter()
                            .any(|a| items.iter().any(|i| i.sop_instance_uid == a.sop_instance_uid))
                })
            };
            let scope = SeriesScope {
                uid,
                items: &items,
                only_series: series.len() == 1,
                gsps: on_series(OutputKind::PresentationState),
                sr: on_series(OutputKind::StructuredReport),
            };
            html.push_str(&legend(r, &scope));
        }
        html.push_str("<div class=\"grid\">\n");
        for item in &items {
            figure(html, page, item);
        }
        html.push_str("</div>\n</section>\n");
    }
    html.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(sop: &str, frame: u32, not_drawn: Option<&str>) -> GalleryItem {
        GalleryItem {
            file_name: String::new(),
            thumbnail: String::new(),
            plain: String::new(),
            not_drawn: not_drawn.map(str::to_owned),
            size: (320, 320),
            caption: String::new(),
            series_instance_uid: "1".into(),
            sop_instance_uid: sop.into(),
            frame,
            spacing: None,
        }
    }

    #[test]
    fn the_count_names_images_frames_and_what_was_not_drawn() {
        let three = [item("a", 1, None), item("b", 1, None), item("c", 1, None)];
        assert_eq!(what_it_shows(&three.iter().collect::<Vec<_>>()), "3 images");
        let frames: Vec<GalleryItem> = (1..=6).map(|f| item("a", f, None)).collect();
        assert_eq!(what_it_shows(&frames.iter().collect::<Vec<_>>()), "1 image, 6 frames");
        let mixed = [item("a", 1, None), item("b", 1, Some("no pixel data"))];
        assert_eq!(what_it_shows(&mixed.iter().collect::<Vec<_>>()), "2 images, 1 not drawn");
    }
}

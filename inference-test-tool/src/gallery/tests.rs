use super::*;
use arterys_gateway::{LinearMeasurement, Mask, MaskPart, MaskShape};

fn item(n: usize, series: &str) -> GalleryItem {
    GalleryItem {
        file_name: format!("{n}_slice {n}.png"),
        thumbnail: format!("thumbs/{n}_slice {n}.png"),
        size: (320, 320),
        caption: format!("Series 1 \u{b7} Image {n}\nslice {n}.dcm"),
        series_instance_uid: series.to_owned(),
        sop_instance_uid: format!("1.2.{n}"),
        frame: 1,
        spacing: Some([0.5, 0.5]),
    }
}

fn page<'a>(items: &'a [GalleryItem], r: Option<&'a InferenceResponse>, json: &'a Value) -> Page<'a> {
    Page {
        title: "Run",
        summary: &[],
        hashes: &[],
        violations: &[],
        warnings: &[],
        items,
        series_titles: &[],
        response: r,
        outputs: &[],
        response_json: json,
    }
}

#[test]
fn images_are_grouped_by_series_with_thumbnails_linking_to_full_pngs() {
    let items: Vec<GalleryItem> = (0..6).map(|i| item(i, if i < 3 { "1.1" } else { "1.2" })).collect();
    let titles = [("1.2".to_owned(), "Series 2: chest".to_owned())];
    let json = serde_json::json!({});
    let html = index_html(&Page { series_titles: &titles, ..page(&items, None, &json) });
    for it in &items {
        let n = it.sop_instance_uid.trim_start_matches("1.2.");
        assert!(
            html.contains(&format!(
                "<a href=\"{n}_slice%20{n}.png\"><img src=\"thumbs/{n}_slice%20{n}.png\" width=\"320\" height=\"320\""
            )),
            "{html}"
        );
    }
    let (s1, s2) = (html.find("<h3>1.1</h3>").unwrap(), html.find("<h3>Series 2: chest</h3>").unwrap());
    assert!(
        s1 < html.find("thumbs/2_").unwrap()
            && html.find("thumbs/2_").unwrap() < s2
            && s2 < html.find("thumbs/3_").unwrap()
    );
    assert_eq!(html.matches("<img ").count(), items.len());
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"));
}

#[test]
fn measurements_show_their_length_and_masks_their_legend() {
    let items = [item(1, "1.1")];
    let mut r = InferenceResponse::new();
    r.add_measurement(LinearMeasurement {
        sop_instance_uid: "1.2.1".into(),
        frame_number: None,
        label: "Diameter".into(),
        coordinates_type: arterys_gateway::CoordinatesType::Pixel,
        start: [10.0, 10.0],
        end: [40.0, 50.0],
        extra: Default::default(),
    });
    let mask = Mask::zeros(MaskShape::image(4, 4)).unwrap();
    r.add_mask(
        MaskPart::numeric_labels("Organs", mask.clone(), [(1, "Liver"), (2, "Spleen")]).for_image("1.2.1", None),
    );
    r.add_mask(MaskPart::probability("Lesion", mask).threshold(0.7).for_image("1.2.1", None));
    r.set_study_ml_json(serde_json::json!({"label": "Normal <ok>", "score": 0.9}));
    let json = serde_json::json!({});
    let html = index_html(&page(&items, Some(&r), &json));
    // 30 x 40 px at 0.5 mm: 25 mm.
    assert!(html.contains("<li>Diameter: 25.0 mm</li>"), "{html}");
    assert!(html.contains("1 = Liver") && html.contains("2 = Spleen"));
    assert!(html.contains("Lesion: probability mask, shown where p \u{2265} 0.70"));
    assert!(html.contains("<td>label</td><td>Normal &lt;ok&gt;</td>"));
}

#[test]
fn special_characters_are_escaped() {
    let evil = "<script>alert('x')</script> & \"q\"";
    let mut it = item(1, evil);
    it.caption = evil.to_owned();
    it.file_name = "a b&<c>\".png".to_owned();
    let items = [it];
    let json = serde_json::json!({ "key": evil });
    let lines = [format!("summary {evil}")];
    let html = index_html(&Page { title: evil, summary: &lines, violations: &lines, ..page(&items, None, &json) });
    assert!(!html.contains("<script>"));
    assert!(!html.contains("'x'"));
    let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;";
    assert!(html.contains(&format!("<title>{escaped}</title>")));
    assert!(html.contains(&format!("<li>summary {escaped}</li>")));
    assert!(html.contains("<a href=\"a%20b%26%3Cc%3E%22.png\">"));
}

use super::*;
use arterys_protocol::{LinearMeasurement, Mask, MaskPart, MaskShape};

fn item(n: usize, series: &str) -> GalleryItem {
    GalleryItem {
        file_name: format!("{n}_slice {n}.png"),
        thumbnail: format!("thumbs/{n}_slice {n}.png"),
        plain: format!("thumbs/plain/{n}_slice {n}.png"),
        not_drawn: None,
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
    let titles = [("1.1".to_owned(), "Series 1".to_owned()), ("1.2".to_owned(), "Series 2: chest".to_owned())];
    let json = serde_json::json!({});
    let html = index_html(&Page { series_titles: &titles, ..page(&items, None, &json) });
    for it in &items {
        let n = it.sop_instance_uid.trim_start_matches("1.2.");
        assert!(
            html.contains(&format!(
                "<a href=\"{n}_slice%20{n}.png\"><img class=\"with-results\" src=\"thumbs/{n}_slice%20{n}.png\" \
                 width=\"320\" height=\"320\""
            )),
            "{html}"
        );
    }
    let (s1, s2) = (html.find("<h3>Series 1</h3>").unwrap(), html.find("<h3>Series 2: chest</h3>").unwrap());
    assert!(html.contains("<h3>Series 1</h3>\n<p class=\"count\">3 images \u{b7} 1.1</p>"), "{html}");
    assert!(
        s1 < html.find("thumbs/2_").unwrap()
            && html.find("thumbs/2_").unwrap() < s2
            && s2 < html.find("thumbs/3_").unwrap()
    );
    // Each image with its results and without them; the switch shows one of the two.
    assert_eq!(html.matches("<img class=\"with-results\"").count(), items.len());
    assert_eq!(html.matches("<img class=\"plain\" src=\"thumbs/plain/").count(), items.len());
    assert!(html.contains("<input type=\"checkbox\" id=\"show-results\" checked>"));
    assert!(html.find("id=\"show-results\"").unwrap() < html.find("<section class=\"images\">").unwrap());
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
        coordinates_type: arterys_protocol::CoordinatesType::Pixel,
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
    assert!(html.contains("<td>score</td><td>90.0%</td>"), "a score as a percentage: {html}");
}

#[test]
fn a_finding_on_many_images_has_one_legend_entry_and_probabilities_a_table() {
    let items: Vec<GalleryItem> = (0..9).map(|i| item(i, "1.1")).collect();
    let mut r = InferenceResponse::new();
    for i in 0..9 {
        let mask = Mask::zeros(MaskShape::image(4, 4)).unwrap();
        r.add_mask(MaskPart::probability("Mock segmentation", mask).for_image(format!("1.2.{i}"), None));
    }
    r.set_study_ml_json(serde_json::json!({"label": "Body", "probabilities": {"No body": 0.2002, "Body": 0.7998}}));
    let json = serde_json::json!({});
    let html = index_html(&page(&items, Some(&r), &json));
    assert_eq!(html.matches("Mock segmentation: probability mask").count(), 1, "{html}");
    assert!(
        html.contains(
            "<table class=\"probs\"><tr><td>Body</td><td class=\"pct\">80.0%</td></tr>\
                           <tr><td>No body</td><td class=\"pct\">20.0%</td></tr></table>"
        ),
        "{html}"
    );
    assert!(!html.contains("0.7998,"), "no raw JSON in the table: {html}");
}

#[test]
fn an_image_not_drawn_has_a_placeholder_with_its_reason() {
    let mut missing = item(2, "1.1");
    missing.not_drawn = Some("cannot decode transfer syntax JPEG Extended".into());
    let items = [item(1, "1.1"), missing];
    let json = serde_json::json!({"a": [1, 2]});
    let html = index_html(&page(&items, None, &json));
    assert!(html.contains("Not drawn: cannot decode transfer syntax JPEG Extended</div>"), "{html}");
    assert!(html.contains("<p class=\"count\">2 images, 1 not drawn \u{b7} 1.1</p>"), "{html}");
    assert!(html.contains("<h2>Images (1)</h2>"), "{html}");
    assert_eq!(html.matches("<img ").count(), 2, "one image, with and without results: {html}");
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

#[test]
fn images_without_a_series_uid_or_number_are_named_so() {
    let items = [item(1, ""), item(2, "")];
    let titles = [(String::new(), "Series without a number".to_owned())];
    let json = serde_json::json!({});
    let html = index_html(&Page { series_titles: &titles, ..page(&items, None, &json) });
    assert!(html.contains("<h3>Images without a SeriesInstanceUID</h3>\n<p class=\"count\">2 images</p>"), "{html}");
    assert!(!html.contains("Series ?") && !html.contains("(, "), "{html}");
}

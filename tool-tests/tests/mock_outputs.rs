//! Reading and drawing the DICOM outputs the mock server answers with: a presentation state
//! per referenced image, a structured report item by item, and the report's measurement on its
//! image.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use arterys_inference_test_tool::draw::Canvas;
use arterys_inference_test_tool::gsps;
use arterys_inference_test_tool::outputs::{read_outputs, OutputKind};
use arterys_inference_test_tool::sr::{measurements, SR_COLOR};
use arterys_mock_server::Mode;
use arterys_protocol::{InferenceInput, InferenceResponse};

fn answer(mode: Mode) -> (InferenceResponse, Vec<String>) {
    let series = "1.2.826.0.1.3680043.10.543.7";
    let slices: Vec<_> = (0..3).map(|i| arterys_viewer::synthetic::ct_slice(series, i, 64, 48).unwrap()).collect();
    let uids = (1..=3).map(|i| format!("{series}.{i}")).collect();
    let input = InferenceInput::from_dicom(Default::default(), slices.into_iter().map(bytes::Bytes::from));
    (arterys_mock_server::answer(mode, input).unwrap(), uids)
}

#[test]
fn a_presentation_state_is_read_per_referenced_image() {
    let (r, uids) = answer(Mode::Gsps);
    let outputs = read_outputs(&r);
    assert_eq!(outputs.len(), 1);
    let o = &outputs[0].0;
    assert_eq!(
        (o.kind.clone(), o.file_name.as_str(), o.problem.as_ref()),
        (OutputKind::PresentationState, "gsps_0.dcm", None)
    );
    let mut annotated: Vec<&str> = o.annotations.iter().map(|a| a.sop_instance_uid.as_str()).collect();
    annotated.sort();
    assert_eq!(annotated, uids.iter().map(String::as_str).collect::<Vec<_>>());
    let a = &o.annotations[0];
    let kinds: Vec<&str> = a.graphics.iter().map(|g| g.kind.as_str()).collect();
    assert_eq!(kinds, ["POLYLINE", "CIRCLE"]);
    // The diamond around the middle quarter of a 48-column, 64-row image, closed.
    assert_eq!(a.graphics[0].points, [[24.0, 16.0], [36.0, 32.0], [24.0, 48.0], [12.0, 32.0], [24.0, 16.0]]);
    assert_eq!(a.texts[0].text, "Mock finding");
}

#[test]
fn a_report_is_listed_item_by_item() {
    let (r, uids) = answer(Mode::StructuredReport);
    let outputs = read_outputs(&r);
    let o = &outputs[0].0;
    assert_eq!(o.kind, OutputKind::StructuredReport);
    assert_eq!(o.report[0], "Imaging Measurement Report");
    assert!(o.report.contains(&"      Finding: Lesion".to_owned()), "{:#?}", o.report);
    // 24 px across the middle slice at the synthetic slices' 0.7 mm Pixel Spacing.
    assert!(o.report.contains(&"      Length: 16.80 mm".to_owned()), "{:#?}", o.report);
    assert!(o.report.iter().any(|l| l.ends_with(&format!("image {}", uids[1]))), "{:#?}", o.report);
}

#[test]
fn the_mock_report_s_length_is_drawn_on_its_image() {
    let series = "1.2.826.0.1.3680043.10.543.8";
    let slices: Vec<_> = (0..3).map(|i| arterys_viewer::synthetic::ct_slice(series, i, 256, 256).unwrap()).collect();
    let input = InferenceInput::from_dicom(Default::default(), slices.into_iter().map(bytes::Bytes::from));
    let r = arterys_mock_server::answer(Mode::StructuredReport, input).unwrap();
    let report = arterys_viewer::open(&r.buffers()[0]).unwrap();
    let a = measurements(&report);
    assert_eq!(a.len(), 1, "{a:#?}");
    // The middle slice, a line across the middle half of its 256 columns at row 128, 128 px
    // at the synthetic slices' 0.7 mm Pixel Spacing.
    assert_eq!(a[0].sop_instance_uid, format!("{series}.2"));
    assert_eq!(a[0].graphics[0].kind, "POLYLINE");
    assert_eq!(a[0].graphics[0].points, [[64.0, 128.0], [192.0, 128.0]]);
    assert_eq!(a[0].texts[0].text, "Length: 89.60 mm");
    assert_eq!(a[0].color, SR_COLOR);

    let mut c = Canvas::new(256, 256, vec![0; 256 * 256 * 3]);
    gsps::draw_annotation(&mut c, &a[0], (256, 256), 1.0, 1, 1);
    for x in 64..=192 {
        assert_eq!(c.get(x, 128), SR_COLOR, "column {x}");
    }
    assert_eq!(c.get(128, 100), [0, 0, 0]);
    assert_eq!(c.get(40, 128), [0, 0, 0]);
    // The value is written below it.
    assert!((132..160).any(|y| (64..192).any(|x| c.get(x, y) != [0, 0, 0])), "no text below the line");
}

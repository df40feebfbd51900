//! Multi-frame instances: every frame is inferred and its 2D results carry its 1-based
//! `frame_number`; an enhanced multi-frame image with per-frame geometry is a volume, its
//! frames sorted along the slice normal; boxes dropped by the size cut are counted in the log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use arterys_gateway::{InferenceInput, InferenceResponse, RequestPart};
use arterys_model_server::{Model, ModelConfig};
use common::{demo, parse_ok, root, ModelServer, TempDir};
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

fn file(rel: &str) -> Vec<u8> {
    std::fs::read(root().join("testdata/dicom").join(rel)).unwrap()
}

fn input(files: Vec<Vec<u8>>) -> InferenceInput {
    InferenceInput {
        request: Default::default(),
        json: bytes::Bytes::from_static(b"{}"),
        dicom: files
            .into_iter()
            .enumerate()
            .map(|(i, body)| RequestPart::new(i + 1, Default::default(), body.into()))
            .collect(),
        attachments: vec![],
        input_hash: String::new(),
        route: "/".into(),
        study_dir: None,
    }
}

/// `files` through a model of `onnx` (the demo models) configured by `yaml` (tract).
fn answer(onnx: &str, yaml: &str, files: Vec<Vec<u8>>) -> InferenceResponse {
    let mut c: ModelConfig = serde_yaml_ng::from_str(yaml).unwrap();
    c.model = Some(demo().join(onnx));
    c.check().unwrap();
    let r = Model::load(c).unwrap().answer(&input(files)).unwrap();
    assert!(r.violations().is_empty(), "{:?}", r.violations());
    r
}

fn ds(values: &[f64]) -> PrimitiveValue {
    PrimitiveValue::Strs(values.iter().map(f64::to_string).collect())
}

fn group(sequence: dicom_core::Tag, elements: Vec<DataElement<InMemDicomObject>>) -> DataElement<InMemDicomObject> {
    let item = InMemDicomObject::from_element_iter(elements);
    DataElement::new(sequence, VR::SQ, DataSetSequence::from(vec![item]))
}

/// An Enhanced CT of `frames` 64x64 frames at z = frames-1 down to 0 (frame 1 is the highest).
pub fn enhanced_ct(frames: u32) -> Vec<u8> {
    enhanced_ct_at(&(0..frames).rev().collect::<Vec<_>>())
}

/// An Enhanced CT whose frame k lies at z = `zs[k]`, with Plane Position per frame and Plane
/// Orientation, Pixel Measures and the rescale shared; the frame at z shows a bright disc of
/// radius 6 + 3z pixels.
pub fn enhanced_ct_at(zs: &[u32]) -> Vec<u8> {
    let frames = zs.len() as u32;
    let (rows, cols) = (64u16, 64u16);
    let mut obj = InMemDicomObject::new_empty();
    let mut put = |tag, vr, v: PrimitiveValue| obj.put(DataElement::new(tag, vr, v));
    put(tags::SOP_CLASS_UID, VR::UI, uids::ENHANCED_CT_IMAGE_STORAGE.into());
    put(tags::SOP_INSTANCE_UID, VR::UI, "1.2.826.0.1.3680043.10.9.1.1".into());
    put(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.826.0.1.3680043.10.9.1".into());
    put(tags::SERIES_INSTANCE_UID, VR::UI, "1.2.826.0.1.3680043.10.9.1.2".into());
    put(tags::MODALITY, VR::CS, "CT".into());
    put(tags::NUMBER_OF_FRAMES, VR::IS, frames.to_string().as_str().into());
    put(tags::ROWS, VR::US, PrimitiveValue::from(rows));
    put(tags::COLUMNS, VR::US, PrimitiveValue::from(cols));
    put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
    put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2".into());
    put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
    put(tags::BITS_STORED, VR::US, PrimitiveValue::from(12u16));
    put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(11u16));
    put(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(0u16));
    let shared = InMemDicomObject::from_element_iter([
        group(
            tags::PIXEL_MEASURES_SEQUENCE,
            vec![
                DataElement::new(tags::PIXEL_SPACING, VR::DS, ds(&[0.7, 0.7])),
                DataElement::new(tags::SLICE_THICKNESS, VR::DS, ds(&[1.0])),
            ],
        ),
        group(
            tags::PLANE_ORIENTATION_SEQUENCE,
            vec![DataElement::new(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ds(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))],
        ),
        group(
            tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
            vec![
                DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, ds(&[-1024.0])),
                DataElement::new(tags::RESCALE_SLOPE, VR::DS, ds(&[1.0])),
                DataElement::new(tags::RESCALE_TYPE, VR::LO, PrimitiveValue::from("HU")),
            ],
        ),
    ]);
    let z_of = |f: u32| f64::from(zs[f as usize]);
    let per_frame: Vec<InMemDicomObject> = (0..frames)
        .map(|f| {
            InMemDicomObject::from_element_iter([group(
                tags::PLANE_POSITION_SEQUENCE,
                vec![DataElement::new(tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&[0.0, 0.0, z_of(f)]))],
            )])
        })
        .collect();
    obj.put(DataElement::new(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, VR::SQ, DataSetSequence::from(vec![shared])));
    obj.put(DataElement::new(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, VR::SQ, DataSetSequence::from(per_frame)));
    let mut pixels = Vec::new();
    for f in 0..frames {
        let radius = 6.0 + 3.0 * z_of(f);
        for y in 0..rows {
            for x in 0..cols {
                let d = ((f64::from(y) - 32.0).powi(2) + (f64::from(x) - 32.0).powi(2)).sqrt();
                pixels.push(if d < radius { 1100u16 } else { 24 });
            }
        }
    }
    obj.put(DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into())));
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(uids::ENHANCED_CT_IMAGE_STORAGE)
        .media_storage_sop_instance_uid("1.2.826.0.1.3680043.10.9.1.1")
        .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN);
    let mut out = Vec::new();
    obj.with_meta(meta).unwrap().write_all(&mut out).unwrap();
    out
}

const WINDOW: &str = "preprocess: {normalize: {window: {center: 40, width: 400}}}\n";

#[test]
fn every_frame_of_a_multi_frame_image_is_inferred_and_named() {
    // Two frames (RGB, RLE), fifteen frames (RT dose, no per-frame geometry) and one
    // single-frame X-ray; a cut of 0 makes every frame one box.
    let files = vec![file("pydicom/SC_rgb_rle_2frame.dcm"), file("pydicom/rtdose.dcm"), file("arterys/test_2d/1.dcm")];
    let yaml = "input: {layout: NCHW, size: [64, 64], batch: 4}\noutputs:\n  - {name: probability, kind: boxes, threshold: 0.0}\n  - {name: probability, kind: probability_mask}\n";
    let r = answer("demo_body.onnx", yaml, files);
    let boxes = r.json().bounding_boxes_2d.clone().unwrap();
    let frames_of = |n: usize| -> Vec<Option<u32>> {
        let sop = r.json().parts[n].dicom_image.as_ref().unwrap().sop_instance_uid.clone();
        let mut f: Vec<_> = boxes.iter().filter(|b| b.sop_instance_uid == sop).map(|b| b.frame_number).collect();
        f.sort();
        f
    };
    assert_eq!(boxes.len(), 2 + 15 + 1, "{boxes:?}");
    // One 2D mask per frame, in the same order as the boxes' images.
    let parts = &r.json().parts;
    assert_eq!(parts.len(), 18);
    let mask_frames: Vec<Option<u32>> = parts.iter().map(|p| p.dicom_image.as_ref().unwrap().frame_number).collect();
    let expect: Vec<Option<u32>> = (1..=2).chain(1..=15).map(Some).chain([None]).collect();
    assert_eq!(mask_frames, expect);
    assert_eq!(frames_of(0), vec![Some(1), Some(2)]);
    assert_eq!(frames_of(2), (1..=15).map(Some).collect::<Vec<_>>());
    assert_eq!(frames_of(17), vec![None]);
    // Each frame's mask has its frame's size (RGB 100x100, dose 10x10).
    assert_eq!(parts[0].binary_data_shape.unwrap().width, 100);
    assert_eq!(parts[2].binary_data_shape.unwrap().width, 10);
}

/// Mask coverage (pixels at or above one half) per frame, by frame number.
fn coverage_by_frame(r: &InferenceResponse) -> Vec<(u32, usize)> {
    let mut c: Vec<(u32, usize)> = r
        .json()
        .parts
        .iter()
        .zip(r.buffers())
        .map(|(p, b)| {
            let image = p.dicom_image.as_ref().expect("a 2D part per frame");
            (image.frame_number.expect("its frame"), b.iter().filter(|&&v| v >= 128).count())
        })
        .collect();
    c.sort();
    c
}

#[test]
fn an_enhanced_image_with_per_frame_geometry_is_sorted_along_z_and_a_volume_for_3d_models() {
    let frames = 6;
    let yaml = format!("input: {{layout: NCHW, size: [64, 64], batch: 4}}\n{WINDOW}outputs:\n  - {{name: probability, kind: probability_mask}}\n  - {{name: probability, kind: boxes}}\n");
    let r = answer("demo_body.onnx", &yaml, vec![enhanced_ct(frames)]);
    // One 2D mask per frame, each naming its frame, in frame order although they ran in slice
    // order; frame 1 (the highest z) has the largest disc.
    let order: Vec<Option<u32>> =
        r.json().parts.iter().map(|p| p.dicom_image.as_ref().and_then(|i| i.frame_number)).collect();
    assert_eq!(order, (1..=frames).map(Some).collect::<Vec<_>>());
    let covered = coverage_by_frame(&r);
    assert_eq!(covered.iter().map(|c| c.0).collect::<Vec<_>>(), (1..=frames).collect::<Vec<_>>());
    assert!(covered.windows(2).all(|w| w[0].1 > w[1].1), "{covered:?}");
    let boxes = r.json().bounding_boxes_2d.clone().unwrap();
    assert_eq!(boxes.len(), frames as usize, "{boxes:?}");
    let width = |f: u32| boxes.iter().find(|b| b.frame_number == Some(f)).map(|b| b.bottom_right[0] - b.top_left[0]);
    assert!((1..frames).all(|f| width(f) > width(f + 1)), "{boxes:?}");

    // A volume model gets the frames as one volume, bottom up, and each frame its slice back.
    let yaml = format!("input: {{layout: NCDHW, size: [8, 64, 64]}}\n{WINDOW}outputs: [{{name: probability, kind: probability_mask}}]\n");
    let r = answer("demo_volume.onnx", &yaml, vec![enhanced_ct(frames)]);
    let covered = coverage_by_frame(&r);
    assert_eq!(covered.len(), frames as usize);
    assert!(covered.windows(2).all(|w| w[0].1 >= w[1].1) && covered[0].1 > covered[5].1, "{covered:?}");
    // Frames stored in any order make the same volume: each z gets the same mask.
    let shuffled = [2, 5, 0, 3, 1, 4];
    let r = answer("demo_volume.onnx", &yaml, vec![enhanced_ct_at(&shuffled)]);
    let by_z = |covered: &[(u32, usize)], z_of_frame: &dyn Fn(u32) -> u32| {
        let mut v: Vec<(u32, usize)> = covered.iter().map(|&(f, n)| (z_of_frame(f), n)).collect();
        v.sort();
        v
    };
    assert_eq!(
        by_z(&coverage_by_frame(&r), &|f| shuffled[f as usize - 1]),
        by_z(&covered, &|f| frames - f),
        "the shuffled file's frames were not put in z order"
    );
}

/// The box size cut is the config's, and the log says how many boxes it dropped.
#[tokio::test]
async fn boxes_under_the_configured_size_are_dropped_and_counted_in_the_log() {
    let dir = TempDir::new("box-cut");
    let model = demo().join("demo_body.onnx");
    let config = |cut: usize| {
        format!("model: {}\ninput: {{layout: NCHW, size: [64, 64], batch: 4}}\n{WINDOW}outputs:\n  - {{name: probability, kind: boxes, min_box_pixels: {cut}}}\n", model.display())
    };
    let request = r#"{"inference_command": "get-bounding-box-2d"}"#;
    let files = vec![enhanced_ct(3)];
    // The smallest disc (radius 6) is about 113 pixels: a cut of 120 drops exactly it.
    let (server, _) = ModelServer::start(&dir.write("cut.yaml", &config(120))).await;
    let (status, ct, body) = server.infer("/", request, &files).await;
    let r = parse_ok(status, ct, &body);
    let boxes = r.json().bounding_boxes_2d.clone().unwrap_or_default();
    let mut frames: Vec<_> = boxes.iter().map(|b| b.frame_number).collect();
    frames.sort();
    assert_eq!(frames, vec![Some(1), Some(2)], "{boxes:?}");
    let log = server.log_text();
    assert!(log.contains("output probability: 1 boxes under min_box_pixels (120) dropped"), "{log}");
    drop(server);
    let (server, _) = ModelServer::start(&dir.write("keep.yaml", &config(1))).await;
    let (status, ct, body) = server.infer("/", request, &files).await;
    assert_eq!(parse_ok(status, ct, &body).json().bounding_boxes_2d.as_ref().map(Vec::len), Some(3));
    assert!(!server.log_text().contains("dropped"), "{}", server.log_text());
}

/// Frames count against `max_images`: more is refused before anything is decoded.
#[test]
fn a_study_with_more_frames_than_max_images_is_refused() {
    let yaml = "max_images: 16\ninput: {layout: NCHW, size: [64, 64]}\noutputs: [{name: probability, kind: boxes}]\n";
    let mut c: ModelConfig = serde_yaml_ng::from_str(yaml).unwrap();
    c.model = Some(demo().join("demo_body.onnx"));
    let model = Model::load(c).unwrap();
    // Fifteen frames and one image fit; two more frames do not.
    assert!(model.answer(&input(vec![file("pydicom/rtdose.dcm"), file("arterys/test_2d/1.dcm")])).is_ok());
    let e = model
        .answer(&input(vec![file("pydicom/rtdose.dcm"), file("pydicom/SC_rgb_rle_2frame.dcm")]))
        .expect_err("17 images");
    assert_eq!(e.status().as_u16(), 422);
    assert_eq!(e.message(), "the study has 17 images (frames included); this model takes at most 16 (max_images)");
}

//! The measurements of a structured report drawn on the images they were made on: every
//! spatial coordinates item (SCOORD: POLYLINE, POINT, CIRCLE, ELLIPSE...) that names its image
//! (an IMAGE item below it, as TID 1500 has it), with the measurement it belongs to written
//! beside it: the NUM item it is inferred from, or else the NUM items beside it (TID 1410's
//! image region), or else its own concept name.

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::annotation::{floats, items, meaning, points, text as string, unit, Annotation, Graphic, TextObject};

/// Structured-report measurements are pink, apart from presentation-state graphics and the
/// answer's own results.
pub const SR_COLOR: [u8; 3] = [255, 64, 208];

/// The drawable measurements of a structured report, one [`Annotation`] per image region.
pub fn measurements(obj: &InMemDicomObject) -> Vec<Annotation> {
    let mut out = Vec::new();
    walk(items(obj, tags::CONTENT_SEQUENCE), &mut out);
    out
}

fn walk(content: &[InMemDicomObject], out: &mut Vec<Annotation>) {
    // NUM items beside an image region that has no NUM of its own (TID 1410).
    let siblings: Vec<String> = content
        .iter()
        .filter(|it| value_type(it).as_deref() == Some("NUM") && scoords(it).is_empty())
        .filter_map(num)
        .collect();
    for it in content {
        match value_type(it).as_deref() {
            Some("NUM") => {
                let value = num(it);
                for s in scoords(it) {
                    out.extend(region(s, value.clone()));
                }
            }
            Some("SCOORD") => {
                let text = if siblings.is_empty() { concept(it) } else { Some(siblings.join(", ")) };
                out.extend(region(it, text));
            }
            _ => walk(items(it, tags::CONTENT_SEQUENCE), out),
        }
    }
}

/// The SCOORD children of an item.
fn scoords(it: &InMemDicomObject) -> Vec<&InMemDicomObject> {
    items(it, tags::CONTENT_SEQUENCE).iter().filter(|c| value_type(c).as_deref() == Some("SCOORD")).collect()
}

/// An image region on the image its IMAGE child references, labelled `text` below its
/// top-left point. None without a referenced image or points.
fn region(scoord: &InMemDicomObject, text: Option<String>) -> Option<Annotation> {
    let image = items(scoord, tags::CONTENT_SEQUENCE)
        .iter()
        .filter(|c| value_type(c).as_deref() == Some("IMAGE"))
        .find_map(|c| items(c, tags::REFERENCED_SOP_SEQUENCE).first())?;
    let uid = string(image, tags::REFERENCED_SOP_INSTANCE_UID)?;
    let frames = floats(image, tags::REFERENCED_FRAME_NUMBER).into_iter().filter(|f| *f >= 1.0).map(|f| f as u32);
    let points = points(&floats(scoord, tags::GRAPHIC_DATA));
    if points.is_empty() {
        return None;
    }
    let left = points.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min);
    let bottom = points.iter().map(|p| p[1]).fold(f64::NEG_INFINITY, f64::max);
    // Below the region, clear of the line.
    let texts = text.map(|text| TextObject { text, at: [left, bottom + 4.0], display: false }).into_iter().collect();
    Some(Annotation {
        sop_instance_uid: uid,
        frames: frames.collect(),
        graphics: vec![Graphic {
            kind: string(scoord, tags::GRAPHIC_TYPE).unwrap_or_default(),
            points,
            display: false,
        }],
        texts,
        color: SR_COLOR,
    })
}

/// `Concept: value unit` of a NUM item.
fn num(it: &InMemDicomObject) -> Option<String> {
    let m = items(it, tags::MEASURED_VALUE_SEQUENCE).first()?;
    let value = string(m, tags::NUMERIC_VALUE)?;
    let name = concept(it).unwrap_or_else(|| "Measurement".into());
    Some(format!("{name}: {value} {}", unit(m)).trim_end().to_owned())
}

fn concept(it: &InMemDicomObject) -> Option<String> {
    meaning(it, tags::CONCEPT_NAME_CODE_SEQUENCE)
}

fn value_type(it: &InMemDicomObject) -> Option<String> {
    string(it, tags::VALUE_TYPE)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::draw::Canvas;
    use dicom_core::Tag;

    fn element(tag: Tag, vr: dicom_core::VR, value: impl Into<dicom_core::PrimitiveValue>) -> DataElement {
        DataElement::new(tag, vr, value.into())
    }

    fn sequence(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement {
        DataElement::new(tag, dicom_core::VR::SQ, dicom_core::value::DataSetSequence::from(items))
    }

    fn named(value_type: &str, meaning: &str, more: Vec<DataElement>) -> InMemDicomObject {
        let code = InMemDicomObject::from_element_iter([element(tags::CODE_MEANING, dicom_core::VR::LO, meaning)]);
        let mut it = InMemDicomObject::from_element_iter([
            element(tags::VALUE_TYPE, dicom_core::VR::CS, value_type),
            sequence(tags::CONCEPT_NAME_CODE_SEQUENCE, vec![code]),
        ]);
        more.into_iter().for_each(|e| {
            it.put(e);
        });
        it
    }

    type DataElement = dicom_core::DataElement<InMemDicomObject>;

    #[test]
    fn a_region_beside_its_measurements_is_drawn_with_them() {
        // TID 1410: the image region and the measurements side by side in their group, a
        // point set on frame 2 of an image.
        let image = named(
            "IMAGE",
            "Source",
            vec![sequence(
                tags::REFERENCED_SOP_SEQUENCE,
                vec![InMemDicomObject::from_element_iter([
                    element(tags::REFERENCED_SOP_INSTANCE_UID, dicom_core::VR::UI, "1.2.3"),
                    element(tags::REFERENCED_FRAME_NUMBER, dicom_core::VR::IS, "2"),
                ])],
            )],
        );
        let region = named(
            "SCOORD",
            "Image Region",
            vec![
                element(tags::GRAPHIC_TYPE, dicom_core::VR::CS, "MULTIPOINT"),
                element(
                    tags::GRAPHIC_DATA,
                    dicom_core::VR::FL,
                    dicom_core::PrimitiveValue::F32(vec![10.0f32, 10.0, 50.0, 40.0].into()),
                ),
                sequence(tags::CONTENT_SEQUENCE, vec![image]),
            ],
        );
        let value = InMemDicomObject::from_element_iter([
            element(tags::NUMERIC_VALUE, dicom_core::VR::DS, "12.5"),
            sequence(
                tags::MEASUREMENT_UNITS_CODE_SEQUENCE,
                vec![InMemDicomObject::from_element_iter([element(tags::CODE_VALUE, dicom_core::VR::SH, "mm2")])],
            ),
        ]);
        let area = named("NUM", "Area", vec![sequence(tags::MEASURED_VALUE_SEQUENCE, vec![value])]);
        let group = named("CONTAINER", "Measurement Group", vec![sequence(tags::CONTENT_SEQUENCE, vec![region, area])]);
        let report = InMemDicomObject::from_element_iter([sequence(tags::CONTENT_SEQUENCE, vec![group])]);

        let a = measurements(&report);
        assert_eq!(a.len(), 1, "{a:#?}");
        assert_eq!((a[0].sop_instance_uid.as_str(), a[0].frames.as_slice()), ("1.2.3", &[2u32][..]));
        assert_eq!(a[0].graphics[0].points, [[10.0, 10.0], [50.0, 40.0]]);
        assert_eq!(a[0].texts[0].text, "Area: 12.5 mm2");
        let mut c = Canvas::new(160, 160, vec![0; 160 * 160 * 3]);
        crate::gsps::draw_annotation(&mut c, &a[0], (160, 160), 1.0, 1, 1);
        // A cross on each point, nothing between them.
        for (x, y) in [(10, 10), (7, 10), (13, 10), (10, 7), (50, 40), (50, 37)] {
            assert_eq!(c.get(x, y), SR_COLOR, "({x},{y})");
        }
        assert_eq!(c.get(30, 25), [0, 0, 0]);
    }

    #[test]
    fn a_region_without_a_referenced_image_is_not_drawn() {
        let scoord = InMemDicomObject::from_element_iter([
            dicom_core::DataElement::new(tags::VALUE_TYPE, dicom_core::VR::CS, "SCOORD"),
            dicom_core::DataElement::new(tags::GRAPHIC_TYPE, dicom_core::VR::CS, "POINT"),
            dicom_core::DataElement::new(
                tags::GRAPHIC_DATA,
                dicom_core::VR::FL,
                dicom_core::PrimitiveValue::F32(vec![1.0f32, 2.0].into()),
            ),
        ]);
        assert_eq!(region(&scoord, None), None);
    }
}

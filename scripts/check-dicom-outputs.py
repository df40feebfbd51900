#!/usr/bin/env python3
"""Checks DICOM outputs of the mock server with pydicom, an independent reader.

Usage: check-dicom-outputs.py INPUT_DIR OUTPUT.dcm...

Every output must read, carry the SOP Class its kind needs (in the dataset and the file
meta), belong to the input's study, and every image it references must be an input image
with that SOP Class. Structured reports must be TID 1500 measurement reports with a length;
presentation states must annotate images. Prints one line per file; exits 1 on any problem.
"""

import pathlib
import sys

import pydicom
import pydicom.config

# Values that break their VR's rules are errors, not warnings.
pydicom.config.settings.reading_validation_mode = pydicom.config.RAISE

SR_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.88.11",
    "1.2.840.10008.5.1.4.1.1.88.22",
    "1.2.840.10008.5.1.4.1.1.88.33",
    "1.2.840.10008.5.1.4.1.1.88.34",
}
GSPS = "1.2.840.10008.5.1.4.1.1.11.1"
SC = "1.2.840.10008.5.1.4.1.1.7"


def inputs(folder):
    images = {}
    studies = set()
    for path in sorted(pathlib.Path(folder).rglob("*")):
        if path.is_file():
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            images[ds.SOPInstanceUID] = ds.SOPClassUID
            studies.add(ds.StudyInstanceUID)
    return images, studies


def walk(items):
    for item in items:
        yield item
        yield from walk(getattr(item, "ContentSequence", []))


def check(path, images, studies):
    ds = pydicom.dcmread(path)
    problems = []
    cls = ds.SOPClassUID
    if ds.file_meta.MediaStorageSOPClassUID != cls:
        problems.append("file meta SOP Class differs from the dataset's")
    if ds.file_meta.MediaStorageSOPInstanceUID != ds.SOPInstanceUID:
        problems.append("file meta SOP Instance differs from the dataset's")
    if ds.StudyInstanceUID not in studies:
        problems.append(f"study {ds.StudyInstanceUID} is not the input's")
    refs = []
    if cls in SR_CLASSES:
        kind = "SR"
        if ds.ConceptNameCodeSequence[0].CodeValue != "126000":
            problems.append("root concept is not Imaging Measurement Report (126000)")
        if ds.ContentTemplateSequence[0].TemplateIdentifier != "1500":
            problems.append("not TID 1500")
        for study in ds.CurrentRequestedProcedureEvidenceSequence:
            for series in study.ReferencedSeriesSequence:
                refs += series.ReferencedSOPSequence
        items = list(walk(ds.ContentSequence))
        lengths = [i for i in items if i.ValueType == "NUM" and i.ConceptNameCodeSequence[0].CodeValue == "410668003"]
        if not lengths or float(lengths[0].MeasuredValueSequence[0].NumericValue) <= 0:
            problems.append("no positive Length measurement")
        refs += [r for i in items if i.ValueType == "IMAGE" for r in i.ReferencedSOPSequence]
        detail = f"{len(items)} content items, length {lengths[0].MeasuredValueSequence[0].NumericValue if lengths else '?'}"
    elif cls == GSPS:
        kind = "GSPS"
        for series in ds.ReferencedSeriesSequence:
            refs += series.ReferencedImageSequence
        annotations = ds.GraphicAnnotationSequence
        for a in annotations:
            refs += a.ReferencedImageSequence
            if not getattr(a, "GraphicObjectSequence", None):
                problems.append("an annotation without graphics")
        detail = f"{len(annotations)} annotations"
    elif cls == SC:
        kind = "SC"
        if ds.pixel_array.size == 0:
            problems.append("no pixels")
        detail = f"{ds.Rows}x{ds.Columns}"
    else:
        return [f"unexpected SOP Class {cls}"]
    if not refs and kind != "SC":
        problems.append("references no image")
    for r in refs:
        if r.ReferencedSOPInstanceUID not in images:
            problems.append(f"references {r.ReferencedSOPInstanceUID}, not an input image")
        elif images[r.ReferencedSOPInstanceUID] != r.ReferencedSOPClassUID:
            problems.append(f"references {r.ReferencedSOPInstanceUID} with the wrong SOP Class")
    print(f"{path}: {kind} {cls}, {len(refs)} references resolve, {detail}" if not problems else f"{path}: {problems}")
    return problems


def main():
    images, studies = inputs(sys.argv[1])
    failed = False
    for path in sys.argv[2:]:
        if check(path, images, studies):
            failed = True
    sys.exit(1 if failed or len(sys.argv) < 3 else 0)


if __name__ == "__main__":
    main()

"""Handlers returning every result kind the mock server produces, one route each."""

import io
import sys

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from arterys_gateway import Gateway


def _datasets(dicom_instances):
    return [pydicom.dcmread(f) for f in dicom_instances]


def boxes(json_input, dicom_instances, input_hash):
    dcm = _datasets(dicom_instances)[0]
    return {
        "protocol_version": "1.0",
        "parts": [],
        "bounding_boxes_2d": [
            {"label": "finding", "SOPInstanceUID": dcm.SOPInstanceUID,
             "top_left": [5, 5], "bottom_right": [10, 10]}
        ],
    }, []


def mask_3d(json_input, dicom_instances, input_hash):
    ds = _datasets(dicom_instances)
    depth, rows, cols = len(ds), int(ds[0].Rows), int(ds[0].Columns)
    mask = np.zeros((depth, rows, cols), dtype=np.uint8)
    mask[:, rows // 4: rows // 2, cols // 4: cols // 2] = 255
    return {
        "protocol_version": "1.0",
        "parts": [{
            "label": "Segmentation #1",
            "binary_type": "probability_mask",
            "binary_data_shape": {"timepoints": 1, "depth": depth, "width": cols, "height": rows},
        }],
    }, [mask]


def _mask_2d(ds, binary_type, extra=None):
    rows, cols = int(ds.Rows), int(ds.Columns)
    mask = np.zeros((rows, cols), dtype=np.uint8)
    mask[rows // 4: rows // 2, cols // 4: cols // 2] = 200
    part = {
        "label": f"{binary_type} {ds.SOPInstanceUID}",
        "binary_type": binary_type,
        "binary_data_shape": {"width": cols, "height": rows},
        "dicom_image": {"SOPInstanceUID": ds.SOPInstanceUID, "frame_number": 1},
    }
    part.update(extra or {})
    return part, mask


def mask_2d(json_input, dicom_instances, input_hash):
    parts, masks = zip(*(_mask_2d(d, "probability_mask") for d in _datasets(dicom_instances)))
    return {"protocol_version": "1.0", "parts": list(parts)}, list(masks)


def heatmap(json_input, dicom_instances, input_hash):
    palette = {"type": "anchorpoints", "data": [
        {"threshold": 0.0, "color": [0, 0, 0, 0]},
        {"threshold": 1.0, "color": [255, 0, 0, 255]},
    ]}
    parts, masks = zip(
        *(_mask_2d(d, "heatmap", {"palette": "hot"}) for d in _datasets(dicom_instances))
    )
    return {
        "protocol_version": "1.0",
        "parts": list(parts),
        "palettes": {"hot": palette},
    }, [memoryview(m) if i == 0 else m for i, m in enumerate(masks)]


def classification(json_input, dicom_instances, input_hash):
    return {"protocol_version": "1.0", "parts": [],
            "study_ml_json": {"label": "normal", "probability": 0.93}}, []


def secondary_capture(json_input, dicom_instances, input_hash):
    src = _datasets(dicom_instances)[0]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sc = pydicom.Dataset()
    sc.file_meta = meta
    sc.SOPClassUID = SecondaryCaptureImageStorage
    sc.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    sc.StudyInstanceUID = src.StudyInstanceUID
    sc.SeriesInstanceUID = generate_uid()
    sc.PatientID = src.get("PatientID", "")
    sc.Modality = "OT"
    sc.Rows, sc.Columns = 64, 64
    sc.SamplesPerPixel = 1
    sc.PhotometricInterpretation = "MONOCHROME2"
    sc.BitsAllocated, sc.BitsStored, sc.HighBit, sc.PixelRepresentation = 8, 8, 7, 0
    sc.PixelData = np.arange(64 * 64, dtype=np.uint8).tobytes()
    out = io.BytesIO()
    sc.save_as(out, enforce_file_format=True)
    return {
        "protocol_version": "1.0",
        "parts": [{"label": "report", "binary_type": "dicom_secondary_capture",
                   "SeriesInstanceUID": sc.SeriesInstanceUID}],
    }, [out]


def typed(json_input, dicom_instances, input_hash, *, dicom=None, attachments=None):
    return {"protocol_version": "1.0", "parts": [], "study_ml_json": {
        "all": len(dicom_instances), "dicom": len(dicom), "attachments": [a.read().decode() for a in attachments],
    }}, []


if __name__ == "__main__":
    app = Gateway(__name__)
    for f in (boxes, mask_3d, mask_2d, heatmap, classification, secondary_capture, typed):
        app.add_inference_route("/" + f.__name__, f)
    app.add_inference_route("/", boxes)
    app.run(host="127.0.0.1", port=0)

#!/usr/bin/env python3
"""The windowed 3D pipeline in Python, for `bench windows`: what a vendor would write with NumPy
and onnxruntime, timed against a whole model-server request on the same study and model.

  make DIR SLICES SIZE   writes DIR/unet.onnx (an nnU-Net-like 3D U-Net with free batch and
                         spatial dimensions, random weights) and DIR/ct/*.dcm: a synthetic CT of
                         SLICES slices of SIZE x SIZE at 0.7 x 0.7 x 2.5 mm (pydicom)
  run DIR THREADS ROUNDS CONFIG [OUT]
                         reads DIR/ct into memory (not timed), then times ROUNDS runs of the
                         pipeline CONFIG (JSON: patch, overlap, batch, spacing, clip, mean, std,
                         pad_to_multiple) with onnxruntime on THREADS threads; prints one JSON line
                         {"ms": [...], "windows": N}; writes the last mask's bytes to OUT

The pipeline, step for step what model-server does, in float32: pydicom reads every file from
memory; HU = stored * slope + intercept; clip and z-score; resample to the target spacing
(linear, half-pixel aligned); pad to the patch and to pad_to_multiple; windows `batch` at a
time through onnxruntime; Gaussian-weighted fusion (sigma = patch / 8); softmax; channel 1
back to the original grid (linear); bytes of round(p * 255).
"""
import io
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# The window starts and the Gaussian are the pipeline's definition: the ones of the NumPy
# reference model-server is tested against (not written into model-server/tests' folder).
sys.path.insert(0, os.path.join(HERE, "..", "..", "model-server", "tests"))
sys.dont_write_bytecode = True
from windows_reference import gaussian, steps  # noqa: E402

SPACING = (2.5, 0.7, 0.7)  # z, y, x (mm)


def make(folder, slices, size):
    import onnx
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    import make_unet

    model, _ = make_unet.build("3d-window")
    onnx.save(model, os.path.join(folder, "unet.onnx"))
    ct = os.path.join(folder, "ct")
    os.makedirs(ct, exist_ok=True)
    y, x = np.meshgrid(np.arange(size) * SPACING[1], np.arange(size) * SPACING[2], indexing="ij")
    study, series = generate_uid(), generate_uid()
    centre = size * SPACING[1] / 2
    for k in range(slices):
        z = k * SPACING[0]
        r = ((z - slices * SPACING[0] / 2) / (slices * SPACING[0] / 2.2)) ** 2
        r = r + ((y - centre) / (centre * 0.8)) ** 2 + ((x - centre) / (centre * 0.7)) ** 2
        hu = np.where(r < 1, 40 + 30 * np.sin(x / 4), -1000.0)
        hu = np.where(r < 0.2, 300.0, hu)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality = "CT"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [0.0, 0.0, -z]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [SPACING[1], SPACING[2]]
        ds.SliceThickness = SPACING[0]
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.PixelData = np.round(hu + 1024).astype(np.uint16).tobytes()
        ds.save_as(os.path.join(ct, "%04d.dcm" % k), enforce_file_format=True)


def resize_axis(a, axis, m):
    """Linear resampling of one axis to m samples, voxel centres mapped by the sizes' ratio:
    the reference's, kept in float32 (the reference's float64 would double the memory)."""
    n = a.shape[axis]
    if n == m:
        return a
    pos = np.clip((np.arange(m, dtype=np.float32) + 0.5) * (n / m) - 0.5, 0, n - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    f = (pos - lo).astype(np.float32).reshape([-1 if i == axis else 1 for i in range(a.ndim)])
    return np.take(a, lo, axis=axis) * (1 - f) + np.take(a, hi, axis=axis) * f


def pipeline(files, session, cfg):
    import pydicom

    slices = [pydicom.dcmread(io.BytesIO(b)) for b in files]
    slices.sort(key=lambda s: float(s.ImagePositionPatient[2]))
    s0 = slices[0]
    slope, intercept = np.float32(s0.RescaleSlope), np.float32(s0.RescaleIntercept)
    v = np.stack([s.pixel_array for s in slices]).astype(np.float32) * slope + intercept
    zs = [float(s.ImagePositionPatient[2]) for s in slices]
    spacing = (abs(zs[-1] - zs[0]) / (len(zs) - 1), float(s0.PixelSpacing[0]), float(s0.PixelSpacing[1]))
    lo, hi = cfg["clip"]
    np.clip(v, lo, hi, out=v)
    v -= np.float32(cfg["mean"])
    v /= np.float32(cfg["std"])
    original = v.shape
    dims = [max(1, int(round(n * s / t))) for n, s, t in zip(v.shape, spacing, cfg["spacing"])]
    for axis in (1, 2, 0):
        v = resize_axis(v, axis, dims[axis])
    patch, multiple = cfg["patch"], cfg.get("pad_to_multiple") or 1
    padded = [int(np.ceil(max(d, p) / multiple)) * multiple for d, p in zip(dims, patch)]
    grid = np.zeros(padded, np.float32)
    grid[: dims[0], : dims[1], : dims[2]] = v
    del v
    weight = np.einsum("i,j,k->ijk", *[gaussian(p) for p in patch]).astype(np.float32)
    sums = np.zeros((2,) + tuple(padded), np.float32)
    weights = np.zeros(padded, np.float32)
    boxes = [
        (slice(z, z + patch[0]), slice(y, y + patch[1]), slice(x, x + patch[2]))
        for z in steps(padded[0], patch[0], cfg["overlap"])
        for y in steps(padded[1], patch[1], cfg["overlap"])
        for x in steps(padded[2], patch[2], cfg["overlap"])
    ]
    batch = cfg.get("batch", 1)
    for i in range(0, len(boxes), batch):
        chunk = boxes[i : i + batch]
        feed = np.stack([grid[b] for b in chunk])[:, None]
        out = session.run(["logits"], {"image": feed})[0]
        for box, o in zip(chunk, out):
            sums[(slice(None),) + box] += weight * o
            weights[box] += weight
    del grid
    fused = sums[:, : dims[0], : dims[1], : dims[2]] / weights[: dims[0], : dims[1], : dims[2]]
    del sums
    # Softmax of two channels: channel 1's probability.
    prob = 1 / (1 + np.exp(fused[0] - fused[1]))
    del fused
    for axis in (0, 1, 2):
        prob = resize_axis(prob, axis, original[axis])
    return np.round(prob * 255).astype(np.uint8).tobytes(), len(boxes)


def run(folder, threads, rounds, cfg, out=None):
    import onnxruntime as ort

    ct = os.path.join(folder, "ct")
    files = []
    for name in sorted(os.listdir(ct)):
        with open(os.path.join(ct, name), "rb") as f:
            files.append(f.read())
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(os.path.join(folder, "unet.onnx"), options, providers=["CPUExecutionProvider"])
    times, windows = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        mask, windows = pipeline(files, session, cfg)
        times.append((time.perf_counter() - started) * 1e3)
        assert len(mask) == len(files) * files_size(files[0])
    if out:
        with open(out, "wb") as f:
            f.write(mask)
    print(json.dumps({"ms": times, "windows": windows}))


def files_size(first):
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(first), stop_before_pixels=True)
    return int(ds.Rows) * int(ds.Columns)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "make":
        os.makedirs(sys.argv[2], exist_ok=True)
        make(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) in (6, 7) and sys.argv[1] == "run":
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5]), (sys.argv[6:] or [None])[0])
    else:
        sys.exit("usage: windows_pipeline.py make DIR SLICES SIZE | run DIR THREADS ROUNDS CONFIG [OUT]")


if __name__ == "__main__":
    main()

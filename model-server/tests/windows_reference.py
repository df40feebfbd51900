#!/usr/bin/env python3
"""A NumPy reference for model-server's windowed inference, written apart from the Rust code.

  make DIR                      writes DIR/model3d.onnx, DIR/model2d.onnx, DIR/fold{0,1,2}.onnx (fixed-weight
                                convolutions with free batch and spatial dimensions) and DIR/ct/*.dcm: a synthetic
                                anisotropic CT (0.7 x 0.7 x 2.5 mm, 40 slices of 96 x 96) made with pydicom
  reference DIR CONFIG OUT      reads DIR/ct with pydicom, runs the pipeline CONFIG (JSON) describes with
                                NumPy and onnxruntime, and writes the probability of channel 1 on the
                                original grid, [slices, rows, columns] float32 in slice order, to OUT

The pipeline, as nnU-Net and MONAI's SlidingWindowInferer define it:
  HU = stored * slope + intercept; clip to [lo, hi]; (v - mean) / std
  resample to the target spacing: round(n * spacing / target) voxels per axis, linear, voxel centres
    mapped by the ratio of the sizes (half-pixel aligned, clamped)
  pad with zeros at the far end to the patch and to a multiple of pad_to_multiple
  windows: n = ceil((size - patch) / (patch * (1 - overlap))) + 1 per axis, starts round(i * (size - patch) / (n - 1))
  weights: Gaussian per axis centred on the patch, sigma = patch / 8; mirrored copies with tta: mirror
  fused = sum(w * output) / sum(w); softmax over channels; back to the original grid linearly
"""
import json
import os
import sys

import numpy as np

SPACING = (2.5, 0.7, 0.7)  # z, y, x (mm)
SHAPE = (40, 96, 96)


def conv_model(path, rank, seed=7):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    k = (3,) * rank
    w = rng.normal(0.0, 0.6, size=(2, 1) + k).astype(np.float32)
    b = np.array([0.3, -0.2], np.float32)
    free = ["N", 1] + ["S%d" % i for i in range(rank)]
    out = ["N", 2] + ["S%d" % i for i in range(rank)]
    conv = helper.make_node("Conv", ["image", "w", "b"], ["logits"], pads=[1] * (2 * rank), kernel_shape=list(k))
    graph = helper.make_graph(
        [conv],
        "windows",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, free)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, out)],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="arterys-gateway")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def make_ct(folder):
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    os.makedirs(folder, exist_ok=True)
    d, h, w = SHAPE
    z, y, x = np.meshgrid(np.arange(d) * SPACING[0], np.arange(h) * SPACING[1], np.arange(w) * SPACING[2], indexing="ij")
    # An ellipsoid of soft tissue with a denser core and a gradient, in air.
    r = ((z - 50) / 45) ** 2 + ((y - 34) / 26) ** 2 + ((x - 30) / 22) ** 2
    hu = np.where(r < 1, 40 + 30 * np.sin(x / 4) + 15 * y / 10, -1000.0)
    hu = np.where(r < 0.25, 300.0, hu)
    stored = np.round(hu + 1024).astype(np.uint16)
    study, series = generate_uid(), generate_uid()
    for k in range(d):
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
        ds.ImagePositionPatient = [0.0, 0.0, -k * SPACING[0]]  # slices written top down
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [SPACING[1], SPACING[2]]
        ds.SliceThickness = SPACING[0]
        ds.Rows, ds.Columns = h, w
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        # Slice k of the file set holds z index d-1-k, so sorting along the normal matters.
        ds.PixelData = stored[d - 1 - k].tobytes()
        ds.save_as(os.path.join(folder, "%03d.dcm" % k), enforce_file_format=True)


def read_ct(folder):
    import pydicom

    slices = [pydicom.dcmread(os.path.join(folder, f)) for f in sorted(os.listdir(folder))]
    slices.sort(key=lambda s: float(s.ImagePositionPatient[2]))
    hu = np.stack([s.pixel_array.astype(np.float64) * float(s.RescaleSlope) + float(s.RescaleIntercept) for s in slices])
    zs = [float(s.ImagePositionPatient[2]) for s in slices]
    dz = abs(zs[-1] - zs[0]) / (len(zs) - 1)
    return hu, (dz, float(slices[0].PixelSpacing[0]), float(slices[0].PixelSpacing[1]))


def resize_axis(a, axis, m):
    n = a.shape[axis]
    if n == m:
        return a
    pos = np.clip((np.arange(m) + 0.5) * n / m - 0.5, 0, n - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    f = (pos - lo).reshape([-1 if i == axis else 1 for i in range(a.ndim)])
    return np.take(a, lo, axis=axis) * (1 - f) + np.take(a, hi, axis=axis) * f


def steps(size, patch, overlap):
    if size <= patch:
        return [0]
    n = int(np.ceil((size - patch) / max(patch * (1 - overlap), 1.0))) + 1
    return [int(round(i * (size - patch) / (n - 1))) for i in range(n)]


def gaussian(p):
    i = np.arange(p)
    return np.exp(-((i - (p - 1) / 2) ** 2) / (2 * (p / 8) ** 2))


def reference(folder, cfg):
    import onnxruntime as ort

    volume3d = len(cfg["patch"]) == 3
    hu, spacing = read_ct(os.path.join(folder, "ct"))
    lo, hi = cfg["clip"]
    v = (np.clip(hu, lo, hi) - cfg["mean"]) / cfg["std"]
    original = v.shape
    target = cfg["spacing"]
    if volume3d:
        dims = [max(1, int(round(n * s / t))) for n, s, t in zip(v.shape, spacing, target)]
        for axis in range(3):
            v = resize_axis(v, axis, dims[axis])
    else:
        dims = [v.shape[0]] + [max(1, int(round(n * s / t))) for n, s, t in zip(v.shape[1:], spacing[1:], target[1:])]
        for axis in (1, 2):
            v = resize_axis(v, axis, dims[axis])
    patch = cfg["patch"] if volume3d else [1] + cfg["patch"]
    multiple = cfg.get("pad_to_multiple") or 1
    padded = []
    for a in range(3):
        n = max(dims[a], patch[a])
        padded.append(n if (a == 0 and not volume3d) else int(np.ceil(n / multiple)) * multiple)
    grid = np.zeros(padded)
    grid[: dims[0], : dims[1], : dims[2]] = v
    session = ort.InferenceSession(os.path.join(folder, "model3d.onnx" if volume3d else "model2d.onnx"))
    weight = np.einsum("i,j,k->ijk", *[gaussian(p) for p in patch])
    axes = (0, 1, 2) if volume3d else (1, 2)
    flips = [()]
    if cfg.get("tta") == "mirror":
        flips = [tuple(a for i, a in enumerate(axes) if bits >> i & 1) for bits in range(1 << len(axes))]
    sums = np.zeros((2,) + tuple(padded))
    weights = np.zeros(padded)
    starts = [steps(padded[a], patch[a], cfg["overlap"]) for a in range(3)]
    for z in starts[0]:
        for y in starts[1]:
            for x in starts[2]:
                box = (slice(z, z + patch[0]), slice(y, y + patch[1]), slice(x, x + patch[2]))
                for flip in flips:
                    p = np.flip(grid[box], flip) if flip else grid[box]
                    feed = p[None, None] if volume3d else p[0][None, None]
                    out = session.run(["logits"], {"image": feed.astype(np.float32)})[0][0].astype(np.float64)
                    out = out if volume3d else out[:, None]
                    out = np.flip(out, tuple(a + 1 for a in flip)) if flip else out
                    sums[(slice(None),) + box] += weight * out
                    weights[box] += weight
    fused = (sums / weights)[:, : dims[0], : dims[1], : dims[2]]
    e = np.exp(fused - fused.max(axis=0))
    prob = (e / e.sum(axis=0))[1]
    for axis in range(3):
        prob = resize_axis(prob, axis, original[axis])
    return prob.astype(np.float32)


def main():
    if sys.argv[1] == "make":
        folder = sys.argv[2]
        os.makedirs(folder, exist_ok=True)
        conv_model(os.path.join(folder, "model3d.onnx"), 3)
        conv_model(os.path.join(folder, "model2d.onnx"), 2)
        make_ct(os.path.join(folder, "ct"))
        for fold in range(3):
            conv_model(os.path.join(folder, "fold%d.onnx" % fold), 2, seed=11 + fold)
    elif sys.argv[1] == "reference":
        folder, cfg, out = sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
        reference(folder, cfg).tofile(out)
    else:
        sys.exit("usage: windows_reference.py make DIR | reference DIR CONFIG OUT")


if __name__ == "__main__":
    main()

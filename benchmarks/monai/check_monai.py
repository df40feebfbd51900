#!/usr/bin/env python3
"""Checks model-server's windowed inference against MONAI by hand (torch is too large for CI).

  check_monai.py DIR --server target/debug/model-server     starts the binary on a free port
  check_monai.py DIR --url http://127.0.0.1:8000             a server already serving --print-config's routes
  check_monai.py DIR --print-config                          the config (routes /plain and /tta) and exit

DIR is made by `model-server/tests/windows_reference.py make DIR` (made here when it lacks
model3d.onnx): a free-dims 3D convolution and a synthetic CT of 40 slices of 96 x 96 at
0.7 x 0.7 x 2.5 mm. The pipeline is tests/windows.rs's VOLUME: clip [-200, 400], (v - 50) / 150,
spacing 1.5 mm, pad to a multiple of 8, patch [16, 32, 32], overlap 0.5, Gaussian weights, softmax,
channel 1 back on the original grid; without TTA (/plain) and with mirror TTA (/tta).

MONAI computes the same probability two ways, since its resampling convention differs from
model-server's (half-pixel aligned, round(n * spacing / target) voxels):
  Spacing   monai.transforms.Spacing (corner aligned: voxel 0 stays put, exactly 1.5 mm apart,
            round((n - 1) * spacing / target) + 1 voxels); back with SpatialResample
  Resize    monai.transforms.Resize to model-server's size, trilinear, align_corners=False (half
            pixel, as model-server); back with Resize
and Resize once more with model-server's Gaussian passed as the inferer's weight map, which
isolates MONAI's importance-map clamp. Prints the largest and mean absolute difference per voxel
of each against model-server's probability mask (uint8, 1/255 steps) and the NumPy reference.

Needs torch, monai, numpy, onnxruntime, onnx, pydicom (see README.md for the venv) and, with
--server, ORT_DYLIB_PATH for model-server's onnxruntime engine (or --engine tract).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(HERE, "..", "..", "model-server", "tests")

PATCH = (16, 32, 32)
OVERLAP = 0.5
BATCH = 2
TARGET = (1.5, 1.5, 1.5)
CLIP, MEAN, STD = (-200.0, 400.0), 50.0, 150.0
MULTIPLE = 8

# tests/windows.rs's VOLUME, one route per TTA setting.
ROUTE = """  - route: /{name}
    model: {model}
    engine: {engine}
    input: {{layout: NCDHW, patch: [16, 32, 32], overlap: 0.5, batch: 2{tta}}}
    preprocess:
      spacing: [1.5, 1.5, 1.5]
      normalize: {{clip: [-200, 400], mean: 50, std: 150}}
      pad_to_multiple: 8
    outputs:
      - {{name: logits, kind: probability_mask, activation: softmax, channel: 1}}
"""


def config(folder, engine):
    model = os.path.abspath(os.path.join(folder, "model3d.onnx"))
    routes = [
        ROUTE.format(name=n, model=model, engine=engine, tta=t) for n, t in (("plain", ""), ("tta", ", tta: mirror"))
    ]
    return "models:\n" + "".join(routes)


def read_series(folder):
    """HU [slices, rows, columns] sorted along the slice normal, and the spacing (z, y, x) in mm."""
    import pydicom

    slices = [pydicom.dcmread(os.path.join(folder, f)) for f in sorted(os.listdir(folder))]
    iop = np.array(slices[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    slices.sort(key=lambda s: float(np.dot(normal, np.array(s.ImagePositionPatient, float))))
    positions = [float(np.dot(normal, np.array(s.ImagePositionPatient, float))) for s in slices]
    hu = np.stack([s.pixel_array * float(s.RescaleSlope) + float(s.RescaleIntercept) for s in slices])
    dz = (positions[-1] - positions[0]) / (len(slices) - 1)
    return hu.astype(np.float32), (dz, float(slices[0].PixelSpacing[0]), float(slices[0].PixelSpacing[1]))


def server_gaussian():
    """model-server's weights (sliding.rs): exp(-(i - c)^2 / 2 sigma^2), c = (p - 1) / 2, sigma = p / 8,
    not clamped."""
    axes = []
    for p in PATCH:
        i = np.arange(p)
        axes.append(np.exp(-((i - (p - 1) / 2) ** 2) / (2 * (p / 8) ** 2)))
    return np.einsum("i,j,k->ijk", *axes).astype(np.float32)


def plain(t):
    """A MetaTensor's data without its metadata (which would carry the padded grid's affine along)."""
    from monai.data import MetaTensor

    return t.as_tensor() if isinstance(t, MetaTensor) else t


def monai_probability(folder, tta, resampling, weights=None):
    """Channel 1's probability on the original grid [D, H, W] with MONAI; also the size at the
    model's spacing."""
    import onnxruntime as ort
    import torch
    from monai.data import MetaTensor
    from monai.inferers import SlidingWindowInferer
    from monai.transforms import DivisiblePad, NormalizeIntensity, Resize, Spacing, SpatialPad, SpatialResample

    hu, spacing = read_series(os.path.join(folder, "ct"))
    original = hu.shape
    v = NormalizeIntensity(subtrahend=MEAN, divisor=STD)(torch.clamp(torch.from_numpy(hu), *CLIP))
    affine = torch.diag(torch.tensor(list(spacing) + [1.0], dtype=torch.float64))
    image = MetaTensor(plain(v)[None], affine=affine)
    if resampling == "spacing":
        spaced = Spacing(pixdim=TARGET, mode="bilinear", padding_mode="border", align_corners=False)(image)
    else:
        dims = [max(1, int(round(n * s / t))) for n, s, t in zip(original, spacing, TARGET)]
        spaced = Resize(spatial_size=dims, mode="trilinear", align_corners=False)(image)
    dims = tuple(spaced.shape[1:])
    padded = DivisiblePad(k=MULTIPLE, method="end")(SpatialPad(spatial_size=PATCH, method="end")(spaced))

    session = ort.InferenceSession(os.path.join(folder, "model3d.onnx"), providers=["CPUExecutionProvider"])

    def run(x):
        out = session.run(["logits"], {"image": np.ascontiguousarray(plain(x).numpy(), np.float32)})[0]
        return torch.from_numpy(out)

    # model-server adds each mirrored window's logits, mirrored back, into the same weighted sums
    # as the window itself: the mean of the flips' logits per window, fused, then the softmax.
    flips = [tuple(a + 2 for a in range(3) if bits >> a & 1) for bits in range(8)] if tta else [()]

    def predictor(x):
        x = plain(x)
        return sum(torch.flip(run(torch.flip(x, f)), f) if f else run(x) for f in flips) / len(flips)

    inferer = SlidingWindowInferer(
        roi_size=PATCH, sw_batch_size=BATCH, overlap=OVERLAP, mode="gaussian", sigma_scale=0.125,
        padding_mode="constant",
    )
    if weights is not None:
        inferer.roi_weight_map = torch.from_numpy(weights)
    with torch.no_grad():
        logits = plain(inferer(plain(padded)[None], predictor))[0]
    logits = logits[:, : dims[0], : dims[1], : dims[2]]
    prob = torch.softmax(logits.float(), dim=0)[1:2]
    if resampling == "spacing":
        back = SpatialResample(mode="bilinear", padding_mode="border", align_corners=False)(
            MetaTensor(prob, affine=spaced.affine), dst_affine=affine, spatial_size=original
        )
    else:
        back = Resize(spatial_size=original, mode="trilinear", align_corners=False)(prob)
    return plain(back)[0].numpy().astype(np.float32), dims


def monai_starts(size):
    from monai.data.utils import dense_patch_slices
    from monai.inferers.utils import _get_scan_interval

    interval = _get_scan_interval(size, PATCH, 3, (OVERLAP,) * 3)
    slices = dense_patch_slices(size, PATCH, interval)
    return [sorted({int(s[a].start) for s in slices}) for a in range(3)]


def server_starts(size):
    """sliding.rs's starts: windows spread evenly (nnU-Net)."""
    out = []
    for n, p in zip(size, PATCH):
        if n <= p:
            out.append([0])
            continue
        k = int(np.ceil((n - p) / max(p * (1 - OVERLAP), 1.0))) + 1
        out.append([int(round(i * (n - p) / (k - 1))) for i in range(k)])
    return out


def study_parts(folder):
    return [open(os.path.join(folder, f), "rb").read() for f in sorted(os.listdir(folder))]


def infer(url, route, parts):
    """POSTs the study as multipart/related (the protocol's request) and returns the probability
    mask [depth, height, width] as floats."""
    boundary = "check-monai-%d" % os.getpid()
    chunks = [b"--%s\r\nContent-Type: application/json\r\n\r\n{}\r\n" % boundary.encode()]
    for p in parts:
        chunks += [b"--%s\r\nContent-Type: application/dicom\r\n\r\n" % boundary.encode(), p, b"\r\n"]
    chunks.append(b"--%s--\r\n" % boundary.encode())
    req = urllib.request.Request(
        url.rstrip("/") + route,
        data=b"".join(chunks),
        headers={"Content-Type": "multipart/related; boundary=%s" % boundary},
    )
    with urllib.request.urlopen(req, timeout=600) as resp:
        ctype, body = resp.headers["Content-Type"], resp.read()
    answer_boundary = re.search(r'boundary="?([^";]+)"?', ctype).group(1).encode()
    answer = []
    for chunk in body.split(b"--" + answer_boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.partition(b"\r\n\r\n")
        answer.append(data[:-2] if data.endswith(b"\r\n") else data)
    meta = json.loads(answer[0])
    for k, part in enumerate(meta["parts"]):
        if part["binary_type"] == "probability_mask":
            s = part["binary_data_shape"]
            mask = np.frombuffer(answer[1 + k], np.uint8).reshape(s["depth"], s["height"], s["width"])
            return mask.astype(np.float32) / 255.0
    raise SystemExit("no probability_mask in the answer: %s" % answer[0][:500])


def start_server(binary, cfg, log):
    out = open(log, "w")
    args = [binary, "--config", cfg, "--host", "127.0.0.1", "--port", "0"]
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("model-server exited (%s): %s" % (proc.returncode, open(log).read()[-3000:]))
        m = re.search(r"READY on (http://[0-9.]+:\d+)", open(log, errors="replace").read())
        if m:
            return proc, m.group(1)
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("model-server not READY within 300 s: %s" % open(log).read()[-3000:])


def diff(a, b):
    """Largest and mean absolute difference, the share of voxels more than 0.01 apart (2.55 mask
    steps), and the share on the same side of 0.5."""
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    agree = np.mean((a >= 0.5) == (b >= 0.5))
    return "%.4f  %.5f  %5.2f%%  %6.2f%%" % (d.max(), d.mean(), 100 * np.mean(d > 0.01), 100 * agree)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="made by windows_reference.py make (made here if it lacks model3d.onnx)")
    how = ap.add_mutually_exclusive_group(required=True)
    how.add_argument("--server", help="the model-server binary, started on a free port and stopped at the end")
    how.add_argument("--url", help="a model-server already serving --print-config's routes")
    how.add_argument("--print-config", action="store_true", help="print the server config and exit")
    ap.add_argument("--engine", default="onnxruntime", choices=["onnxruntime", "tract"], help="model-server's engine")
    args = ap.parse_args()

    # The reference is imported from the tests' folder; leave no bytecode there.
    sys.dont_write_bytecode = True
    sys.path.insert(0, TESTS)
    import windows_reference

    if not os.path.exists(os.path.join(args.dir, "model3d.onnx")):
        os.makedirs(args.dir, exist_ok=True)
        windows_reference.conv_model(os.path.join(args.dir, "model3d.onnx"), 3)
        windows_reference.make_ct(os.path.join(args.dir, "ct"))
    if args.print_config:
        print(config(args.dir, args.engine), end="")
        return

    import monai
    import onnxruntime
    import torch

    versions = (torch.__version__, monai.__version__, onnxruntime.__version__, np.__version__)
    print("torch %s, monai %s, onnxruntime %s, numpy %s" % versions)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))

    proc = None
    url = args.url
    if args.server:
        cfg = os.path.join(args.dir, "check_monai.yaml")
        with open(cfg, "w") as f:
            f.write(config(args.dir, args.engine))
        proc, url = start_server(args.server, cfg, os.path.join(args.dir, "check_monai.log"))
    try:
        parts = study_parts(os.path.join(args.dir, "ct"))
        served = {tta: infer(url, "/tta" if tta else "/plain", parts) for tta in (False, True)}
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)

    json_cfg = {"patch": list(PATCH), "spacing": list(TARGET), "clip": list(CLIP), "mean": MEAN, "std": STD}
    json_cfg.update(overlap=OVERLAP, pad_to_multiple=MULTIPLE)
    rows = {}
    for tta in (False, True):
        cfg = dict(json_cfg, **({"tta": "mirror"} if tta else {}))
        ref = windows_reference.reference(args.dir, cfg)
        spacing, dims_spacing = monai_probability(args.dir, tta, "spacing")
        resize, dims_resize = monai_probability(args.dir, tta, "resize")
        matched, _ = monai_probability(args.dir, tta, "resize", weights=server_gaussian())
        spacing_matched, _ = monai_probability(args.dir, tta, "spacing", weights=server_gaussian())
        ms = served[tta]
        shapes = (ms.shape, ref.shape, spacing.shape, resize.shape)
        assert len(set(shapes)) == 1, shapes
        rows[tta] = [
            ("model-server vs NumPy reference", diff(ms, ref)),
            ("model-server vs MONAI Resize (half pixel)", diff(ms, resize)),
            ("model-server vs MONAI Resize, server's Gaussian", diff(ms, matched)),
            ("model-server vs MONAI Spacing (corner aligned)", diff(ms, spacing)),
            ("model-server vs MONAI Spacing, server's Gaussian", diff(ms, spacing_matched)),
            ("NumPy reference vs MONAI Resize (floats)", diff(ref, resize)),
            ("NumPy reference vs MONAI Resize, server's Gaussian", diff(ref, matched)),
            ("MONAI Spacing vs MONAI Resize (floats)", diff(spacing, resize)),
        ]

    pad = lambda d: [int(np.ceil(max(n, p) / MULTIPLE)) * MULTIPLE for n, p in zip(d, PATCH)]
    print("original grid %s; at 1.5 mm: Resize %s (padded %s), Spacing %s (padded %s)" % (
        list(ms.shape), list(dims_resize), pad(dims_resize), list(dims_spacing), pad(dims_spacing)))
    for name, dims in (("Resize", dims_resize), ("Spacing", dims_spacing)):
        starts = (name, monai_starts(pad(dims)), server_starts(pad(dims)))
        print("window starts on the %s grid: MONAI %s, model-server %s" % starts)
    print(compute_weights_note())
    print()
    print("%-52s %-34s %s" % ("probability of channel 1, original grid", "no TTA", "mirror TTA"))
    head = "max     mean     >0.01   >=0.5 same"
    print("%-52s %-34s %s" % ("", head, head))
    for (name, a), (_, b) in zip(rows[False], rows[True]):
        print("%-52s %-34s %s" % (name, a, b))


def compute_weights_note():
    """How MONAI's importance map differs from model-server's on this patch."""
    from monai.data.utils import compute_importance_map

    monai_map = compute_importance_map(PATCH, mode="gaussian", sigma_scale=0.125).numpy()
    ours = server_gaussian()
    clamped = np.mean(ours < monai_map.min() - 1e-9)
    return "importance map: MONAI clamps weights below %.0e (%.1f%% of a patch's voxels); " \
        "largest difference from model-server's %.1e" % (monai_map.min(), 100 * clamped, np.abs(monai_map - ours).max())


if __name__ == "__main__":
    main()

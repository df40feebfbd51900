#!/usr/bin/env python3
"""Builds the demo model `demo_body.onnx` and its reference fixture.

The model is a small fixed-weight network (no training) that finds body / bright tissue in a
slice scaled to 0..1:

  image [N,1,H,W] (any size: the network is fully convolutional; the config picks 256x256)
    -> Conv 1->4 (5x5 smoothing kernels of different widths, bias -0.15) -> Relu
    -> Conv 4->1 (1x1, weights 10,10,5,5, bias -4) -> Sigmoid      = "probability" [N,1,H,W]
    -> GlobalAveragePool -> Flatten -> Gemm (2 classes)             = "class_logits" [N,2]
  and the same as two-class per-pixel logits (background, body)     = "tissue_logits" [N,2,H,W]

`demo_volume.onnx` is the volume counterpart for NCDHW configs: image [1,1,D,H,W] -> Conv3d
(3x3x3 box blur, bias -0.15) -> x30 -> -4 -> Sigmoid = "probability" [1,1,D,H,W].

Air (0) gives sigmoid(-4) = 0.02, soft tissue (0.3 and up) 0.6 to 1.0. Class 1 ("Body") wins
when more than 12% of the slice is body.

The fixture: a deterministic 64x64 input (a disc of tissue with noise, 2 slices) and the outputs
onnxruntime computes for it, as little-endian float32 files with their shapes in
fixture.json. The Rust test runs the same input through tract and compares (1e-4).

Run:  python3 -m pip install onnx onnxruntime numpy && python3 make_demo_model.py
"""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = 64


def box(k, width):
    """A width x width box blur centred in a k x k kernel."""
    w = np.zeros((k, k), np.float32)
    o = (k - width) // 2
    w[o:o + width, o:o + width] = 1.0 / (width * width)
    return w


def finish(graph):
    """A checked opset-13 model of `graph`."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="arterys-gateway")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def build():
    k1 = np.stack([box(5, 5), box(5, 3), box(5, 1), box(5, 5) * 0.5 + box(5, 1) * 0.5])[:, None]  # [4,1,5,5]
    b1 = np.full(4, -0.15, np.float32)
    k2 = np.array([10, 10, 5, 5], np.float32).reshape(1, 4, 1, 1)
    b2 = np.array([-4.0], np.float32)
    # Mean body fraction m in 0..1: logits = [-8 (m - 0.12), 8 (m - 0.12)].
    gw = np.array([[-8.0, 8.0]], np.float32)  # [1,2]
    gb = np.array([0.96, -0.96], np.float32)
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for a, n in
             [(k1, "k1"), (b1, "b1"), (k2, "k2"), (b2, "b2"), (gw, "gw"), (gb, "gb")]]
    nodes = [
        helper.make_node("Conv", ["image", "k1", "b1"], ["c1"], pads=[2, 2, 2, 2], kernel_shape=[5, 5]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "k2", "b2"], ["c2"], kernel_shape=[1, 1]),
        helper.make_node("Sigmoid", ["c2"], ["probability"]),
        helper.make_node("Neg", ["c2"], ["neg"]),
        helper.make_node("Concat", ["neg", "c2"], ["tissue_logits"], axis=1),
        helper.make_node("GlobalAveragePool", ["probability"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "gw", "gb"], ["class_logits"]),
    ]
    return finish(helper.make_graph(
        nodes,
        "demo_body",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [
            helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 1, "H", "W"]),
            helper.make_tensor_value_info("class_logits", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("tissue_logits", TensorProto.FLOAT, ["N", 2, "H", "W"]),
        ],
        inits,
    ))


def build_volume():
    k = np.full((1, 1, 3, 3, 3), 1.0 / 27, np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in [
        (k, "k"), (np.array([-0.15], np.float32), "b"), (np.array(30.0, np.float32), "gain"), (np.array(-4.0, np.float32), "shift")]]
    nodes = [
        helper.make_node("Conv", ["volume", "k", "b"], ["c"], pads=[1, 1, 1, 1, 1, 1], kernel_shape=[3, 3, 3]),
        helper.make_node("Mul", ["c", "gain"], ["g"]),
        helper.make_node("Add", ["g", "shift"], ["s"]),
        helper.make_node("Sigmoid", ["s"], ["probability"]),
    ]
    return finish(helper.make_graph(
        nodes, "demo_volume",
        [helper.make_tensor_value_info("volume", TensorProto.FLOAT, [1, 1, "D", "H", "W"])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, [1, 1, "D", "H", "W"])],
        inits,
    ))


def fixture_input():
    rng = np.random.default_rng(20261121)
    y, x = np.mgrid[0:FIXTURE, 0:FIXTURE]
    d = np.sqrt((y - FIXTURE / 2) ** 2 + (x - FIXTURE / 2) ** 2)
    slices = []
    for r in (24, 10):
        img = np.where(d < r, 0.55, 0.02) + np.where(d < r / 3, 0.3, 0.0)
        img = img + rng.normal(0, 0.03, img.shape)
        slices.append(np.clip(img, 0, 1))
    return np.stack(slices)[:, None].astype(np.float32)  # [2,1,64,64]


def main():
    model = build()
    path = os.path.join(HERE, "demo_body.onnx")
    onnx.save(model, path)
    onnx.save(build_volume(), os.path.join(HERE, "demo_volume.onnx"))
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    inp = fixture_input()
    prob, logits = sess.run(["probability", "class_logits"], {"image": inp})
    fx = os.path.join(HERE, "fixture")
    os.makedirs(fx, exist_ok=True)
    for name, arr in [("input", inp), ("probability", prob), ("class_logits", logits)]:
        arr.astype("<f4").tofile(os.path.join(fx, f"{name}.f32"))
    meta = {
        "input": list(inp.shape),
        "probability": list(prob.shape),
        "class_logits": list(logits.shape),
        "onnxruntime": ort.__version__,
        "onnx": onnx.__version__,
    }
    with open(os.path.join(fx, "fixture.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes) and fixture/ (prob mean {prob.mean():.3f}, logits {logits.tolist()})")


if __name__ == "__main__":
    main()

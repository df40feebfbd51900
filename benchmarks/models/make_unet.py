#!/usr/bin/env python3
"""Generates nnU-Net-like 2D and 3D U-Nets with random weights for the model benchmark.

Each stage is two conv-instancenorm-leakyrelu blocks (3x3 or 3x3x3 kernels); the encoder halves
the resolution with a stride-2 convolution at each new stage, the decoder doubles it with a
transposed convolution, concatenates the skip connection and runs two blocks; a 1x1 convolution
gives the class logits. Speed does not depend on the weights, so they are random (seeded).

  2d: 5 stages of 32, 64, 128, 256, 512 features (about 7.8M parameters), input [N,1,256,256]
  3d: 5 stages of 16, 32, 64, 128, 256 features, input [1,1,32,128,128]
  2d-batch4: the 2d U-Net (same weights) with its batch dimension fixed at 4
  3d-window: 4 stages of 8, 16, 32, 64 features, input [N,1,D,H,W] (windows of a sliding-window
     run, several per batch; `bench windows`)

Run:  python3 make_unet.py 2d OUT.onnx   (or 2d-batch4, 3d, 3d-window)
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FEATURES = {"2d": [32, 64, 128, 256, 512], "2d-batch4": [32, 64, 128, 256, 512], "3d": [16, 32, 64, 128, 256], "3d-window": [8, 16, 32, 64]}
CLASSES = 2


class Builder:
    def __init__(self, dims):
        self.dims = dims
        self.nodes = []
        self.inits = []
        self.params = 0
        self.rng = np.random.default_rng(13)
        self.n = 0

    def name(self, prefix):
        self.n += 1
        return f"{prefix}{self.n}"

    def weight(self, prefix, shape, scale):
        name = self.name(prefix)
        array = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        self.inits.append(numpy_helper.from_array(array, name))
        self.params += array.size
        return name

    def const(self, prefix, value):
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(value.astype(np.float32), name))
        self.params += value.size
        return name

    def conv(self, x, cin, cout, kernel, stride=1):
        k = [kernel] * self.dims
        fan_in = cin * kernel**self.dims
        w = self.weight("w", [cout, cin] + k, np.sqrt(2.0 / fan_in))
        b = self.const("b", np.zeros(cout))
        pad = kernel // 2
        out = self.name("conv")
        self.nodes.append(helper.make_node(
            "Conv", [x, w, b], [out], kernel_shape=k, strides=[stride] * self.dims, pads=[pad] * (2 * self.dims)))
        return out

    def block(self, x, cin, cout, stride=1):
        """conv -> instance norm -> leaky relu, as nnU-Net stacks them."""
        c = self.conv(x, cin, cout, 3, stride)
        scale = self.const("s", np.ones(cout))
        bias = self.const("t", np.zeros(cout))
        norm = self.name("norm")
        self.nodes.append(helper.make_node("InstanceNormalization", [c, scale, bias], [norm], epsilon=1e-5))
        act = self.name("act")
        self.nodes.append(helper.make_node("LeakyRelu", [norm], [act], alpha=0.01))
        return act

    def up(self, x, cin, cout):
        k = [2] * self.dims
        w = self.weight("u", [cin, cout] + k, np.sqrt(1.0 / cin))
        out = self.name("up")
        self.nodes.append(helper.make_node("ConvTranspose", [x, w], [out], kernel_shape=k, strides=k))
        return out

    def concat(self, a, b):
        out = self.name("cat")
        self.nodes.append(helper.make_node("Concat", [a, b], [out], axis=1))
        return out


def build(kind):
    features = FEATURES[kind]
    dims = 2 if kind.startswith("2d") else 3
    g = Builder(dims)
    x, cin, skips = "image", 1, []
    for i, f in enumerate(features):
        x = g.block(x, cin, f, stride=1 if i == 0 else 2)
        x = g.block(x, f, f)
        cin = f
        skips.append((x, f))
    for skip, f in reversed(skips[:-1]):
        x = g.up(x, cin, f)
        x = g.concat(x, skip)
        x = g.block(x, 2 * f, f)
        x = g.block(x, f, f)
        cin = f
    logits = g.conv(x, cin, CLASSES, 1)
    g.nodes.append(helper.make_node("Identity", [logits], ["logits"]))
    if kind == "2d-batch4":
        shape_in, shape_out = [4, 1, "H", "W"], [4, CLASSES, "H", "W"]
    elif dims == 2:
        shape_in, shape_out = ["N", 1, "H", "W"], ["N", CLASSES, "H", "W"]
    elif kind == "3d-window":
        shape_in, shape_out = ["N", 1, "D", "H", "W"], ["N", CLASSES, "D", "H", "W"]
    else:
        shape_in, shape_out = [1, 1, "D", "H", "W"], [1, CLASSES, "D", "H", "W"]
    graph = helper.make_graph(
        g.nodes, f"unet_{kind}",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape_in)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, shape_out)],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="arterys-gateway")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, g.params


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in FEATURES:
        sys.exit("usage: make_unet.py 2d|2d-batch4|3d|3d-window OUT.onnx")
    model, params = build(sys.argv[1])
    onnx.save(model, sys.argv[2])
    print(f"{sys.argv[2]}: {params} parameters")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Builds the small models the start-up checks are tested with (each under 1 kB).

  float16.onnx   image float16 [N,1,H,W] -> probability float16         (a dtype model-server cannot feed)
  uint8.onnx     image uint8 [N,1,H,W]   -> probability float32 (Cast)  (likewise)
  two_inputs.onnx image + spacing        -> probability                 (one image input only)
  fixed.onnx     image float32 [1,1,32,32] -> probability [1,1,32,32]   (batch and size fixed)
  int_output.onnx image float32          -> labels int64 [N,1,H,W]      (an output it cannot read)

Run:  python3 -m pip install onnx && python3 make_test_models.py
"""
import os

import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))


def save(name, nodes, inputs, outputs):
    graph = helper.make_graph(nodes, name, inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="arterys-gateway")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, f"{name}.onnx"))


def vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def main():
    free = ["N", 1, "H", "W"]
    save("float16", [helper.make_node("Sigmoid", ["image"], ["probability"])],
         [vi("image", TensorProto.FLOAT16, free)], [vi("probability", TensorProto.FLOAT16, free)])
    save("uint8", [helper.make_node("Cast", ["image"], ["probability"], to=TensorProto.FLOAT)],
         [vi("image", TensorProto.UINT8, free)], [vi("probability", TensorProto.FLOAT, free)])
    save("two_inputs", [helper.make_node("Mul", ["image", "spacing"], ["probability"])],
         [vi("image", TensorProto.FLOAT, free), vi("spacing", TensorProto.FLOAT, [1])],
         [vi("probability", TensorProto.FLOAT, free)])
    save("fixed", [helper.make_node("Sigmoid", ["image"], ["probability"])],
         [vi("image", TensorProto.FLOAT, [1, 1, 32, 32])], [vi("probability", TensorProto.FLOAT, [1, 1, 32, 32])])
    save("int_output", [helper.make_node("Cast", ["image"], ["labels"], to=TensorProto.INT64)],
         [vi("image", TensorProto.FLOAT, free)], [vi("labels", TensorProto.INT64, free)])
    print("wrote", sorted(f for f in os.listdir(HERE) if f.endswith(".onnx")))


if __name__ == "__main__":
    main()

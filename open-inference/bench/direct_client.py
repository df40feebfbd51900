#!/usr/bin/env python3
"""Time inference calls through Triton's own Python HTTP client (`tritonclient[http]`).

The baseline for `arterys-open-inference`: the same tensors, sent with the binary
tensor data extension, to the same Open Inference Protocol (KServe v2) server.
Prints one line of JSON: {"client": "tritonclient", "ms_per_call": ..., ...}.

    python direct_client.py --url 127.0.0.1:8000 --model demo_body \
        --input image --shape 4,1,256,256 --output probability --output tissue_logits
"""

import argparse
import json
import statistics
import time

import numpy as np
import tritonclient.http as http


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="host:port of the v2 server, no scheme")
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", default="")
    parser.add_argument("--input", required=True, help="input tensor name (FP32)")
    parser.add_argument("--shape", required=True, help="comma-separated dims")
    parser.add_argument("--output", action="append", required=True, help="requested output name")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    shape = [int(d) for d in args.shape.split(",")]
    data = np.random.default_rng(args.seed).standard_normal(shape).astype(np.float32)
    client = http.InferenceServerClient(args.url, connection_timeout=60.0, network_timeout=60.0)
    tensor = http.InferInput(args.input, shape, "FP32")
    tensor.set_data_from_numpy(data, binary_data=True)
    outputs = [http.InferRequestedOutput(name, binary_data=True) for name in args.output]

    def call():
        result = client.infer(args.model, [tensor], model_version=args.version, outputs=outputs)
        # Decode every output, as a caller would.
        return [result.as_numpy(name) for name in args.output]

    for _ in range(args.warmup):
        call()
    times = []
    for _ in range(args.iterations):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000.0)
    client.close()
    print(json.dumps({
        "client": "tritonclient",
        "model": args.model,
        "shape": shape,
        "iterations": args.iterations,
        "ms_per_call": statistics.mean(times),
        "ms_median": statistics.median(times),
        "ms_min": min(times),
    }))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Times Python onnxruntime's bare inference, the baseline of `bench models`.

  python3 ort_bench.py MODEL.onnx --shape 4,1,256,256 --threads 2 --runs 5 [--batches K]

Builds a CPU session with the given intra-op threads, runs one warm-up batch, then times `runs`
repetitions of `batches` consecutive runs on a seeded random input, and prints one JSON line:
the median milliseconds per repetition, the minimum, and the peak RSS in MiB.
"""
import argparse
import json
import resource
import statistics
import time

import numpy as np
import onnxruntime as ort


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--shape", required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--batches", type=int, default=1)
    a = p.parse_args()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(a.model, opts, providers=["CPUExecutionProvider"])
    shape = [int(d) for d in a.shape.split(",")]
    x = np.random.default_rng(1).random(shape, dtype=np.float32)
    name = sess.get_inputs()[0].name
    sess.run(None, {name: x})
    times = []
    for _ in range(a.runs):
        t = time.perf_counter()
        for _ in range(a.batches):
            sess.run(None, {name: x})
        times.append((time.perf_counter() - t) * 1000)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"ms": statistics.median(times), "min_ms": min(times), "peak_rss_mib": rss,
                      "onnxruntime": ort.__version__}))


if __name__ == "__main__":
    main()

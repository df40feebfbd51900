#!/usr/bin/env python3
"""Start a real Triton Inference Server (KServe v2 / Open Inference Protocol) for tests.

The `tritonserver` binary comes from the PyPI wheel `nvidia-pytriton`; it runs on
the CPU, offline, with the Python backend. Models are ONNX files run by
onnxruntime inside a Python-backend `model.py`, plus a `slow` model that sleeps
before answering (for timeout tests). With --dynamic-batching, Triton's dynamic
batcher gathers concurrent requests and `model.py` runs them as one batch (the
benchmarks compare it with model-server's own batcher).

Subcommands:

  serve      lay out a model repository under --workdir, then exec tritonserver
             (the process that the caller started becomes the server, so
             killing it kills the server)
  reference  run an ONNX model with onnxruntime directly on a raw float32 input
             and write each output as raw little-endian float32

Run it with the interpreter of the environment that has nvidia-pytriton,
onnxruntime and numpy 1 installed (`scripts/test` creates `.venv-triton` with them
from `scripts/requirements-triton.txt`).
"""

import argparse
import filecmp
import importlib.util
import json
import os
import pathlib
import shutil
import sys
import sysconfig

SLOW_MODEL = "slow"

# The model.py of an ONNX model: this head, then one of the two `execute` methods below.
MODEL_HEAD = '''\
import os
import sys

# The backend stub embeds its own interpreter, which ignores PYTHONPATH: add the
# environment that has onnxruntime and numpy.
for path in {site_packages!r}:
    if path not in sys.path:
        sys.path.insert(0, path)

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel:
    def initialize(self, args):
        options = ort.SessionOptions()
        options.intra_op_num_threads = {threads}
        options.inter_op_num_threads = 1
        here = os.path.dirname(os.path.abspath(__file__))
        self.session = ort.InferenceSession(
            os.path.join(here, "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
'''

EXECUTE_EACH = '''
    def execute(self, requests):
        responses = []
        for request in requests:
            feeds = {{
                name: pb_utils.get_input_tensor_by_name(request, name).as_numpy()
                for name in self.input_names
            }}
            wanted = request.requested_output_names()
            names = list(wanted) if wanted else self.output_names
            results = self.session.run(names, feeds)
            tensors = [
                pb_utils.Tensor(name, np.ascontiguousarray(value))
                for name, value in zip(names, results)
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
'''

EXECUTE_BATCHED = '''
    def execute(self, requests):
        """Triton's dynamic batcher hands over several requests at once: their inputs run as
        one batch (concatenated along axis 0) and each request gets back its own rows."""
        inputs = {{
            name: [pb_utils.get_input_tensor_by_name(r, name).as_numpy() for r in requests]
            for name in self.input_names
        }}
        rows = [len(x) for x in inputs[self.input_names[0]]]
        feeds = {{
            name: parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
            for name, parts in inputs.items()
        }}
        results = dict(zip(self.output_names, self.session.run(self.output_names, feeds)))
        responses = []
        start = 0
        for request, n in zip(requests, rows):
            wanted = request.requested_output_names()
            names = list(wanted) if wanted else self.output_names
            tensors = [
                pb_utils.Tensor(name, np.ascontiguousarray(results[name][start:start + n]))
                for name in names
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += n
        return responses
'''

SLOW_MODEL_PY = '''\
import sys
import time

for path in {site_packages!r}:
    if path not in sys.path:
        sys.path.insert(0, path)

import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel:
    def execute(self, requests):
        time.sleep({seconds})
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "x").as_numpy()
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("y", x)]))
        return responses
'''

ORT_TYPES = {"tensor(float)": "TYPE_FP32", "tensor(float16)": "TYPE_FP16", "tensor(double)": "TYPE_FP64",
             "tensor(uint8)": "TYPE_UINT8", "tensor(int8)": "TYPE_INT8", "tensor(int32)": "TYPE_INT32",
             "tensor(int64)": "TYPE_INT64", "tensor(bool)": "TYPE_BOOL"}


def copy_if_changed(source, destination):
    # A restarted server may find the previous one's backend stubs still exiting: an
    # executable that is running cannot be overwritten, and need not be when unchanged.
    if destination.exists() and filecmp.cmp(source, destination, shallow=False):
        return
    shutil.copy2(source, destination)


def site_packages():
    paths = []
    for key in ("purelib", "platlib"):
        path = sysconfig.get_paths()[key]
        if path not in paths:
            paths.append(path)
    return paths


def pytriton_dir():
    # Found without importing pytriton (whose import is slow and not needed).
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("start_triton.py: nvidia-pytriton is not installed in this Python "
                 f"({sys.executable}); run scripts/test, which installs it into .venv-triton")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "tritonserver"


def tensor_config(kind, node_arg, batched=False):
    # onnxruntime reports a dimension without a fixed size as a name or None.
    dims = [d if isinstance(d, int) and d >= 0 else -1 for d in node_arg.shape]
    if batched:
        # With max_batch_size > 0, Triton's dims leave out the batch dimension.
        dims = dims[1:]
    data_type = ORT_TYPES.get(node_arg.type)
    if data_type is None:
        sys.exit(f"start_triton.py: {node_arg.name}: unsupported element type {node_arg.type}")
    return (f'{kind} [ {{ name: "{node_arg.name}" data_type: {data_type} '
            f"dims: [ {', '.join(str(d) for d in dims)} ] }} ]\n")


def write_onnx_model(repository, name, onnx_path, threads, batching=None):
    """batching: None, or (max_batch, delay_us) for Triton's dynamic batcher."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    directory = repository / name
    (directory / "1").mkdir(parents=True, exist_ok=True)
    max_batch = batching[0] if batching else 0
    config = f'name: "{name}"\nbackend: "python"\nmax_batch_size: {max_batch}\n'
    for value in session.get_inputs():
        config += tensor_config("input", value, batched=bool(batching))
    for value in session.get_outputs():
        config += tensor_config("output", value, batched=bool(batching))
    if batching:
        config += f"dynamic_batching {{ max_queue_delay_microseconds: {batching[1]} }}\n"
    config += "instance_group [ { kind: KIND_CPU count: 1 } ]\n"
    (directory / "config.pbtxt").write_text(config)
    copy_if_changed(pathlib.Path(onnx_path), directory / "1" / "model.onnx")
    source = MODEL_HEAD + (EXECUTE_BATCHED if batching else EXECUTE_EACH)
    (directory / "1" / "model.py").write_text(source.format(site_packages=site_packages(), threads=threads))


def parse_batching(value):
    try:
        max_batch, delay_us = (int(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants MAX_BATCH,DELAY_US, got {value!r}") from None
    if max_batch < 1 or delay_us < 0:
        raise argparse.ArgumentTypeError(f"wants MAX_BATCH >= 1 and DELAY_US >= 0, got {value!r}")
    return max_batch, delay_us


def write_slow_model(repository, seconds):
    directory = repository / SLOW_MODEL
    (directory / "1").mkdir(parents=True, exist_ok=True)
    (directory / "config.pbtxt").write_text(
        f'name: "{SLOW_MODEL}"\nbackend: "python"\nmax_batch_size: 0\n'
        'input [ { name: "x" data_type: TYPE_FP32 dims: [ -1 ] } ]\n'
        'output [ { name: "y" data_type: TYPE_FP32 dims: [ -1 ] } ]\n'
        "instance_group [ { kind: KIND_CPU count: 1 } ]\n")
    (directory / "1" / "model.py").write_text(
        SLOW_MODEL_PY.format(site_packages=site_packages(), seconds=float(seconds)))


def serve(args):
    dist = pytriton_dir()
    workdir = pathlib.Path(args.workdir).resolve()
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    stub = dist / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.is_file():
        sys.exit(f"start_triton.py: nvidia-pytriton has no backend stub for Python {version}")

    backend = workdir / "backends" / "python"
    backend.mkdir(parents=True, exist_ok=True)
    for item in (dist / "backends" / "python").iterdir():
        if item.is_file():
            copy_if_changed(item, backend / item.name)
    copy_if_changed(stub, backend / "triton_python_backend_stub")

    repository = workdir / "models"
    repository.mkdir(parents=True, exist_ok=True)
    for spec in args.model:
        name, _, path = spec.partition("=")
        if not name or not path:
            sys.exit(f"start_triton.py: --model wants NAME=PATH.onnx, got {spec!r}")
        write_onnx_model(repository, name, path, args.threads, args.dynamic_batching)
    if args.slow_seconds is not None:
        write_slow_model(repository, args.slow_seconds)

    env = dict(os.environ)
    # The stub links libpython: make it load this interpreter's, not another one.
    libdirs = [sysconfig.get_config_var("LIBDIR"), str(dist.parent.parent / "nvidia_pytriton.libs")]
    if env.get("LD_LIBRARY_PATH"):
        libdirs.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = ":".join(libdirs)
    env["PATH"] = f"{pathlib.Path(sys.executable).parent}:{env.get('PATH', '')}"

    binary = dist / "bin" / "tritonserver"
    argv = [
        str(binary),
        f"--model-repository={repository}",
        f"--backend-directory={workdir / 'backends'}",
        f"--cache-directory={dist / 'caches'}",
        "--http-address=127.0.0.1",
        f"--http-port={args.http_port}",
        "--allow-grpc=false",
        "--allow-metrics=false",
        "--strict-readiness=true",
        "--exit-timeout-secs=2",
        f"--log-verbose={1 if args.verbose else 0}",
        # Each server gets its own shared-memory prefix so that parallel tests don't collide.
        f"--backend-config=python,shm-region-prefix-name=arterys{os.getpid()}",
    ]
    sys.stdout.flush()
    os.execve(str(binary), argv, env)


def reference(args):
    import numpy as np
    import onnxruntime as ort

    shape = [int(d) for d in args.shape.split(",")]
    data = np.fromfile(args.input, dtype="<f4").reshape(shape)
    session = ort.InferenceSession(args.onnx, providers=["CPUExecutionProvider"])
    feeds = {session.get_inputs()[0].name: data}
    names = [o.name for o in session.get_outputs()]
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shapes = {}
    for name, value in zip(names, session.run(names, feeds)):
        np.ascontiguousarray(value, dtype="<f4").tofile(out / f"{name}.f32")
        shapes[name] = list(value.shape)
    (out / "shapes.json").write_text(json.dumps(shapes))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    s = commands.add_parser("serve", help="lay out a model repository and exec tritonserver")
    s.add_argument("--workdir", required=True)
    s.add_argument("--http-port", type=int, required=True)
    s.add_argument("--model", action="append", default=[], metavar="NAME=PATH.onnx")
    s.add_argument("--slow-seconds", type=float, help=f"also serve a model {SLOW_MODEL!r} that sleeps")
    s.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    s.add_argument("--dynamic-batching", type=parse_batching, metavar="MAX_BATCH,DELAY_US",
                   help="serve the ONNX models with Triton's dynamic batcher (their batch "
                        "dimension must be free): batches of at most MAX_BATCH, a request "
                        "waiting at most DELAY_US microseconds for others")
    s.add_argument("--verbose", action="store_true")
    r = commands.add_parser("reference", help="run an ONNX model with onnxruntime directly")
    r.add_argument("--onnx", required=True)
    r.add_argument("--input", required=True, help="raw little-endian float32")
    r.add_argument("--shape", required=True, help="comma-separated dims")
    r.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.command == "serve":
        serve(args)
    else:
        reference(args)


if __name__ == "__main__":
    main()

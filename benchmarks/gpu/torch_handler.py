"""A PyTorch handler on the GPU through `arterys_gateway`: whole requests against the bare model.

An SDK-style handler, `segment(json_input, dicom_instances, input_hash)`, reads 16 CT slices of
256x256 with pydicom, runs a small 2D U-Net (random weights: speed does not depend on them) on
them in one batch, and answers a 3D probability mask. The server runs in a child process
(`--serve`), which first times the bare model call (input already on the device, the device
synchronised) and then serves; this process sends the same 16-slice request `--rounds` times
over loopback and prints both medians as a Markdown table.

    python benchmarks/gpu/torch_handler.py                 # cuda when available, else cpu
    python benchmarks/gpu/torch_handler.py --device cpu --rounds 5

Needs torch, numpy, pydicom and arterys_gateway (benchmarks/gpu/run.sh installs the last two
from wheels into a venv that sees the machine's torch).
"""

import argparse
import http.client
import json
import logging
import socket
import statistics
import subprocess
import sys
import time

from pathlib import Path

import numpy as np
import pydicom

# The tests' synthetic CT series and request body (python/tests/ct.py, wire.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python" / "tests"))
from ct import ct_series  # noqa: E402
from wire import multipart  # noqa: E402

SLICES, SIZE = 16, 256


def unet(torch):
    """A 2D U-Net: 4 levels of 32..256 features, conv-batchnorm-ReLU pairs."""
    nn = torch.nn

    def block(cin, cout):
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )

    class UNet(nn.Module):
        def __init__(self, widths=(32, 64, 128, 256)):
            super().__init__()
            self.down = nn.ModuleList()
            cin = 1
            for w in widths:
                self.down.append(block(cin, w))
                cin = w
            self.up = nn.ModuleList()
            self.merge = nn.ModuleList()
            for w in reversed(widths[:-1]):
                self.up.append(nn.ConvTranspose2d(cin, w, 2, stride=2))
                self.merge.append(block(2 * w, w))
                cin = w
            self.head = nn.Conv2d(cin, 2, 1)

        def forward(self, x):
            skips = []
            for i, d in enumerate(self.down):
                x = d(x)
                if i < len(self.down) - 1:
                    skips.append(x)
                    x = nn.functional.max_pool2d(x, 2)
            for up, merge in zip(self.up, self.merge):
                x = merge(torch.cat([up(x), skips.pop()], dim=1))
            return self.head(x)

    torch.manual_seed(0)
    return UNet().eval()


def slices():
    """16 synthetic CT slices (a growing bright disc on a noisy background) as DICOM bytes."""
    rng = np.random.default_rng(0)
    y, x = np.ogrid[:SIZE, :SIZE]
    r2 = (y - SIZE / 2) ** 2 + (x - SIZE / 2) ** 2
    noise = rng.integers(0, 200, (SLICES, SIZE, SIZE))
    discs = np.stack([r2 <= (SIZE / 4 + i) ** 2 for i in range(SLICES)])
    volume = (noise + 800 * discs).astype(np.uint16)
    return ct_series(volume)


def sync(torch, device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def serve(port, device, rounds):
    import torch

    from arterys_gateway import Gateway

    logging.disable(logging.INFO)  # the gateway's per-request lines
    model = unet(torch).to(device)

    def infer(volume):
        x = torch.from_numpy(volume).to(device).unsqueeze(1)
        x = (x - x.mean()) / (x.std() + 1e-6)
        with torch.inference_mode():
            prob = torch.softmax(model(x), dim=1)[:, 1]
        return (prob * 255).round().to(torch.uint8).cpu().numpy()

    def segment(json_input, dicom_instances, input_hash):
        series = [pydicom.dcmread(f) for f in dicom_instances]
        series.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
        volume = np.stack([ds.pixel_array for ds in series]).astype(np.float32)
        mask = infer(volume)
        depth, rows, cols = mask.shape
        part = {
            "label": "probability",
            "binary_type": "probability_mask",
            "binary_data_shape": {"timepoints": 1, "depth": depth, "width": cols, "height": rows},
        }
        return {"protocol_version": "1.0", "parts": [part]}, [mask]

    # The bare model call: the same input on the device, the device synchronised.
    x = torch.randn(SLICES, 1, SIZE, SIZE, device=device)
    times = []
    with torch.inference_mode():
        for i in range(rounds + 3):
            sync(torch, device)
            t = time.perf_counter()
            model(x)
            sync(torch, device)
            if i >= 3:
                times.append(time.perf_counter() - t)
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu"
    print(f"BARE {statistics.median(times) * 1e3:.3f} {name}", flush=True)
    app = Gateway(__name__)
    app.add_inference_route("/", segment)
    app.run(host="127.0.0.1", port=port)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", help="cuda, cuda:N or cpu (default: cuda when available)")
    ap.add_argument("--rounds", type=int, default=20, help="timed requests (and bare calls)")
    ap.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    device = args.device
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.serve is not None:
        return serve(args.serve, device, args.rounds)

    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--device", device, "--rounds", str(args.rounds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline().split()
        if not line or line[0] != "BARE":
            sys.exit(f"the server did not start (exit {child.wait()})")
        bare_ms, device_name = float(line[1]), " ".join(line[2:])
        body, content_type = multipart({}, slices())
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or child.poll() is not None:
                    sys.exit("the server does not accept connections")
                time.sleep(0.05)
        headers = {"Content-Type": content_type}
        walls = []
        for i in range(args.rounds + 3):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            t = time.perf_counter()
            conn.request("POST", "/", body=body, headers=headers)
            resp = conn.getresponse()
            answer = resp.read()
            wall = time.perf_counter() - t
            conn.close()
            if resp.status != 200 or len(answer) < SLICES * SIZE * SIZE:
                sys.exit(f"request {i}: status {resp.status}: {answer[:200]!r}")
            if i >= 3:
                walls.append(wall)
        whole_ms = statistics.median(walls) * 1e3
        print(f"\n{SLICES} slices of {SIZE}x{SIZE}, 2D U-Net (32..256 features) on {device} ({device_name}), "
              f"median of {args.rounds} after 3 warm-up\n")
        print("| whole request (upload, pydicom, model, mask, answer) | bare model call | ratio |")
        print("|---|---|---|")
        print(f"| {whole_ms:.1f} ms | {bare_ms:.1f} ms | {whole_ms / bare_ms:.2f}x |")
        print(json.dumps({"device": device_name, "whole_ms": whole_ms, "bare_ms": bare_ms}))
    finally:
        child.terminate()
        child.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())

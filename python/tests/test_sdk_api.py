"""The SDK's API end to end: handlers of every result kind checked by the protocol checker
(`send-inference-request`, which exits 1 on any violation) and by requests +
requests_toolbelt, the hashes the SDK computes, the README's example."""

import hashlib
import json
import subprocess

import numpy as np
import pydicom
import pytest

from conftest import TESTDATA, decode, post, study, tool, wait_until

ROUTES = [
    ("boxes", "test_3d", "received: 1 bounding box"),
    ("mask_3d", "test_3d", "received: 1 probability mask (3D)"),
    ("mask_2d", "test_2d", "received: 3 probability masks (2D)"),
    ("heatmap", "test_2d", "received: 3 heatmaps (2D)"),
    ("classification", "test_3d", "received: study_ml_json"),
    ("secondary_capture", "test_3d", "received: 1 DICOM secondary capture"),
]


@pytest.fixture
def results(serve):
    return serve("results.py")


@pytest.mark.parametrize("route,data,says", ROUTES)
def test_protocol_checker_accepts_every_result_kind(results, tmp_path, route, data, says):
    out = subprocess.run(
        [str(tool()), "-i", str(TESTDATA / data), "--host", "127.0.0.1", "-p", str(results.port),
         "-r", "/" + route, "-o", str(tmp_path), "--timeout", "60"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert says in out.stdout, out.stdout


def sdk_output_hash(response_json, parts):
    """What the SDK's gateway.py computes."""
    h = hashlib.sha256(json.dumps(response_json).encode("utf-8"))
    for p in parts:
        h.update(p)
    return h.hexdigest()


@pytest.mark.parametrize("route,data,_", ROUTES)
def test_hashes_and_json_text_are_the_sdks(results, route, data, _):
    files = study(data)
    resp = post(results.url + "/" + route, {"inference_command": "x"}, files)
    parts = decode(resp)
    json_text = parts[0].content
    response_json = json.loads(json_text)
    assert json_text == json.dumps(response_json).encode()
    binaries = [p.content for p in parts[1:-1]]
    assert len(binaries) == len(response_json["parts"])
    input_hash = hashlib.sha256(json.dumps({"inference_command": "x"}).encode())
    for f in files:
        input_hash.update(f)
    assert parts[-1].content.decode() == f"{input_hash.hexdigest()}:{sdk_output_hash(response_json, binaries)}"
    for spec, body in zip(response_json["parts"], parts[1:-1]):
        ctype = body.headers[b"Content-Type"].decode()
        if spec["binary_type"] == "dicom_secondary_capture":
            assert ctype == "application/dicom"
            assert pydicom.dcmread(__import__("io").BytesIO(body.content)).Rows == 64
        else:
            assert ctype == "application/binary"
            shape = spec["binary_data_shape"]
            assert len(body.content) == shape.get("depth", 1) * shape["height"] * shape["width"]


def test_mask_bytes_are_the_arrays_c_order(results):
    files = study("test_3d")
    parts = decode(post(results.url + "/mask_3d", {}, files))
    mask = np.frombuffer(parts[1].content, np.uint8).reshape(3, 512, 512)
    assert mask[:, 128:256, 128:256].min() == 255 and mask.sum() == 3 * 128 * 128 * 255


def test_typed_lists_keep_attachments_apart(results):
    files = study("test_3d")
    resp = post(results.url + "/typed", {}, [(b"LICENSE-KEY", "application/octet-stream")] + files)
    body = json.loads(decode(resp)[0].content)
    assert body["study_ml_json"] == {"all": 4, "dicom": 3, "attachments": ["LICENSE-KEY"]}


def test_readme_example(serve, tmp_path):
    app = serve("readme.py")
    # As published, the handler fails (it reads its local `logger` before assigning it): the
    # registered error handler answers, as with the SDK, and the service keeps serving.
    resp = post(app.url + "/", {}, study("test_3d"))
    assert (resp.status_code, resp.text) == (500, "internal server error")
    wait_until(lambda: "UnboundLocalError" in app.output())
    out = subprocess.run(
        [str(tool()), "-i", str(TESTDATA / "test_3d"), "--host", "127.0.0.1", "-p", str(app.port),
         "-r", "/fixed", "-o", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "received: 1 bounding box" in out.stdout
    box = json.loads((tmp_path / "response.json").read_text())["bounding_boxes_2d"][0]
    assert box["label"] == "super bbox" and box["top_left"] == [5, 5]
    assert "ignores Flask's debug, use_reloader" in app.output()


def test_ping_and_unknown_routes(results):
    import requests

    assert requests.get(results.url + "/ping", timeout=10).status_code == 200
    resp = requests.post(results.url + "/nowhere", timeout=10)
    assert resp.status_code == 404
    # The gateway's 404 names the Python routes, as it names Rust ones.
    assert "/boxes" in resp.text and "no inference routes" not in resp.text, resp.text
    # As in the SDK, no health check registered: no /healthcheck (the probes stay).
    for method in (requests.get, requests.post):
        resp = method(results.url + "/healthcheck", timeout=10)
        assert resp.status_code == 404, resp.text
    assert requests.get(results.url + "/readyz", timeout=10).status_code == 200

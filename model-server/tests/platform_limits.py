"""MONAI Label uploads within the server's limits, as a real client (requests) sends them.

The server runs with a 128 MiB memory budget, a 32 MiB body limit, one inference at a time and
a 64 KiB/s minimum body rate after 2 s. Compression bombs (gzip and zip) are refused by the
inflation ratio, a stream inflating past the body limit by the absolute limit, a volume whose
decoded form exceeds the budget by the budget; an upload waits for the inference permit
before its body is read, and a stalled upload is cut with 408.
"""

import gzip
import hashlib
import io
import os
import socket
import threading
import time
import zipfile

import nibabel
import numpy as np
import requests

URL = os.environ["MODEL_SERVER_URL"]
MODEL = "demo_body"
DICOM = os.path.join(os.environ["REPO_ROOT"], "testdata/dicom/arterys/test_3d/1.dcm")


def infer(name, data, **kw):
    files = {"file": (name, data)}
    return requests.post(f"{URL}/infer/{MODEL}", files=files, data={"params": "{}"}, timeout=60, **kw)


def refused(resp, status, words):
    detail = resp.json().get("detail", "")
    assert resp.status_code == status, f"{resp.status_code} {detail}"
    assert words in detail, detail
    print(f"{status}: {detail}")


def gzip_bomb():
    data = gzip.compress(bytes(100 << 20), 9)
    refused(infer("bomb.nii.gz", data), 413, "inflates more than 100 times")


def zip_bomb():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(40):
            z.writestr(f"IM{i:04}.dcm", bytes(4 << 20))
    refused(infer("bomb.zip", buf.getvalue()), 413, "inflates more than 100 times")


def inflates_past_the_body_limit():
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 4, 40 << 20, dtype=np.uint8).tobytes()
    data = gzip.compress(raw, 1)
    assert len(data) < 32 << 20, len(data)
    refused(infer("big.nii.gz", data), 413, "inflates past the 33554432-byte limit")


def volume_past_the_budget():
    rng = np.random.default_rng(2)
    vol = rng.integers(0, 4, (256, 256, 320), dtype=np.uint8)
    img = nibabel.Nifti1Image(vol, np.eye(4))
    data = gzip.compress(img.to_bytes(), 1)
    refused(infer("volume.nii.gz", data), 413, "memory budget")


def metric(name):
    text = requests.get(f"{URL}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def wait_for(what, check):
    for _ in range(300):
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"never saw: {what}")


def permit_before_body_and_body_rate():
    host, port = URL.removeprefix("http://").split(":")
    stalled = socket.create_connection((host, int(port)))
    head = (
        f"POST /infer/{MODEL} HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n"
    )
    stalled.sendall(head.encode() + b"--b\r\n")
    # The stalled upload holds the only permit while its body is read.
    wait_for("the stalled upload holding the permit", lambda: metric("arterys_inference_permits_in_use") >= 1)
    done = {}

    def second():
        with open(DICOM, "rb") as f:
            done["second"] = infer("1.dcm", f.read())

    t = threading.Thread(target=second)
    t.start()
    # The second upload waits for the permit: it is not read, let alone run, meanwhile.
    wait_for("the second upload queued", lambda: metric("arterys_inference_queued") >= 1)
    assert "second" not in done
    stalled.settimeout(30)
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = stalled.recv(4096)
        if not chunk:
            break
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 408"), answer
    print("stalled upload:", answer.split(b"\r\n")[0].decode())
    t.join(60)
    assert done["second"].status_code == 200, done["second"].text
    print("second upload: 200 after the stalled one was cut")


def tagged_log_line():
    with open(DICOM, "rb") as f:
        req = requests.Request(
            "POST", f"{URL}/infer/{MODEL}", files={"file": ("1.dcm", f.read())}, data={"params": "{}"}
        ).prepare()
    resp = requests.Session().send(req, timeout=60)
    assert resp.status_code == 200, resp.text
    print("HASH", hashlib.sha256(req.body).hexdigest())


gzip_bomb()
zip_bomb()
inflates_past_the_body_limit()
volume_past_the_budget()
permit_before_body_and_body_rate()
tagged_log_line()
print("platform limits: all checked")

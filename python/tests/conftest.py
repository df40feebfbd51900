"""Servers for the tests: each app in tests/apps/ runs in its own Python process on a free
loopback port (``port=0``; the port is read from the `` * Running on`` line)."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from wire import multipart

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TESTDATA = REPO / "testdata" / "dicom" / "arterys"


class Server:
    """A running app: its process, its base URL and everything it printed so far."""

    def __init__(self, app: str, *args: str, env=None):
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "apps" / app), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            text=True,
        )
        self.lines = []
        self._bound = threading.Event()
        self.port = None
        threading.Thread(target=self._read, daemon=True).start()
        if not self._bound.wait(60) or self.port is None:
            self.stop()
            raise RuntimeError("the app did not start:\n" + self.output())
        self.url = f"http://127.0.0.1:{self.port}"

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            m = re.search(r"\* Running on http://[^:]+:(\d+)", line)
            if m and self.port is None:
                self.port = int(m.group(1))
                self._bound.set()
        self._bound.set()

    def output(self) -> str:
        return "".join(self.lines)

    def signal(self, sig) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def serve():
    started = []

    def start(app: str, *args: str, env=None) -> Server:
        s = Server(app, *args, env=env)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def tool() -> Path:
    """The protocol checker: `send-inference-request`, as cargo built it."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    for profile in ("debug", "release"):
        p = target / profile / "send-inference-request"
        if p.exists():
            return p
    pytest.fail("send-inference-request is not built: cargo build -p arterys-inference-test-tool")


def wait_until(cond, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met within %s s" % timeout)


def study(kind: str = "test_3d"):
    """The bytes of a test study's DICOM files, in name order."""
    return [p.read_bytes() for p in sorted((TESTDATA / kind).glob("*.dcm"))]


def post(url: str, request_json: dict, parts, **kw):
    import requests

    body, ctype = multipart(request_json, parts)
    return requests.post(url, data=body, headers={"Content-Type": ctype}, timeout=kw.pop("timeout", 60), **kw)


def decode(resp):
    """The answer's parts (MultipartDecoder), checked: the last is `input:output` hashes."""
    from requests_toolbelt.multipart.decoder import MultipartDecoder

    assert resp.status_code == 200, resp.text
    return MultipartDecoder(resp.content, resp.headers["Content-Type"]).parts


def input_hash(request_json: dict, parts) -> str:
    """The SDK's input hash of a request `post` sends."""
    import hashlib
    import json

    h = hashlib.sha256(json.dumps(request_json).encode())
    for p in parts:
        h.update(p if isinstance(p, bytes) else p[0])
    return h.hexdigest()

"""MD.ai interface for a model served by model-server.

`MDAIModel.predict(data)` sends the batch's DICOM files to model-server over the Arterys
protocol and converts its answer into MD.ai outputs:

* probability / numeric label masks -> one ``ANNOTATION`` per instance (and frame) with
  ``data: {"mask": [[0/1, ...], ...]}`` (probability masks cut at their threshold, label masks
  one output per label value);
* bounding boxes -> ``data: {"x", "y", "width", "height"}``;
* study classification -> a global ``ANNOTATION`` with the best class and every class's
  probability;
* heatmaps have no MD.ai label type and are left out (listed in the output's note).

The server is the one at ``MODEL_SERVER_URL`` when set; otherwise the adapter starts
``MODEL_SERVER_BIN`` (default ``model-server`` on PATH) with ``MODEL_SERVER_CONFIG`` (default
``model.yaml`` next to this file) on a free loopback port and stops it at exit.

Class indices come from ``data["label_classes"]`` (label names as the server names them);
without label classes, names are numbered in sorted order. A failure raises
``ModelServerError`` with the server's reason.
"""

import atexit
import io
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from email.parser import BytesParser
from email.policy import HTTP

import numpy as np
import pydicom

HERE = os.path.dirname(os.path.abspath(__file__))


class ModelServerError(RuntimeError):
    """model-server could not be started or did not answer the batch."""


class MDAIModel:
    def __init__(self, url=None, route="/", timeout=600):
        self.route = route
        self.timeout = timeout
        self._process = None
        self._log = None
        self.url = (url or os.environ.get("MODEL_SERVER_URL") or "").rstrip("/") or self._start()

    # -- the server ---------------------------------------------------------------------
    def _start(self):
        binary = os.environ.get("MODEL_SERVER_BIN", "model-server")
        config = os.environ.get("MODEL_SERVER_CONFIG", os.path.join(HERE, "model.yaml"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self._log = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(
                [binary, "--config", config, "--host", "127.0.0.1", "--port", str(port)],
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
        except OSError as e:
            raise ModelServerError(f"cannot start {binary}: {e} (set MODEL_SERVER_BIN or MODEL_SERVER_URL)")
        atexit.register(self.close)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + float(os.environ.get("MODEL_SERVER_START_TIMEOUT", "120"))
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ModelServerError(f"model-server exited ({self._process.returncode}): {self._log_text()}")
            try:
                with urllib.request.urlopen(url + "/healthcheck", timeout=2) as r:
                    if r.read().decode() == "READY":
                        return url
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.close()
        raise ModelServerError(f"model-server not READY in time: {self._log_text()}")

    def _log_text(self):
        if not self._log:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def close(self):
        """Stops the server this adapter started (if any)."""
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    # -- MD.ai ------------------------------------------------------------------------
    def predict(self, data):
        files = [f for f in data.get("files", []) if f.get("content_type") == "application/dicom"]
        if not files:
            raise ModelServerError("the batch has no DICOM file (content_type application/dicom)")
        datasets = []
        for i, f in enumerate(files):
            try:
                datasets.append(pydicom.dcmread(io.BytesIO(f["content"]), stop_before_pixels=True, force=True))
            except Exception as e:  # pydicom raises several kinds
                raise ModelServerError(f"file {i} is not readable DICOM: {e}")
        answer, buffers = self._infer([f["content"] for f in files])
        classes = ClassIndex(data.get("label_classes") or [])
        by_sop = {str(getattr(ds, "SOPInstanceUID", "")): ds for ds in datasets}
        outputs = []
        skipped = []
        for part, buf in zip(answer.get("parts", []), buffers):
            kind = part.get("binary_type")
            if kind not in ("probability_mask", "numeric_label_mask", "boolean_mask"):
                skipped.append(f"{kind} {part.get('label', '')}".strip())
                continue
            for ds, frame, plane in planes(part, buf, datasets, by_sop):
                outputs.extend(mask_outputs(part, plane, ds, frame, classes))
        for box in answer.get("bounding_boxes_2d") or []:
            ds = by_sop.get(box["SOPInstanceUID"])
            if ds is None:
                continue
            (x0, y0), (x1, y1) = box["top_left"], box["bottom_right"]
            out = annotation(ds, classes[box["label"]])
            out["data"] = {"x": int(x0), "y": int(y0), "width": int(x1 - x0), "height": int(y1 - y0)}
            if box.get("frame_number"):
                out["frame_number"] = int(box["frame_number"]) - 1
            outputs.append(out)
        study = answer.get("study_ml_json")
        if isinstance(study, dict) and isinstance(study.get("probabilities"), dict):
            out = annotation(datasets[0], classes[study["label"]], scope="STUDY")
            out["probability"] = [
                {"class_index": classes[name], "probability": float(p)} for name, p in study["probabilities"].items()
            ]
            if skipped:
                out["note"] = "not expressible on MD.ai: " + ", ".join(skipped)
            outputs.append(out)
        if not outputs and skipped:
            raise ModelServerError("model-server's results have no MD.ai form: " + ", ".join(skipped))
        return outputs

    def _infer(self, contents):
        boundary = uuid.uuid4().hex
        body = io.BytesIO()
        parts = [("application/json", b"{}")] + [("application/dicom", c) for c in contents]
        for content_type, content in parts:
            body.write(f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode())
            body.write(content)
            body.write(b"\r\n")
        body.write(f"--{boundary}--\r\n".encode())
        request = urllib.request.Request(
            self.url + self.route,
            data=body.getvalue(),
            headers={"Content-Type": f"multipart/related; boundary={boundary}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as r:
                content_type, raw = r.headers["Content-Type"], r.read()
        except urllib.error.HTTPError as e:
            reason = e.read().decode(errors="replace").strip().splitlines()[:1]
            raise ModelServerError(f"model-server answered HTTP {e.code}: {' '.join(reason) or e.reason}")
        except (urllib.error.URLError, OSError) as e:
            raise ModelServerError(f"model-server at {self.url} did not answer: {e}")
        message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
        payloads = [p.get_payload(decode=True) for p in message.iter_parts()]
        if not payloads:
            raise ModelServerError("model-server's answer is not multipart")
        answer = json.loads(payloads[0])
        return answer, payloads[1 : 1 + len(answer.get("parts", []))]


class ClassIndex:
    """Result label name -> MD.ai class_index."""

    def __init__(self, label_classes):
        self.known = {}
        for c in label_classes:
            label = c.get("label") or {}
            for key in ("name", "short_name"):
                if label.get(key):
                    self.known.setdefault(label[key].lower(), int(c["class_index"]))
        self.fixed = bool(self.known)

    def __getitem__(self, name):
        key = name.lower()
        if key not in self.known:
            if self.fixed:
                raise ModelServerError(f"result label {name!r} has no label class: add it to the model's label classes")
            self.known[key] = len(self.known)
        return self.known[key]


def annotation(ds, class_index, scope="INSTANCE"):
    out = {"type": "ANNOTATION", "study_uid": str(ds.StudyInstanceUID), "class_index": int(class_index)}
    if scope != "STUDY":
        out["series_uid"] = str(ds.SeriesInstanceUID)
        out["instance_uid"] = str(ds.SOPInstanceUID)
    return out


def planes(part, buf, datasets, by_sop):
    """(dataset, 0-based frame or None, 2D uint8 plane) for every image a mask part covers."""
    shape = part["binary_data_shape"]
    w, h = shape["width"], shape["height"]
    d, t = shape.get("depth") or 1, shape.get("timepoints") or 1
    mask = np.frombuffer(buf, dtype=np.uint8).reshape(t, d, h, w)
    image = part.get("dicom_image")
    if image:
        ds = by_sop.get(image["SOPInstanceUID"])
        if ds is not None:
            frame = image.get("frame_number")
            yield ds, (frame - 1 if frame else None), mask[0, 0]
        return
    series = [ds for ds in datasets if str(getattr(ds, "SeriesInstanceUID", "")) == part.get("SeriesInstanceUID")]
    for z, ds in enumerate(slice_order(series)[:d]):
        yield ds, None, mask[0, z]


def slice_order(series):
    """The instances along the slice normal, as model-server orders a volume."""

    def position(ds):
        iop = [float(v) for v in ds.ImageOrientationPatient]
        normal = np.cross(iop[:3], iop[3:])
        return float(np.dot(normal, [float(v) for v in ds.ImagePositionPatient]))

    return sorted(series, key=position)


def mask_outputs(part, plane, ds, frame, classes):
    if part["binary_type"] == "numeric_label_mask":
        values = {int(k): name for k, name in (part.get("label_map") or {}).items()}
        pieces = [(classes[values.get(v, str(v))], plane == v) for v in sorted(set(np.unique(plane)) - {0})]
    else:
        threshold = part.get("probability_threshold", 0.5)
        pieces = [(classes[part.get("label", "mask")], plane / 255.0 >= threshold)]
    for class_index, mask in pieces:
        if not mask.any():
            continue
        out = annotation(ds, class_index)
        out["data"] = {"mask": mask.astype(np.uint8).tolist()}
        if frame is not None:
            out["frame_number"] = int(frame)
        yield out

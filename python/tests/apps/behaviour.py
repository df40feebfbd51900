"""Handlers for the error, concurrency, logging and shutdown tests."""

import logging
import sys
import threading
import time

import numpy as np
import pydicom
from flask import make_response

from arterys_gateway import Gateway, current_input_hash

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s [%(input_hash)s] %(message)s")
log = logging.getLogger("vendor")
OK = ({"protocol_version": "1.0", "parts": []}, [])


class Refused(Exception):
    pass


def refused(json_input, dicom_instances, input_hash):
    raise Refused("this study is not a chest X-ray")


def boom(json_input, dicom_instances, input_hash):
    log.info("about to fail")
    raise RuntimeError("model weights missing")


def slow(json_input, dicom_instances, input_hash):
    log.info("sleeping %s s", json_input.get("seconds", "2"))
    time.sleep(float(json_input.get("seconds", "2")))
    return OK


def busy(json_input, dicom_instances, input_hash):
    # Holds the GIL (pure Python) for about a second.
    end = time.monotonic() + float(json_input.get("seconds", "1"))
    n = 0
    while time.monotonic() < end:
        n += 1
    return OK


def logs(json_input, dicom_instances, input_hash):
    log.info("handler sees %s", current_input_hash())
    return OK


def _part(binary_type, shape):
    return {"label": "x", "binary_type": binary_type, "binary_data_shape": shape}


def bad_count(json_input, dicom_instances, input_hash):
    return {"protocol_version": "1.0", "parts": [_part("probability_mask", {"width": 4, "height": 4})]}, []


def bad_size(json_input, dicom_instances, input_hash):
    shape = {"timepoints": 1, "depth": 3, "width": 512, "height": 512}
    return {"protocol_version": "1.0", "parts": [_part("probability_mask", shape)]}, [np.zeros((3, 512, 500), np.uint8)]


def bad_type(json_input, dicom_instances, input_hash):
    return {"protocol_version": "1.0", "parts": [_part("hologram", {"width": 4, "height": 4})]}, [b"\0" * 16]


def bad_part(json_input, dicom_instances, input_hash):
    return {"protocol_version": "1.0", "parts": [_part("probability_mask", {"width": 4, "height": 4})]}, [42]


def mean(json_input, dicom_instances, input_hash):
    total = 0.0
    for f in dicom_instances:
        total += float(pydicom.dcmread(f).pixel_array.mean())
    return {"protocol_version": "1.0", "parts": [], "study_ml_json": {"mean": total / len(dicom_instances)}}, []


def count(json_input, dicom_instances, input_hash):
    sizes = [len(f.getvalue()) for f in dicom_instances]
    return {"protocol_version": "1.0", "parts": [], "study_ml_json": {"instances": len(sizes), "bytes": sum(sizes)}}, []


def health():
    return make_response("READY", 200)


if __name__ == "__main__":
    opts = dict(a.split("=", 1) for a in sys.argv[1:])
    app = Gateway(__name__, **{k: int(v) if v.isdigit() else v for k, v in opts.items()})
    app.register_error_handler(Refused, lambda e: make_response(f"refused: {e}", 422))
    for f in (refused, boom, slow, busy, logs, bad_count, bad_size, bad_type, bad_part, mean, count):
        app.add_inference_route("/" + f.__name__, f)
    app.add_healthcheck_route(health)
    app.run(host="127.0.0.1", port=0, threaded=True)

"""The reference peer that `bench transport` measures against.

A Flask service on the Arterys inference SDK's own stack (Flask and its Werkzeug server,
requests-toolbelt's multipart codec, pydicom, numpy) that does the work the mock server does
for the benchmark's requests:

- reads the whole multipart/related body, splits it into parts, hashes every part (SHA-256,
  the input hash), parses the JSON part and every DICOM part with pydicom;
- answers boxes (one per image) or, for `get-probability-mask`, a 3D probability mask of the
  series (one byte per voxel, a disc on every slice) built with numpy;
- hashes the answer (the output hash) and sends it as multipart/related with the request's
  boundary and a final `<input hash>:<output hash>` part, as the SDK's gateway does.

Run: `python app.py [--port 0]`; it prints `LISTENING <port>` once it accepts connections.
"""

import argparse
import hashlib
import json
import logging
import sys
from io import BytesIO

import flask
import numpy as np
import pydicom
from requests_toolbelt import MultipartDecoder, MultipartEncoder
from werkzeug.serving import make_server

app = flask.Flask(__name__)


def slice_position(ds):
    """Where a slice sits along the series, for sorting."""
    pos = ds.get("ImagePositionPatient")
    return float(pos[2]) if pos is not None else float(ds.get("InstanceNumber", 0))


def boxes(datasets):
    found = []
    for ds in datasets:
        w, h = int(ds.Columns), int(ds.Rows)
        found.append({
            "label": "Mock finding",
            "SOPInstanceUID": str(ds.SOPInstanceUID),
            "top_left": [w * 3 // 8, h * 3 // 8],
            "bottom_right": [w * 5 // 8, h * 5 // 8],
        })
    return {"protocol_version": "1.0", "parts": [], "bounding_boxes_2d": found}, []


def probability_mask(datasets):
    series = sorted(datasets, key=slice_position)
    depth, rows, cols = len(series), int(series[0].Rows), int(series[0].Columns)
    y, x = np.ogrid[:rows, :cols]
    disc = ((y - rows / 2) ** 2 + (x - cols / 2) ** 2) <= (min(rows, cols) / 4) ** 2
    mask = np.zeros((depth, rows, cols), dtype=np.uint8)
    mask[:, disc] = 200
    part = {
        "label": "Mock probability",
        "binary_type": "probability_mask",
        "binary_data_shape": {"timepoints": 1, "depth": depth, "width": cols, "height": rows},
        "source_image_series_uid": str(series[0].SeriesInstanceUID),
        "SOPInstanceUID": [str(ds.SOPInstanceUID) for ds in series],
    }
    return {"protocol_version": "1.0", "parts": [part]}, [mask.tobytes()]


@app.route("/", methods=["POST"])
def infer():
    r = flask.request
    if not r.content_type.startswith("multipart/related"):
        return flask.make_response("invalid content-type {}".format(r.content_type), 400)
    mp = MultipartDecoder(content=r.get_data(), content_type=r.content_type)
    input_hash = hashlib.sha256()
    for part in mp.parts:
        input_hash.update(part.content)
    input_digest = input_hash.hexdigest()
    request_json = json.loads(mp.parts[0].text)
    datasets = [pydicom.dcmread(BytesIO(p.content)) for p in mp.parts[1:]]
    if request_json.get("inference_command") == "get-probability-mask":
        response_json, binaries = probability_mask(datasets)
    else:
        response_json, binaries = boxes(datasets)
    body_json = json.dumps(response_json)
    output_hash = hashlib.sha256(body_json.encode("utf-8"))
    for b in binaries:
        output_hash.update(b)
    fields = [("json-body", ("json-body", body_json, "application/json"))]
    fields += [("elem_{}".format(i), ("elem_{}".format(i), b, "application/binary")) for i, b in enumerate(binaries)]
    fields.append(("hashes", ("hashes", input_digest + ":" + output_hash.hexdigest(), "text/plain")))
    boundary = mp.boundary.decode("ascii") if isinstance(mp.boundary, bytes) else mp.boundary
    encoder = MultipartEncoder(fields, boundary=boundary)
    return flask.make_response(
        encoder.to_string(), 200, {"Content-Type": "multipart/related; boundary={}".format(boundary)}
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args()
    # Per-request access lines would cost the peer time our server does not spend.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # Threaded, as Flask's `app.run` serves by default.
    server = make_server(args.host, args.port, app, threaded=True)
    print("LISTENING {}".format(server.server_port), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

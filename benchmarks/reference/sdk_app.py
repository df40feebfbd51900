"""The same SDK-style handlers under the SDK's Flask gateway (`--gateway flask`, the
reference) or under `arterys_gateway` (`--gateway arterys`): the one import differs.

Routes: `/` the README's boxes example, `/mask` a 3D probability mask built with numpy,
`/noop` a constant answer (the Python boundary alone). Prints `LISTENING <port>` on stdout
once the port accepts connections."""

import argparse
import logging
import socket
import sys
import threading
import time

import numpy as np
import pydicom

logging.disable(logging.INFO)


def boxes(json_input, dicom_instances, input_hash):
    dcm = pydicom.dcmread(dicom_instances[0])
    response_json = {
        "protocol_version": "1.0",
        "parts": [],
        "bounding_boxes_2d": [
            {"label": "super bbox", "SOPInstanceUID": dcm.SOPInstanceUID,
             "top_left": [5, 5], "bottom_right": [10, 10]}
        ],
    }
    return response_json, []


def mask(json_input, dicom_instances, input_hash):
    series = [pydicom.dcmread(f, stop_before_pixels=True) for f in dicom_instances]
    series.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    depth, rows, cols = len(series), int(series[0].Rows), int(series[0].Columns)
    y, x = np.ogrid[:rows, :cols]
    disc = ((y - rows / 2) ** 2 + (x - cols / 2) ** 2) <= (min(rows, cols) / 4) ** 2
    volume = np.zeros((depth, rows, cols), dtype=np.uint8)
    volume[:, disc] = 200
    part = {
        "label": "probability",
        "binary_type": "probability_mask",
        "binary_data_shape": {"timepoints": 1, "depth": depth, "width": cols, "height": rows},
    }
    return {"protocol_version": "1.0", "parts": [part]}, [volume]


def noop(json_input, dicom_instances, input_hash):
    return {"protocol_version": "1.0", "parts": []}, []


def announce(port):
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.02)
    print(f"LISTENING {port}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateway", choices=["flask", "arterys"], required=True)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    if args.gateway == "flask":
        from sdk_gateway import Gateway
    else:
        from arterys_gateway import Gateway
    port = args.port
    if port == 0:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    app = Gateway(__name__)
    app.add_inference_route("/", boxes)
    app.add_inference_route("/mask", mask)
    app.add_inference_route("/noop", noop)
    threading.Thread(target=announce, args=(port,), daemon=True).start()
    if args.gateway == "flask":
        # What `app.run(threaded=True)` runs (Werkzeug's server, a thread per request),
        # without its banner on stdout.
        from werkzeug.serving import make_server

        make_server("127.0.0.1", port, app, threaded=True).serve_forever()
    else:
        app.run(host="127.0.0.1", port=port)


if __name__ == "__main__":
    sys.exit(main())

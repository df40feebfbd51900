"""The SDK's Flask `gateway.py`, as the Python SDK's documentation describes it: a `Gateway`
subclass of `flask.Flask` whose inference routes read the whole multipart/related body with
requests-toolbelt, hash every part (the input hash), call
`handler(json_input, dicom_instances, input_hash)`, and answer `json.dumps(response_json)`,
the parts and `<input hash>:<output hash>` as multipart/related with the request's boundary.
The reference side of `bench python`."""

import hashlib
import io
import json

import flask
from requests_toolbelt import MultipartDecoder
from requests_toolbelt.multipart.encoder import MultipartEncoder

BINARY_MIME = {"dicom_secondary_capture": "application/dicom", "dicom": "application/dicom"}


class Gateway(flask.Flask):
    def add_inference_route(self, route, handler):
        def view():
            r = flask.request
            if not r.content_type.startswith("multipart/related"):
                return flask.make_response("invalid content-type {}".format(r.content_type), 400)
            mp = MultipartDecoder(content=r.get_data(), content_type=r.content_type)
            input_hash = hashlib.sha256()
            for part in mp.parts:
                input_hash.update(part.content)
            json_input = json.loads(mp.parts[0].text)
            dicom_instances = [io.BytesIO(p.content) for p in mp.parts[1:]]
            response_json, parts = handler(json_input, dicom_instances, input_hash.hexdigest())
            text = json.dumps(response_json)
            output_hash = hashlib.sha256(text.encode("utf-8"))
            fields = [("json", ("json", text, "application/json"))]
            for spec, part in zip(response_json.get("parts", []), parts):
                data = part.getvalue() if hasattr(part, "getvalue") else (part.tobytes() if hasattr(part, "tobytes") else part)
                output_hash.update(data)
                fields.append(("part", ("part", data, BINARY_MIME.get(spec["binary_type"], "application/binary"))))
            fields.append(("hashes", ("hashes", f"{input_hash.hexdigest()}:{output_hash.hexdigest()}", "text/plain")))
            boundary = r.mimetype_params.get("boundary")
            enc = MultipartEncoder(fields=fields, boundary=boundary)
            ctype = enc.content_type.replace("multipart/form-data", "multipart/related")
            return flask.Response(enc.to_string(), content_type=ctype)

        self.add_url_rule(route, route, view, methods=["POST"])

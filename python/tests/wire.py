"""A protocol request body as the SDK's clients send it, for the tests and the benchmarks."""

import json


def multipart(request_json: dict, parts, boundary: str = "arterys-test-boundary"):
    """A protocol request body: the JSON part, then each part (bytes, or (bytes, content
    type)). Returns (body, content type)."""
    chunks = [f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode(), json.dumps(request_json).encode(), b"\r\n"]
    for p in parts:
        data, ctype = p if isinstance(p, tuple) else (p, "application/dicom")
        chunks += [f"--{boundary}\r\nContent-Type: {ctype}\r\n\r\n".encode(), data, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/related; boundary={boundary}"

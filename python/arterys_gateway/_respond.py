"""Python values to what the Rust transport sends: a handler's ``(response_json, parts)``, and
the ``str`` / ``(body, status)`` / Flask ``Response`` answers of health checks and error
handlers."""

import json
from typing import Any, List, Tuple

# What dispatch hands to Rust: (0, json_text, parts, "") for a protocol answer,
# (status, body, [], content_type) for a plain one.
Answer = Tuple[int, Any, List[bytes], str]

_TEXT = "text/plain; charset=utf-8"
_HTML = "text/html; charset=utf-8"


class ProtocolError(Exception):
    """A handler's return value that cannot be sent (it is answered with a 500 naming it)."""


def protocol_answer(result: Any) -> Answer:
    """The handler's ``(response_json, parts)`` as JSON text (``json.dumps``, as the SDK wrote
    it, so the output hash is the SDK's) and each part's bytes."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise ProtocolError(
            f"the handler returned a {type(result).__name__}, not (response_json, parts)"
        )
    response_json, parts = result
    if not isinstance(response_json, dict):
        raise ProtocolError(
            f"response_json is a {type(response_json).__name__}, not a dict"
        )
    text = json.dumps(response_json)
    buffers = [part_bytes(i, p) for i, p in enumerate(parts or [])]
    return (0, text, buffers, "")


def part_bytes(index: int, part: Any) -> bytes:
    """One binary part's bytes: numpy arrays in C order (as ``tobytes()``), bytes-likes as
    they are, file-likes read from their start."""
    if isinstance(part, bytes):
        return part
    if isinstance(part, (bytearray, memoryview)):
        return bytes(part) if not isinstance(part, memoryview) else part.tobytes()
    if hasattr(part, "__array_interface__") and hasattr(part, "tobytes"):
        return part.tobytes()
    if hasattr(part, "getvalue"):
        data = part.getvalue()
    elif hasattr(part, "read"):
        if getattr(part, "seekable", lambda: False)():
            part.seek(0)
        data = part.read()
    else:
        raise ProtocolError(
            f"part {index}: a {type(part).__name__} is not a numpy array, bytes or a file-like object"
        )
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"part {index}: its file-like object read {type(data).__name__}, not bytes")
    return bytes(data)


def plain_answer(rv: Any) -> Answer:
    """A Flask-style view return value: ``str``/``bytes`` (200), ``(body, status)``,
    ``(body, status, headers)``, a ``dict`` (JSON), or a response object with ``get_data()``
    and ``status_code``."""
    if hasattr(rv, "get_data") and hasattr(rv, "status_code"):
        content_type = getattr(rv, "content_type", None) or _HTML
        return (int(rv.status_code), bytes(rv.get_data()), [], content_type)
    if isinstance(rv, tuple):
        if len(rv) not in (2, 3) or not isinstance(rv[1], int) or isinstance(rv[1], bool):
            raise TypeError("a tuple answer must be (body, status) or (body, status, headers)")
        _, body, _, content_type = plain_answer(rv[0])
        if not 100 <= rv[1] <= 599:
            raise ValueError(f"status {rv[1]} is not an HTTP status")
        return (rv[1], body, [], content_type)
    if isinstance(rv, str):
        return (200, rv.encode("utf-8"), [], _HTML)
    if isinstance(rv, (bytes, bytearray)):
        return (200, bytes(rv), [], _HTML)
    if isinstance(rv, dict):
        return (200, json.dumps(rv).encode("utf-8"), [], "application/json")
    raise TypeError(f"cannot answer with a {type(rv).__name__}")


def error_answer(status: int, reason: str) -> Answer:
    """A one-line plain-text answer."""
    line = " ".join(reason.split())
    return (status, (line + "\n").encode("utf-8"), [], _TEXT)

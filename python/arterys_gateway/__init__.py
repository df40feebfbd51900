"""The Arterys inference gateway in Rust, for Python handlers.

A drop-in for the SDK's Flask ``gateway.py``: change ``from gateway import Gateway`` to
``from arterys_gateway import Gateway`` and keep the handler. Rust reads, hashes and checks
requests and streams answers; Python runs only the handler (and the health check and error
handlers), on a pool of ``max_concurrent`` threads.
"""

from ._app import Gateway
from ._log import InputHashFilter, current_input_hash
from ._respond import ProtocolError

__all__ = ["Gateway", "InputHashFilter", "ProtocolError", "current_input_hash"]

"""The request's ``input_hash`` for Python ``logging``: a context variable set around each
handler call and a filter that copies it onto log records."""

import contextvars
import logging
from typing import Optional

_INPUT_HASH: "contextvars.ContextVar[Optional[str]]" = contextvars.ContextVar(
    "arterys_gateway_input_hash", default=None
)

#: The package's own logger.
log = logging.getLogger("arterys_gateway")


def current_input_hash() -> Optional[str]:
    """The ``input_hash`` of the request whose handler is running on this thread, or None."""
    return _INPUT_HASH.get()


class InputHashFilter(logging.Filter):
    """Sets ``record.input_hash`` to the running request's hash (``-`` outside a request)
    unless the record already has one, so a format may use ``%(input_hash)s``.

    ``Gateway.run`` adds it to the root logger's handlers; add it to other handlers yourself.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Tags the record; never drops it."""
        if not hasattr(record, "input_hash"):
            record.input_hash = _INPUT_HASH.get() or "-"
        return True


def install_filter() -> None:
    """Adds an :class:`InputHashFilter` to each handler of the root logger (once)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, InputHashFilter) for f in handler.filters):
            handler.addFilter(InputHashFilter())

"""Type stubs for arterys_gateway: the SDK's Gateway API over the Rust transport."""

import io
import logging
import os
from typing import Any, Callable, Optional, Protocol, Tuple, Type, TypeVar, Union

__all__ = ["Gateway", "InputHashFilter", "ProtocolError", "current_input_hash"]

_F = TypeVar("_F", bound=Callable[..., Any])

class _Response(Protocol):
    """A Flask response (or anything with get_data() and status_code)."""

    status_code: int
    def get_data(self) -> bytes: ...

#: What a health check or error handler may return.
ViewReturn = Union[str, bytes, dict, Tuple[Any, int], Tuple[Any, int, Any], _Response]
#: One binary part: a numpy array, bytes-like, or a file-like object.
Part = Any
#: A handler: (json_input, dicom_instances, input_hash) -> (response_json, parts).
Handler = Callable[..., Tuple[dict, list]]

class ProtocolError(Exception):
    """A handler's return value that cannot be sent (answered with a 500 naming it)."""

class InputHashFilter(logging.Filter):
    """Sets record.input_hash to the running request's hash ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool: ...

def current_input_hash() -> Optional[str]:
    """The input_hash of the request whose handler runs on this thread, or None."""

class Gateway:
    """An inference service; keyword arguments are the gateway's options."""

    import_name: str
    def __init__(
        self,
        import_name: str = "__main__",
        *,
        body_limit_mib: Optional[int] = ...,
        handler_timeout_secs: Optional[int] = ...,
        memory_budget_mib: Optional[int] = ...,
        shutdown_grace_secs: Optional[int] = ...,
        min_body_rate_kib: Optional[int] = ...,
        body_grace_secs: Optional[int] = ...,
        write_timeout_secs: Optional[int] = ...,
        max_connections: Optional[int] = ...,
        max_concurrent: Optional[int] = ...,
        study_root: Optional[Union[str, os.PathLike[str]]] = ...,
        logging_config: Optional[Union[str, os.PathLike[str]]] = ...,
        **flask_options: Any,
    ) -> None: ...
    def add_inference_route(self, route: str, handler: Handler) -> None:
        """Serves POST route with handler(json_input, dicom_instances, input_hash)."""
    def add_healthcheck_route(self, healthcheck: Callable[[], ViewReturn]) -> None:
        """Answers GET and POST /healthcheck with healthcheck(); without one, as in the SDK,
        /healthcheck does not exist (404)."""
    def register_error_handler(
        self, code_or_exception: Union[int, Type[BaseException]], f: Callable[[Any], ViewReturn]
    ) -> None:
        """Answers a handler's exception of this type with f(exception)."""
    def errorhandler(self, code_or_exception: Union[int, Type[BaseException]]) -> Callable[[_F], _F]:
        """Decorator form of register_error_handler."""
    def run(
        self,
        host: Optional[str] = "0.0.0.0",
        port: Optional[int] = 8000,
        debug: Optional[bool] = None,
        use_reloader: Optional[bool] = None,
        **options: Any,
    ) -> None:
        """Serves until SIGTERM or Ctrl-C, then drains in-flight requests and returns."""

"""``Gateway``: the SDK's API (``Gateway(__name__)``, ``add_inference_route``,
``add_healthcheck_route``, ``register_error_handler``, ``run``) over the Rust transport."""

import contextlib
import inspect
import io
import json
import os
import sys
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

from . import _native
from ._log import _INPUT_HASH, install_filter, log
from ._respond import Answer, ProtocolError, error_answer, plain_answer, protocol_answer

# The gateway's options: the CLI flags' names, what each accepts.
_OPTIONS: Dict[str, Tuple[str, int]] = {
    "body_limit_mib": ("int", 1),
    "handler_timeout_secs": ("int", 1),
    "memory_budget_mib": ("int", 1),
    "shutdown_grace_secs": ("int", 0),
    "min_body_rate_kib": ("int", 0),
    "body_grace_secs": ("int", 0),
    "write_timeout_secs": ("int", 1),
    "max_connections": ("int", 1),
    "max_concurrent": ("int", 1),
    "study_root": ("dir", 0),
    "logging_config": ("file", 0),
}

# Flask's constructor arguments: accepted so that vendor code keeps working, and ignored.
_FLASK_INIT = {
    "static_url_path", "static_folder", "static_host", "host_matching", "subdomain_matching",
    "template_folder", "instance_path", "instance_relative_config", "root_path",
}

# The gateway's own routes.
_PROBES = {"/healthcheck", "/ping", "/livez", "/readyz", "/metrics"}

# The keyword arguments a handler may declare to get the typed lists.
_TYPED = ("dicom", "attachments")


def _check(name: str, value: Any) -> Any:
    kind, least = _OPTIONS[name]
    if value is None:
        return None
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, not {value!r}")
        if value < least:
            raise ValueError(f"{name} must be at least {least}, not {value}")
        if value >= 1 << 40:
            raise ValueError(f"{name} is too large: {value}")
        return value
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"{name} must be a path, not {value!r}")
    path = os.fspath(value)
    if kind == "dir" and not os.path.isdir(path):
        raise ValueError(f"{name} {path!r} is not a directory")
    if kind == "file" and not os.path.isfile(path):
        raise ValueError(f"{name} {path!r} is not a file")
    return path


class Gateway:
    """An inference service: routes with their handlers, a health check, error handlers.

    ``Gateway(__name__, max_concurrent=2, memory_budget_mib=4096)``: the keyword arguments are
    the gateway's options (also accepted by :meth:`run`), with the command-line flags' names:
    ``body_limit_mib``, ``handler_timeout_secs``, ``memory_budget_mib``,
    ``shutdown_grace_secs``, ``min_body_rate_kib``, ``body_grace_secs``,
    ``write_timeout_secs``, ``max_connections``, ``max_concurrent`` (handler threads, default
    1), ``study_root``, ``logging_config``. A bad value raises ``ValueError``.
    """

    def __init__(self, import_name: str = "__main__", **options: Any) -> None:
        self.import_name = import_name
        self._routes: Dict[str, Callable[..., Any]] = {}
        self._health: Optional[Callable[[], Any]] = None
        self._errors: Dict[Any, Callable[[BaseException], Any]] = {}
        self._flask_app: Any = None
        self._flask_lock = threading.Lock()
        ignored = sorted(k for k in options if k in _FLASK_INIT)
        if ignored:
            log.info("arterys_gateway ignores Flask's %s", ", ".join(ignored))
        self._options = self._options_from({k: v for k, v in options.items() if k not in _FLASK_INIT})

    @staticmethod
    def _options_from(options: Dict[str, Any]) -> Dict[str, Any]:
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ValueError(
                f"unknown option {', '.join(unknown)} (known: {', '.join(sorted(_OPTIONS))})"
            )
        return {k: _check(k, v) for k, v in options.items()}

    def add_inference_route(self, route: str, handler: Callable[..., Any]) -> None:
        """Serves ``POST route`` with ``handler(json_input, dicom_instances, input_hash)``.

        ``dicom_instances`` is every part after the JSON, in request order, as ``io.BytesIO``.
        A handler that declares a ``dicom`` or ``attachments`` keyword argument also gets the
        DICOM instances and the other parts apart. It returns ``(response_json, parts)``.
        Raises ``ValueError`` when the route already has a handler or is one of the gateway's
        own (``/healthcheck``, ``/ping``, ``/livez``, ``/readyz``, ``/metrics``).
        """
        if not callable(handler):
            raise TypeError(f"the handler for {route} is not callable")
        path = route if route.startswith("/") else "/" + route
        if path in _PROBES:
            raise ValueError(f"{path} is the gateway's own route and cannot take a handler")
        if path in self._routes:
            raise ValueError(f"route {path} already has a handler")
        self._routes[path] = handler

    def add_healthcheck_route(self, healthcheck: Callable[[], Any]) -> None:
        """Answers ``GET`` and ``POST /healthcheck`` with ``healthcheck()``: a ``str``,
        ``(body, status)`` or a Flask response (``make_response('READY', 200)``). As in the
        SDK, without one ``/healthcheck`` does not exist (404); ``/livez`` and ``/readyz``
        always answer."""
        if not callable(healthcheck):
            raise TypeError("the health check is not callable")
        self._health = healthcheck

    def register_error_handler(
        self, code_or_exception: Any, f: Callable[[BaseException], Any]
    ) -> None:
        """Answers an exception of this type (or a subclass) raised by a handler with
        ``f(exception)``: a ``str``, ``(body, status)`` or a Flask response. The status code
        500 stands for any exception without a more specific handler."""
        if not callable(f):
            raise TypeError("the error handler is not callable")
        key = code_or_exception
        if isinstance(key, int) and not isinstance(key, bool):
            if key != 500:
                log.info("arterys_gateway ignores the error handler for status %d", key)
                return
        elif not (isinstance(key, type) and issubclass(key, BaseException)):
            raise ValueError(f"{key!r} is neither an exception class nor a status code")
        self._errors[key] = f

    def errorhandler(self, code_or_exception: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :meth:`register_error_handler`."""

        def register(f: Callable[..., Any]) -> Callable[..., Any]:
            self.register_error_handler(code_or_exception, f)
            return f

        return register

    def run(
        self,
        host: Optional[str] = "0.0.0.0",
        port: Optional[int] = 8000,
        debug: Optional[bool] = None,
        use_reloader: Optional[bool] = None,
        **options: Any,
    ) -> None:
        """Serves until SIGTERM or Ctrl-C, then lets in-flight requests finish (within
        ``shutdown_grace_secs``) and returns. Gateway options may be given here too; Flask's
        other keywords (``debug``, ``use_reloader``, ``threaded``, …) are ignored, with one log
        line. ``port=0`` picks a free port; the line `` * Running on http://HOST:PORT`` on
        stderr says which."""
        install_filter()
        gateway_opts = {k: v for k, v in options.items() if k in _OPTIONS}
        ignored = sorted(k for k in options if k not in _OPTIONS)
        if options.get("ssl_context") is not None:
            raise ValueError("ssl_context is not supported: terminate TLS in front of the gateway")
        ignored += [k for k, v in (("debug", debug), ("use_reloader", use_reloader)) if v is not None]
        if ignored:
            log.info("arterys_gateway ignores Flask's %s", ", ".join(sorted(ignored)))
        opts = dict(self._options)
        opts.update(self._options_from(gateway_opts))
        for name in _OPTIONS:
            opts.setdefault(name, None)
        port = 8000 if port is None else port
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an integer from 0 to 65535, not {port!r}")
        if not self._routes:
            raise ValueError("no inference route: call add_inference_route first")
        self._flask_context()  # import Flask (when installed) before requests come
        routes = {path: self._dispatcher(path, h) for path, h in self._routes.items()}
        health = self._health_dispatcher() if self._health is not None else None
        _native.serve(routes, health, host or "0.0.0.0", port, opts, _announce, _trim)

    # -- what the Rust side calls ---------------------------------------------------------

    def _dispatcher(self, path: str, handler: Callable[..., Any]) -> Callable[..., Answer]:
        wanted = _typed_kwargs(handler)

        def dispatch(
            json_text: str, parts: List[bytes], attachments: List[int], input_hash: str
        ) -> Answer:
            token = _INPUT_HASH.set(input_hash)
            try:
                return self._call(handler, wanted, json_text, parts, attachments, input_hash)
            finally:
                _INPUT_HASH.reset(token)

        dispatch.__name__ = f"dispatch{path.replace('/', '_')}"
        return dispatch

    def _call(
        self,
        handler: Callable[..., Any],
        wanted: Tuple[str, ...],
        json_text: str,
        parts: List[bytes],
        attachments: List[int],
        input_hash: str,
    ) -> Answer:
        json_input = json.loads(json_text)
        instances = [io.BytesIO(p) for p in parts]
        kwargs: Dict[str, Any] = {}
        if wanted:
            extra = set(attachments)
            if "dicom" in wanted:
                kwargs["dicom"] = [io.BytesIO(p) for i, p in enumerate(parts) if i not in extra]
            if "attachments" in wanted:
                kwargs["attachments"] = [io.BytesIO(parts[i]) for i in attachments]
        try:
            result = handler(json_input, instances, input_hash, **kwargs)
        except Exception as e:  # noqa: BLE001 - every handler failure is answered
            return self._on_exception(e, input_hash)
        # The request's bytes are not needed any more: free them before the answer's buffers
        # are made (a study and its mask need not be in memory together).
        del instances, kwargs
        received = sum(map(len, parts))
        parts.clear()
        if received >= _TRIM_AFTER:
            _trim()
        try:
            return protocol_answer(result)
        except ProtocolError as e:
            log.error("the handler's answer cannot be sent: %s", e, extra={"input_hash": input_hash})
            return error_answer(500, f"the handler's answer cannot be sent: {e}")

    def _on_exception(self, e: Exception, input_hash: str) -> Answer:
        handler = self._error_handler_for(type(e))
        if handler is None:
            log.error(
                "handler raised %s", type(e).__name__, exc_info=e, extra={"input_hash": input_hash}
            )
            return error_answer(500, f"handler failed: {type(e).__name__}: {e}")
        log.info(
            "handler raised %s; answered by the registered error handler",
            type(e).__name__,
            extra={"input_hash": input_hash},
        )
        try:
            with self._flask_context():
                return plain_answer(handler(e))
        except Exception as e2:  # noqa: BLE001
            log.error("error handler raised %s", type(e2).__name__, exc_info=e2, extra={"input_hash": input_hash})
            return error_answer(500, f"error handler failed: {type(e2).__name__}: {e2}")

    def _error_handler_for(self, kind: Type[BaseException]) -> Optional[Callable[[BaseException], Any]]:
        for cls in kind.__mro__:
            if cls in self._errors:
                return self._errors[cls]
        return self._errors.get(500)

    def _health_dispatcher(self) -> Callable[[], Answer]:
        health = self._health

        def dispatch() -> Answer:
            assert health is not None
            try:
                with self._flask_context():
                    return plain_answer(health())
            except Exception as e:  # noqa: BLE001
                log.error("health check raised %s", type(e).__name__, exc_info=e)
                return error_answer(500, f"health check failed: {type(e).__name__}: {e}")

        return dispatch

    def _flask_context(self) -> Any:
        """A Flask application context when Flask is installed (``make_response`` needs one)."""
        with self._flask_lock:
            if self._flask_app is None:
                try:
                    import flask
                except ImportError:
                    self._flask_app = False
                else:
                    self._flask_app = flask.Flask(self.import_name)
        if self._flask_app is False:
            return contextlib.nullcontext()
        return self._flask_app.app_context()


def _typed_kwargs(handler: Callable[..., Any]) -> Tuple[str, ...]:
    """Which of ``dicom`` / ``attachments`` the handler takes as keyword arguments."""
    try:
        params = inspect.signature(handler).parameters
    except (TypeError, ValueError):
        return ()
    return tuple(
        name
        for name in _TYPED
        if name in params
        and params[name].kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    )


# A request this large has its freed parts handed back to the system at once.
_TRIM_AFTER = 32 << 20


def _load_trim() -> Callable[[], None]:
    """glibc's ``malloc_trim(0)``: returns the heap's free pages to the system. A study's parts
    are each under glibc's mmap threshold, so they come from the heap, and without it they stay
    resident after their request (the next study's then add to them). Elsewhere, nothing."""
    try:
        import ctypes

        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda: None

    def release() -> None:
        trim(0)

    return release


_trim = _load_trim()


def _announce(host: str, port: int) -> None:
    print(f" * Running on http://{host}:{port}", file=sys.stderr, flush=True)
    log.info("listening on http://%s:%d", host, port)

"""The Rust half of arterys_gateway (private)."""

from typing import Any, Callable, Dict, Optional

DEFAULT_BODY_LIMIT_MIB: int
DEFAULT_HANDLER_TIMEOUT_SECS: int
DEFAULT_SHUTDOWN_GRACE_SECS: int

def serve(
    routes: Dict[str, Callable[..., Any]],
    health: Optional[Callable[[], Any]],
    host: str,
    port: int,
    options: Dict[str, Any],
    on_bound: Callable[[str, int], None],
    release_memory: Optional[Callable[[], None]] = None,
) -> None:
    """Serves the routes until SIGTERM or Ctrl-C."""

"""How the HTTP server treats connections (``PLUGHOST_HTTP__<FIELD>``): slow, idle and too many.

A client that opens connections and sends nothing, or sends a request's head a byte at a time,
holds a socket and memory for as long as the server lets it; enough of them starve everyone
else. Each wait here has a deadline, and the number of connections a process serves has a cap.
"""

from __future__ import annotations

from pydantic import BaseModel

from plughost.settings.fields import bounded, wait


class HttpSettings(BaseModel):
    """Connection deadlines and the connection cap (``PLUGHOST_HTTP__<FIELD>``)."""

    model_config = {"extra": "forbid"}

    keep_alive_seconds: float = wait(
        5.0,
        "A connection idle this long after its last response is closed.",
        at_most=300,
    )
    header_timeout_seconds: float = wait(
        10.0,
        "A connection that has not sent a whole request head (request line and headers) this "
        "long after it opened, or after it began its next request, is closed (slowloris).",
        at_most=300,
    )
    max_connections: int = bounded(
        1000,
        "Connections (or requests running) one server process serves at once; beyond it, new "
        "requests are answered 503 while those under way finish.",
        at_least=2,
        at_most=100_000,
    )
    graceful_shutdown_seconds: float = wait(
        30.0,
        "On SIGTERM, how long requests under way may take to finish before they are cut.",
        at_most=3600,
    )

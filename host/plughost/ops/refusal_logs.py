"""A refusal is not a server error: FastMCP's log lines for them, at INFO without a traceback.

FastMCP logs every `FastMCPError` a resource reader or prompt raises at ERROR with its
traceback ("Error reading resource ..."). The host raises those errors on purpose, with the
message the client gets: a plugin's ``NotFound`` or ``invalid_input``, a deadline, a mount's
upstream error, or the wrapper of a plugin crash whose traceback the host has already logged at
ERROR under the plugin's logger (`plughost.core.component_adapter`). Repeating them as server
errors buries real ones in operators' logs. Exceptions FastMCP did not expect (anything not a
`FastMCPError`) keep their ERROR line and traceback.
"""

from __future__ import annotations

import logging

from fastmcp.exceptions import FastMCPError

#: The logger FastMCP reads resources and renders prompts under.
FASTMCP_SERVER_LOGGER = "fastmcp.server.server"


class RefusalsAtInfo(logging.Filter):
    """Turns a record of a deliberately raised `FastMCPError` into one INFO line naming the
    error, without the traceback; drops it when the logger does not log INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, FastMCPError) or record.levelno <= logging.INFO:
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.INFO):
            return False
        record.msg = f"{record.getMessage()}: {type(error).__name__}: {error}"
        record.args = None
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        record.exc_info, record.exc_text = None, None
        return True


def quiet_refusals() -> None:
    """Log FastMCP's refusal lines at INFO without a traceback (once per process; idempotent)."""
    logger = logging.getLogger(FASTMCP_SERVER_LOGGER)
    if not any(isinstance(f, RefusalsAtInfo) for f in logger.filters):
        logger.addFilter(RefusalsAtInfo())

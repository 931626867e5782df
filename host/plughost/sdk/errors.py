"""The errors a tool raises on purpose: each becomes a clean, structured error for the agent.

Messages say what is wrong with the request and what to do about it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ToolError(Exception):
    """A failure a tool reports to its caller on purpose.

    The message is shown to the agent as is, so write it for the agent: say what was wrong with
    the request and how to fix it. `code` is a stable, machine-readable label; `details` carries
    structured facts (ids, current versions) an agent can act on. Never put secrets in either.
    """

    code: str = "tool_error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The structured form sent to the agent alongside the text."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidInput(ToolError):
    """The arguments were well-typed but not acceptable (empty title, bad cursor, ...)."""

    code = "invalid_input"


class NotFound(ToolError):
    """The thing the caller named does not exist (for this caller's tenant)."""

    code = "not_found"


class Conflict(ToolError):
    """The change clashes with the current state (stale version, duplicate key, ...)."""

    code = "conflict"


class InsufficientScope(ToolError):
    """The call needs a scope the caller lacks, depending on its arguments.

    Scopes a tool always needs belong in ``@plugin.tool(scopes=...)``, where the host checks
    them before the tool runs. This is for the rest (a protected environment, an admin-only
    field): raise it, or call `ToolContext.require_scopes`, and the host answers HTTP 403 with
    the same ``insufficient_scope`` challenge, naming the missing scopes.
    """

    code = "insufficient_scope"

    def __init__(self, missing: Sequence[str], message: str | None = None) -> None:
        missing = list(missing)
        super().__init__(
            message or f"this call also needs scope(s) {' '.join(missing)}",
            missing_scopes=missing,
        )


class UndeclaredScope(Exception):
    """A tool asked for a scope it never declared: a bug in the plugin, not the call.

    Either the plugin never declared the scope (no issuer grants it, so a 403 naming it would
    send clients after a scope they can never get), or the tool does not list it in its
    ``conditional_scopes`` (so no agent could learn beforehand that it may be needed). The call
    ends as ``internal_error`` and the operator's log names the tool and the scope.
    """

    def __init__(self, tool: str, scopes: Sequence[str], *, plugin_declares: bool = False) -> None:
        self.tool = tool
        self.scopes = list(scopes)
        names = " ".join(self.scopes)
        if plugin_declares:
            example = ", ".join(f"{scope!r}: 'when ...'" for scope in self.scopes)
            message = (
                f"tool {tool} asked for scope(s) {names}, which it does not list as "
                f"conditional: add conditional_scopes={{{example}}} to its @plugin.tool(...), "
                "or remove the require_scopes call"
            )
        else:
            message = (
                f"tool {tool} asked for scope(s) {names}, which its plugin never "
                "declared: add each to Plugin(scopes={...}) with a description and to the tool's "
                "conditional_scopes={...} with when it is needed, or remove the require_scopes call"
            )
        super().__init__(message)


class TokenExchangeError(ToolError):
    """A downstream token could not be had (`ToolContext.token_for`); see the subclasses.

    Left uncaught, it ends the call as a tool error the agent can read: only the calling tool
    is affected. Its message and details name the audience and what went wrong, never a token.
    """

    code = "token_exchange_error"


class TokenExchangeRefused(TokenExchangeError):
    """The host refused before asking the issuer: token exchange is off, this plugin may not
    use it, or the audience or a scope is outside what the operator allowed the plugin."""

    code = "token_exchange_refused"


class TokenExchangeDenied(TokenExchangeError):
    """The issuer refused the exchange; ``details["issuer_error"]`` is its OAuth error code
    (``invalid_grant``, ``invalid_target``, ``invalid_scope``, ``unauthorized_client``...)."""

    code = "token_exchange_denied"


class TokenExchangeUnavailable(TokenExchangeError):
    """The issuer did not answer in time, could not be reached, or answered nonsense: worth
    retrying later."""

    code = "token_exchange_unavailable"

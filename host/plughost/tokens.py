"""The on-behalf-of token SDK: what `ToolContext.token_for` returns and raises.

Only a tool that calls another internal API as its caller needs these, so they live here rather
than in `plughost`: ``from plughost.tokens import DownstreamToken, TokenExchangeDenied``.
"""

from __future__ import annotations

from plughost.sdk.credentials import DownstreamToken
from plughost.sdk.errors import (
    TokenExchangeDenied,
    TokenExchangeError,
    TokenExchangeRefused,
    TokenExchangeUnavailable,
)

__all__ = [
    "DownstreamToken",
    "TokenExchangeDenied",
    "TokenExchangeError",
    "TokenExchangeRefused",
    "TokenExchangeUnavailable",
]

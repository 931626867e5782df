"""On-behalf-of credentials: a token for another internal API, acting as the caller.

Plugins never see the caller's own token. A tool that must call another service as the user
asks the host, through `ToolContext.token_for`, for a token meant for that service; the host
gets it from the issuer by OAuth 2.0 Token Exchange (RFC 8693), within limits the operator
sets per plugin. `TokenSource` is what the host provides behind that method.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class DownstreamToken(BaseModel):
    """A token for one downstream API, issued for the caller to this plugin.

    ``access_token`` is a `SecretStr`: its repr, ``str()`` and JSON dump show stars, so it
    never lands in a log line, an error or a tool result by accident. Send it with
    `headers`.
    """

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr = Field(description="The token; read it with get_secret_value().")
    token_type: str = Field("Bearer", description="How to present it (`Bearer`).")
    audience: str = Field(description="The API the token is for.")
    scopes: tuple[str, ...] = Field((), description="The scopes the issuer granted.")
    expires_at: datetime | None = Field(
        None, description="When it expires (UTC), if the issuer said."
    )

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header that presents this token to the downstream API."""
        scheme = "Bearer" if self.token_type.lower() == "bearer" else self.token_type
        return {"Authorization": f"{scheme} {self.access_token.get_secret_value()}"}


class TokenSource(Protocol):
    """What the host gives `ToolContext` to get downstream tokens for the current caller."""

    async def token_for(self, audience: str, scopes: Sequence[str]) -> DownstreamToken:
        """A token for ``audience`` with ``scopes``, or one of the token-exchange errors."""
        ...

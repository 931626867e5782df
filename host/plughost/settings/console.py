"""The read-only operator console at ``/console`` (``PLUGHOST_CONSOLE__<FIELD>``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class ConsoleSettings(BaseModel):
    """The read-only operator console at ``/console`` (``PLUGHOST_CONSOLE__<FIELD>``)."""

    model_config = {"extra": "forbid"}

    enabled: bool = Field(
        True,
        description="Serve the console. It is off regardless when the embedded dev issuer is "
        "reachable from the network (a non-loopback bind): anyone there could mint the admin "
        "scope.",
    )
    client_id: str | None = Field(
        None,
        description="The console's OAuth client id at a real issuer (Scalekit or OIDC), "
        "registered with the redirect URI <public URL>/console/callback. The dev issuer "
        "registers the console itself.",
    )
    client_secret: SecretStr | None = Field(
        None, description="The console client's secret, if the issuer made it confidential."
    )

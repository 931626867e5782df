"""Existing MCP servers mounted under a namespace (``PLUGHOST_MOUNTS__<NAMESPACE>__<FIELD>``,
or ``[mounts.<namespace>]`` in the ``PLUGHOST_CONFIG`` file).

A mount is an MCP server the operator already runs or can start (a URL, or a command speaking
MCP on stdio) served as if it were a plugin: its tools, resources and prompts are prefixed with
the namespace and put behind the host's sign-in, scopes, rate limits, guardrails and audit. The
operator, not the upstream, says which scopes each target needs; a target the operator said
nothing about is not served unless ``default_scopes`` is set (closed by default).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from plughost.settings.fields import wait


class MountCredentials(BaseModel):
    """What the host presents to the upstream (``…__CREDENTIALS__<FIELD>``).

    ``none``: nothing. ``static``: the value of the environment variable ``env`` (read at
    start, never logged) sent in the header ``header``, after ``prefix``. ``exchange``: the
    caller's own token exchanged (RFC 8693) for one meant for ``audience`` with ``scopes``,
    within the grant ``PLUGHOST_TOKEN_EXCHANGE__PLUGINS__<NAMESPACE>`` allows, sent as a
    bearer token (HTTP mounts only).
    """

    model_config = {"extra": "forbid"}

    kind: Literal["none", "static", "exchange"] = Field(
        "none", description="none, static (a secret from the environment) or exchange (RFC 8693)."
    )
    header: str = Field("Authorization", description="static: the header the secret goes in.")
    prefix: str = Field("Bearer ", description="static: written before the secret.")
    env: str | None = Field(
        None, description="static: the environment variable holding the secret."
    )
    audience: str | None = Field(None, description="exchange: the upstream's audience.")
    scopes: list[str] = Field(
        default_factory=list, description="exchange: scopes asked for on the upstream token."
    )

    @model_validator(mode="after")
    def _complete(self) -> MountCredentials:
        if self.kind == "static" and not self.env:
            raise ValueError("static credentials need env, the variable holding the secret")
        if self.kind == "exchange" and not self.audience:
            raise ValueError("exchange credentials need audience, the upstream's audience")
        return self


class MountSettings(BaseModel):
    """One mounted MCP server (``PLUGHOST_MOUNTS__<NAMESPACE>__<FIELD>``)."""

    model_config = {"extra": "forbid"}

    url: str | None = Field(None, description="The upstream's streamable HTTP endpoint.")
    command: list[str] | None = Field(
        None, description="Or: a command that serves MCP on stdio (program and arguments)."
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="command: extra environment variables for it."
    )
    cwd: str | None = Field(None, description="command: its working directory.")
    credentials: MountCredentials = Field(default_factory=MountCredentials)
    scopes: dict[str, str] = Field(
        default_factory=dict,
        description="The mount's scope vocabulary, each '<namespace>:<action>' with a "
        "description (advertised in scopes_supported, shown on consent).",
    )
    tools: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Upstream tool name to the scopes calling it needs ([] on purpose: none).",
    )
    resources: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Upstream resource URI (or URI template) to the scopes reading it needs.",
    )
    prompts: dict[str, list[str]] = Field(
        default_factory=dict, description="Upstream prompt name to the scopes getting it needs."
    )
    default_scopes: list[str] | None = Field(
        None,
        description="Scopes for upstream targets not listed above; unset: those are not served.",
    )
    timeout_seconds: float = wait(
        30.0, "Deadline of one call to the upstream; later, the call ends unavailable.", at_most=600
    )
    connect_timeout_seconds: float = wait(
        10.0, "Deadline to connect and list the upstream's targets.", at_most=300
    )
    refresh_seconds: float = wait(
        300.0,
        "How often the upstream's targets are listed again (and a down upstream retried, "
        "sooner: after 1 s, doubling up to this).",
    )

    @model_validator(mode="after")
    def _one_upstream(self) -> MountSettings:
        if (self.url is None) == (self.command is None):
            raise ValueError("set exactly one of url (streamable HTTP) or command (stdio)")
        if self.command is not None and not self.command:
            raise ValueError("command must name a program")
        if self.credentials.kind == "exchange" and self.url is None:
            raise ValueError("exchange credentials need an HTTP mount (url)")
        used = {
            scope
            for table in (self.tools, self.resources, self.prompts)
            for scopes in table.values()
            for scope in scopes
        } | set(self.default_scopes or ())
        undeclared = sorted(used - set(self.scopes))
        if undeclared:
            raise ValueError(
                f"scope(s) {', '.join(undeclared)} are used but not declared: add each to "
                "scopes with a description"
            )
        return self

    @property
    def kind(self) -> Literal["http", "stdio"]:
        return "http" if self.url is not None else "stdio"

    @property
    def where(self) -> str:
        """Where the upstream is, for reports: its URL or command (never a credential)."""
        return self.url if self.url is not None else " ".join(self.command or [])

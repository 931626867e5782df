"""Per-client budgets of tool calls (``PLUGHOST_RATE_LIMIT__<FIELD>``), e.g. ``100/minute``.

Every rate is parsed at start, so a typo is a settings error rather than a limit that never
applies.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from plughost.settings.fields import wait


class RateLimitSettings(BaseModel):
    """Per-client limits on tool calls (``PLUGHOST_RATE_LIMIT__<FIELD>``), e.g. ``100/minute``."""

    model_config = {"extra": "forbid"}

    default: str | None = Field("600/minute", description="Every tool without its own limit.")
    lists: str | None = Field(
        "120/minute",
        description="List requests (tools/list, prompts/list, resources/list, "
        "resources/templates/list) per caller, all kinds sharing one budget; unset: unlimited.",
    )
    plugins: dict[str, str] = Field(default_factory=dict, description="Limit per plugin namespace.")
    tools: dict[str, str] = Field(default_factory=dict, description="Limit per tool name.")
    key: Literal["client_and_subject", "client"] = Field(
        "client_and_subject",
        description="Whose budget a call counts against: each user of each client, "
        "or each client as a whole (client id, else subject).",
    )
    storage_url: str = Field(
        "memory://", description="memory:// (this process) or redis://host:6379/0 (all replicas)."
    )
    key_prefix: str = Field("plughost", description="Redis key prefix, to share one Redis safely.")
    storage_timeout_seconds: float = wait(
        0.5, "Longest wait on the rate-limit storage (connect and reply) per call.", at_most=30
    )
    on_storage_error: Literal["open", "closed"] = Field(
        "open",
        description="When the storage fails or times out: 'open' lets the call proceed "
        "(logged, counted and marked on the audit record); 'closed' answers HTTP 503 "
        "with Retry-After for tools with a limit of their own (per tool or per plugin), while "
        "tools under the default alone, and lists, proceed as with 'open'.",
    )
    storage_retry_seconds: float = wait(
        5.0,
        "After the storage fails, calls skip it for this long (applying "
        "on_storage_error at once); then one call tries it again.",
        at_most=300,
    )

    @field_validator("default", "lists", "plugins", "tools")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        import limits

        for item in [value] if isinstance(value, str) else (value or {}).values():
            try:
                limits.parse(item)
            except ValueError:
                raise ValueError(f"{item!r} is not a rate like '100/minute'") from None
        return value

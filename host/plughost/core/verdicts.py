"""What the call policy decides against a request, as values.

The policy (`plughost.policy`) answers every request a plugin serves with either nothing (the
request goes ahead) or one of these. Each says which audit outcome it is and why, in words an
operator can read; the HTTP edge maps each kind to its status and body in one place
(`plughost.edge.answers`), and the call record keeps the one verdict of its call. They live in
core, beside the call record, because the tool adapter settles one too (a scope a tool asks
for while running).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from plughost.ops.audit import Outcome


@dataclass(frozen=True, slots=True)
class Refused:
    """A request the host does not serve; `outcome` and `detail` go on its audit record."""

    outcome: ClassVar[Outcome] = Outcome.DENIED

    @property
    def detail(self) -> str:
        return self.outcome.value


@dataclass(frozen=True, slots=True)
class TargetRefused(Refused):
    """A refusal of one target: the tool, prompt (by name) or resource (by URI) refused."""

    target: str
    kind: str = field(default="tool", kw_only=True)


@dataclass(frozen=True, slots=True)
class Unauthenticated(Refused):
    """No usable bearer token: ``error`` is the RFC 6750 error code, or None when none was
    sent (the challenge then carries no error, as §3.1 asks)."""

    outcome: ClassVar[Outcome] = Outcome.UNAUTHENTICATED
    reason: str
    error: str | None = "invalid_token"
    description: str | None = None

    @property
    def detail(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True)
class Unavailable(Refused):
    """A service the decision needs cannot be reached: not the caller's fault, so it is asked
    to retry after ``retry_after`` seconds (and must not throw its token away)."""

    outcome: ClassVar[Outcome] = Outcome.UNAVAILABLE
    service: ClassVar[str] = "a service"
    retry_after: int = 5

    @property
    def detail(self) -> str:
        return f"{self.service} unavailable"


@dataclass(frozen=True, slots=True)
class IssuerUnavailable(Unavailable):
    """The token could not be checked because its issuer's keys cannot be fetched."""

    service: ClassVar[str] = "issuer"
    retry_after: int = 10


@dataclass(frozen=True, slots=True)
class LimitsUnavailable(Unavailable):
    """Rate-limit storage is down and the operator's policy is to fail closed."""

    service: ClassVar[str] = "rate-limit storage"


@dataclass(frozen=True, slots=True)
class TargetUnavailable(Unavailable):
    """A target served by another MCP server (a mount, an isolated plugin's worker) that gave
    no answer: it is down, went away mid-call, or was slower than the target's deadline."""

    service: ClassVar[str] = "upstream"
    target: str = field(kw_only=True)
    plugin: str = field(kw_only=True)
    reason: str = field(kw_only=True)
    kind: str = field(default="tool", kw_only=True)

    @property
    def detail(self) -> str:
        return f"{self.plugin} unavailable: {self.reason}"


@dataclass(frozen=True, slots=True)
class UnknownTarget(Refused):
    """A name no loaded plugin serves; ``plugin`` names the plugin it belongs to when that
    plugin is installed but not loaded; ``kind`` is what was asked for (tool, prompt,
    resource)."""

    name: str
    plugin: str | None = None
    kind: str = "tool"

    @property
    def outcome(self) -> Outcome:  # type: ignore[override]
        return Outcome.UNKNOWN_TOOL if self.plugin is None else Outcome.PLUGIN_NOT_LOADED

    @property
    def detail(self) -> str:
        if self.plugin is not None:
            return f"plugin {self.plugin} not loaded"
        return "unknown tool" if self.kind == "tool" else f"unknown {self.kind}"


@dataclass(frozen=True, slots=True)
class MissingScopes(TargetRefused):
    """The caller lacks scopes the target needs (declared, or asked for while running)."""

    required: tuple[str, ...]
    missing: tuple[str, ...]
    granted: tuple[str, ...]

    @classmethod
    def of(
        cls,
        target: str,
        scopes: Iterable[str],
        missing: Iterable[str],
        granted: Iterable[str],
        kind: str = "tool",
    ) -> MissingScopes:
        """The caller holding ``granted`` lacks ``missing`` for a target declaring ``scopes``
        (the lack is one of those, or a scope the target asked for while running). The
        required list names both, so one step-up asks for everything at once."""
        lacking = tuple(missing)
        return cls(
            target=target,
            required=tuple(dict.fromkeys([*scopes, *lacking])),
            missing=lacking,
            granted=tuple(sorted(granted)),
            kind=kind,
        )

    @property
    def detail(self) -> str:
        return f"missing {' '.join(self.missing)}"


@dataclass(frozen=True, slots=True)
class RateLimited(TargetRefused):
    """The caller is over its budget for the target."""

    outcome: ClassVar[Outcome] = Outcome.RATE_LIMITED
    retry_after: float

    @property
    def detail(self) -> str:
        return f"retry after {self.retry_after:.0f}s"


@dataclass(frozen=True, slots=True)
class DeniedByRule(TargetRefused):
    """A guardrail's `Deny`, or a guardrail that failed (fail closed)."""

    rule: str
    reason: str

    @property
    def detail(self) -> str:
        return f"rule {self.rule}: {self.reason}"

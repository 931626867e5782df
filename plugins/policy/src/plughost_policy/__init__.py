"""Operator policy for every plugin's tools: rules from a TOML file, first match decides.

The operator names the file with ``PLUGHOST_PLUGINS__POLICY__FILE``. Each rule matches a call
by tool (names or globs), plugin, caller and argument values, and either allows or denies it;
the first rule that matches decides and ``default`` decides when none does. A file that cannot
be read or does not validate denies every call: a broken policy must never let calls through.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import anyio.to_thread
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plughost import Caller, Plugin, PluginRuntime
from plughost.guardrails import CallInfo, Deny

#: The rule id of the refusal every call gets while the policy file is unusable.
INVALID = "policy:invalid"


class PolicySettings(BaseModel):
    """The plugin's settings: where the policy is, and whether to only audit it."""

    file: Path | None = Field(None, description="The TOML policy file; without it, allow all.")
    dry_run: bool = Field(False, description="Audit what would be denied; deny nothing.")


class Rule(BaseModel):
    """One rule: every condition given must match; a condition left out matches every call."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}$")
    effect: Literal["allow", "deny"]
    reason: str = Field("denied by the operator's policy", max_length=500)
    tools: list[str] | None = None
    plugins: list[str] | None = None
    caller: dict[str, list[str]] = Field(default_factory=dict)
    arguments: dict[str, list[Any]] = Field(default_factory=dict)
    dry_run: bool = False

    def matches(self, call: CallInfo) -> bool:
        if self.tools is not None and not _any_glob(call.tool, self.tools):
            return False
        if self.plugins is not None and call.plugin not in self.plugins:
            return False
        if not all(
            _any_value(_caller_values(call.caller, key), pats) for key, pats in self.caller.items()
        ):
            return False
        return all(
            key in call.arguments and _any_value([call.arguments[key]], patterns)
            for key, patterns in self.arguments.items()
        )


class Policy(BaseModel):
    """The policy file: rules in order, the default, and the file-wide dry run."""

    model_config = ConfigDict(extra="forbid")

    default: Literal["allow", "deny"] = "allow"
    dry_run: bool = False
    rules: list[Rule] = Field(default_factory=list)

    def decide(self, call: CallInfo) -> Deny | None:
        """The first matching rule's verdict; ``default`` when no rule matches."""
        for rule in self.rules:
            if rule.matches(call):
                if rule.effect == "allow":
                    return None
                return Deny(rule=rule.id, reason=rule.reason, dry_run=self.dry_run or rule.dry_run)
        if self.default == "deny":
            return Deny(
                rule="policy:default", reason="no rule allows this call", dry_run=self.dry_run
            )
        return None


class PolicyError(Exception):
    """The policy file cannot be used; the message names the file and what is wrong."""


plugin = Plugin(scopes={}, settings=PolicySettings)
_active: dict[str, Policy | PolicyError] = {}


@plugin.on_startup
async def load(runtime: PluginRuntime[PolicySettings]) -> None:
    """Read the policy once per process, off the event loop; an unusable file denies all."""
    settings = runtime.settings
    if settings.file is None:
        runtime.logger.warning("no policy file (PLUGHOST_PLUGINS__POLICY__FILE): allowing all")
        _active["policy"] = Policy(dry_run=settings.dry_run)
        return
    try:
        policy = await anyio.to_thread.run_sync(read_policy, settings.file)
    except PolicyError as exc:
        runtime.logger.error("%s; every call is denied until it is fixed", exc)
        _active["policy"] = exc
        return
    if settings.dry_run:
        policy = policy.model_copy(update={"dry_run": True})
    _active["policy"] = policy
    runtime.logger.info("policy %s: %d rules", settings.file, len(policy.rules))


@plugin.before_call
async def enforce(call: CallInfo) -> Deny | None:
    """The policy's verdict on every call of every plugin."""
    policy = _active.get("policy")
    if isinstance(policy, PolicyError):
        return Deny(rule=INVALID, reason="the server's policy file is invalid; tell the operator")
    return policy.decide(call) if policy is not None else None


def read_policy(path: Path) -> Policy:
    """Parse and validate a policy file, with errors naming the file and the rule."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy file {path} is not valid TOML: {exc}") from exc
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise PolicyError(f"policy file {path} is invalid: {problems}") from exc
    ids = [rule.id for rule in policy.rules]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise PolicyError(f"policy file {path}: rule ids must be unique: {', '.join(duplicates)}")
    return policy


def _caller_values(caller: Caller, key: str) -> list[Any]:
    """The caller's values for a condition: its identity, or a claim the host passes on."""
    known: Mapping[str, Any] = {
        "subject": caller.subject,
        "client": caller.client_id,
        "tenant": caller.tenant_id,
    }
    value = known[key] if key in known else caller.claims.get(key)
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _any_value(values: list[Any], patterns: list[Any]) -> bool:
    """True when some value matches some pattern: strings as globs, others by equality."""
    return any(_matches(value, pattern) for value in values for pattern in patterns)


def _matches(value: Any, pattern: Any) -> bool:
    if isinstance(pattern, str):
        text = value if isinstance(value, str) else json.dumps(value)
        return fnmatch.fnmatchcase(text, pattern)
    return bool(value == pattern and type(value) is type(pattern))


def _any_glob(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)

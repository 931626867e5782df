"""Asking the user mid-call: the question a tool returns (`Ask`) and the answer it reads back.

On MCP 2026-07-28 a question is not a request the server sends while the tool waits: the call
ends with the question (an ``input_required`` result), the client asks its user, and calls
again with the answer. The tool's function therefore runs from the top once per round, and
its code reads as a guard, side effects only after the answer::

    answer = ctx.answer("confirm")
    if answer is None:
        return ctx.ask("confirm", "Deploy 1.4.2 to production?")
    if not answer.accepted:
        raise ToolError("the user did not confirm the deployment", code="not_confirmed")
    ...  # deploy

What a tool must know in a later round travels in the sealed request state (``remember``,
small JSON); the host seals it with the key every replica shares, so the next round may be
served by any replica. Clients on 2025-06-18 and 2025-11-25 are asked on the call's own
stream while it waits, and the function runs again with the answer: the same guard serves
both. `ToolContext.can_ask` says whether this call's client can answer at all; a tool offers
those that cannot an argument instead (``confirm: bool = False``).

Asking the client's model (sampling, `ToolContext.sample`) is the other request a tool may
send its client: only on 2025-03-26 to 2025-11-25 streams (2026-07-28 deprecates it), and
the tool simply awaits the reply, as nothing is run again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ValidationError

from plughost.sdk.errors import InvalidInput, ToolError

#: What the user did with a question.
Action = Literal["accept", "decline", "cancel"]

#: How much a tool may remember across rounds, as JSON: the state rides in every request.
MAX_REMEMBER_BYTES = 4096

_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: The property types an elicitation form may ask for (MCP allows only flat, primitive ones).
_PRIMITIVES = frozenset({"string", "number", "integer", "boolean", "array"})


class InputUnavailable(ToolError):
    """The tool asked the user, but this call's client cannot answer (an older protocol
    version, or no elicitation support). The message says how to proceed without asking."""

    code = "input_unavailable"


class SamplingUnavailable(ToolError):
    """The tool asked the client's model (`ToolContext.sample`), and this call's client cannot
    sample: it did not declare sampling, reads no event stream, or speaks MCP 2026-07-28."""

    code = "sampling_unavailable"


class SamplingFailed(ToolError):
    """The client was asked to sample and did not: its user declined, its model failed, or
    its reply held no text. The message says which."""

    code = "sampling_failed"


#: Why a call cannot sample when the host says nothing more precise.
CLIENT_CANNOT_SAMPLE = (
    "this client cannot sample (it needs the sampling capability, MCP 2025-03-26 to "
    "2025-11-25, and an event stream)"
)


class Sampler(Protocol):
    """Where a call's sampling requests go (the host's, per call)."""

    @property
    def can_sample(self) -> bool: ...

    @property
    def cannot_sample(self) -> str:
        """Why not, when `can_sample` is False (the end of the agent's error message)."""
        ...

    async def sample(self, prompt: str, max_tokens: int, system: str | None) -> str: ...


@dataclass(frozen=True)
class Answer:
    """What the user answered to a question: ``action`` is ``accept``, ``decline`` (said no)
    or ``cancel`` (dismissed it); ``data`` is the form's content when accepted (the model
    `ToolContext.answer` was given, or a dict), else None."""

    action: Action
    data: Any = None

    @property
    def accepted(self) -> bool:
        """Whether the user accepted (declining and cancelling both mean: do not proceed)."""
        return self.action == "accept"


@dataclass(frozen=True)
class Ask:
    """A question for the user; a tool returns it (from `ToolContext.ask`) to end this round.

    ``schema`` is the flat JSON Schema object of the form (no properties: accept or decline
    only); ``remember`` is what the next round reads back as `ToolContext.remembered`.
    """

    key: str
    message: str
    schema: dict[str, Any]
    remember: dict[str, Any]


@dataclass(frozen=True)
class Rounds:
    """What the host tells a call of its earlier rounds: whether its client can answer
    questions, the answers so far (raw: ``{"action": ..., "content": ...}`` by key), and what
    the tool remembered. The host's, built per call; plugin code uses `ToolContext`."""

    can_ask: bool = False
    answers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    remembered: Mapping[str, Any] = field(default_factory=dict)

    def answer(self, key: str, model: type[BaseModel] | None) -> Answer | None:
        """The answer to ``key``, its content validated by ``model`` when given."""
        raw = self.answers.get(key)
        if raw is None:
            return None
        action = raw.get("action")
        if action not in ("accept", "decline", "cancel"):
            return None
        content = raw.get("content") if action == "accept" else None
        if action != "accept" or model is None:
            return Answer(action, dict(content or {}) if action == "accept" else None)
        try:
            return Answer(action, model.model_validate(content or {}))
        except ValidationError as exc:
            fields = sorted({".".join(map(str, e["loc"])) or "(form)" for e in exc.errors()})
            raise InvalidInput(
                f"the answer to {key!r} does not fit its form ({', '.join(fields)})",
                question=key,
                fields=fields,
            ) from None


def make_ask(
    key: str,
    message: str,
    schema: type[BaseModel] | Mapping[str, Any] | None,
    remember: Mapping[str, Any] | None,
) -> Ask:
    """An `Ask`, checked now: a bad key, form or state is a bug in the tool, told plainly."""
    if not _KEY.match(key):
        raise ValueError(f"question key {key!r} must be 1-64 letters, digits, '_', '.' or '-'")
    if not message.strip():
        raise ValueError("a question needs a message for the user")
    kept = dict(remember or {})
    size = len(json.dumps(kept, separators=(",", ":")))  # TypeError: not JSON
    if size > MAX_REMEMBER_BYTES:
        raise ValueError(
            f"remember holds {size} bytes of JSON, more than {MAX_REMEMBER_BYTES}: keep ids, "
            "not data (it travels with every round)"
        )
    return Ask(key=key, message=message, schema=form_schema(schema), remember=kept)


def form_schema(schema: type[BaseModel] | Mapping[str, Any] | None) -> dict[str, Any]:
    """The requested schema of a form: a pydantic model's or a JSON Schema object, flat."""
    if schema is None:
        return {"type": "object", "properties": {}}
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        full = schema.model_json_schema()
        found = {"type": "object", "properties": full.get("properties", {})}
        if full.get("required"):
            found["required"] = list(full["required"])
    else:
        found = dict(schema)
    if found.get("type") != "object" or "$defs" in found or "$ref" in json.dumps(found):
        raise TypeError("a form is a flat JSON Schema object (no $defs, no $ref)")
    for name, prop in dict(found.get("properties", {})).items():
        kind = prop.get("type") if isinstance(prop, Mapping) else None
        if kind not in _PRIMITIVES and not (isinstance(prop, Mapping) and "enum" in prop):
            raise TypeError(
                f"form field {name!r} must be a string, number, integer, boolean or enum "
                "(MCP forms are flat)"
            )
    return found

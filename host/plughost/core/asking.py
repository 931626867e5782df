"""Questions a tool asks its user, as MCP 2026-07-28's multi-round-trip flow (SEP-2322).

A tool that returns an `Ask` ends the round with an ``input_required`` result: the question
(an elicitation form) and a request state. The client asks its user and calls the tool again
with the answer and the state echoed; the tool's function runs from the top and reads the
answer (`ToolContext.answer`). Nothing waits in memory between rounds, so any replica can
serve the next one.

The state is JSON of the host's (which question was asked, the answers so far, what the tool
remembered), sealed by FastMCP's request-state boundary with `RequestStateKey`, a key kept
in the database every replica shares. The boundary binds it to the tool, its arguments, the
caller and a deadline, and refuses anything else with -32602 before the tool runs. An answer
counts only for the question the sealed state says was asked: a client cannot answer a
question the tool never put. Neither the state nor the answers are ever logged.

Only the transport serves these rounds: the fast path (`plughost.edge.fastpath`) takes
handshake protocol versions only, and would skip the boundary.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from fastmcp.server.dependencies import get_context
from mcp.server.request_state import AESGCMRequestStateCodec, RequestStateSecurity
from mcp.types import (
    ClientCapabilities,
    ElicitationCapability,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequiredResult,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from sqlalchemy import Engine

from plughost.core.host_keys import StoredKey
from plughost.sdk.elicitation import Ask, Rounds

REQUEST_STATE_KEY_NAME = "request-state"
#: How long a question may wait for its answer (seconds) before the state expires.
STATE_TTL_SECONDS = 600.0
#: The layout of the host's state JSON, in case it ever changes between replicas.
STATE_VERSION = 1

_ELICITATION = ClientCapabilities(elicitation=ElicitationCapability())


class RequestStateKey(StoredKey):
    """The key that seals request state, shared by every replica; a `RequestStateCodec`.

    FastMCP is built before the database is ready, so the AES-GCM codec is made from the
    stored key on first use (normally at start-up, by `load`).
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, REQUEST_STATE_KEY_NAME)
        self._codec: AESGCMRequestStateCodec | None = None
        self._codec_lock = threading.Lock()

    def seal(self, payload: bytes) -> str:
        return self._ready().seal(payload)

    def unseal(self, token: str) -> bytes:
        return self._ready().unseal(token)

    def _ready(self) -> AESGCMRequestStateCodec:
        with self._codec_lock:
            if self._codec is None:
                self._codec = AESGCMRequestStateCodec([self.value()])
            return self._codec

    def security(self) -> RequestStateSecurity:
        """The policy FastMCP seals with: this key, the default principal binding (the
        token's client, issuer and subject), and `STATE_TTL_SECONDS`."""
        return RequestStateSecurity(codec=self, ttl=STATE_TTL_SECONDS)


def rounds_of_call() -> Rounds:
    """What the current request says of earlier rounds, read from FastMCP's context.

    Outside a 2026-07-28 request (a handshake version, the fast path, an in-process call) the
    tool cannot ask, and there are no answers.
    """
    try:
        context = get_context()
    except RuntimeError:
        return Rounds()
    request = context.request_context
    if request is None or request.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return Rounds()
    can_ask = request.session.check_client_capability(_ELICITATION)
    state = _state(context.request_state)
    answers: dict[str, Mapping[str, Any]] = dict(state.get("answers") or {})
    asked = state.get("asked")
    if isinstance(asked, str):
        reply = (context.input_responses or {}).get(asked)
        if isinstance(reply, ElicitResult):
            answers[asked] = {"action": reply.action, "content": reply.content}
    return Rounds(can_ask=can_ask, answers=answers, remembered=state.get("remember") or {})


def _state(plaintext: str | None) -> dict[str, Any]:
    """The host's state JSON (already verified by the boundary), or nothing."""
    if plaintext is None:
        return {}
    try:
        state = json.loads(plaintext)
    except ValueError:
        return {}
    if not isinstance(state, dict) or state.get("v") != STATE_VERSION:
        return {}
    return state


def input_required(ask: Ask, rounds: Rounds) -> InputRequiredResult:
    """The round's result: ``ask``'s form, and the state the next round reads (plaintext here:
    the boundary seals it on the way out)."""
    answers = {key: dict(value) for key, value in rounds.answers.items() if key != ask.key}
    state = {
        "v": STATE_VERSION,
        "asked": ask.key,
        "answers": answers,
        "remember": {**rounds.remembered, **ask.remember},
    }
    form = ElicitRequestFormParams(message=ask.message, requested_schema=ask.schema)
    return InputRequiredResult(
        input_requests={ask.key: ElicitRequest(params=form)},
        request_state=json.dumps(state, separators=(",", ":")),
    )


def question_of(result: InputRequiredResult, before: Rounds) -> Ask:
    """The question `input_required` put in ``result`` (made from ``before``), read back.

    A worker's tool ends its round this way; the worker hands only the question to its host,
    which seals the round from its own record of the earlier ones (`input_required` again), so
    a worker never writes the answers a sealed state carries. What the tool remembered comes
    back as what this round added to ``before``: merged again, the state is the same.
    """
    state = _state(result.request_state)
    key = state.get("asked")
    asked = (result.input_requests or {}).get(key) if isinstance(key, str) else None
    if not isinstance(key, str) or not isinstance(asked, ElicitRequest):
        raise ValueError("the result puts no question this host asked")
    form = asked.params
    if not isinstance(form, ElicitRequestFormParams):
        raise ValueError("the result's question is not a form")
    earlier = before.remembered
    kept = state.get("remember") or {}
    added = {k: v for k, v in kept.items() if k not in earlier or earlier[k] != v}
    return Ask(key, form.message, dict(form.requested_schema), added)

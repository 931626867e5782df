"""A call the host forwarded, as the worker runs it: the same call record the adapter reads.

The host admitted the call (token, scopes, rate limit, guardrails) and sends the verified
caller in the request's ``_meta`` (`plughost.core.forwarding.caller_meta`). The worker
trusts it because only the host holds its pipes. `record_of` turns it back into a
`CallRecord` (for `current_call`), so the plugin's functions run exactly as in the host's
process (`core/adapter.py`); `outcome_meta` hands the call's outcome back in the result's
``_meta`` for the host's one audit record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from plughost.core.callrecord import CallRecord
from plughost.core.forwarding import caller_from_meta
from plughost.core.verdicts import MissingScopes
from plughost.ops.audit import Outcome
from plughost.sdk.context import Caller

#: Where a forwarded request carries the host's request id (the caller is the forwarding
#: core's ``plughost/caller``).
REQUEST_ID_META = "plughost/request_id"
#: Where the worker's result carries how the call ended.
OUTCOME_META = "plughost/outcome"


def outcome_meta(record: CallRecord) -> dict[str, Any]:
    """How the call ended, for the host's record: the outcome and, for a scope the function
    asked for that the caller lacks, the scopes its step-up challenge must name."""
    found: dict[str, Any] = {
        "outcome": (record.outcome or Outcome.INTERNAL_ERROR).value,
        "detail": record.detail,
    }
    if isinstance(record.verdict, MissingScopes):
        found["missing_scopes"] = list(record.verdict.missing)
    return found


def record_of(meta: Any, kind: str) -> CallRecord:
    """The record of a forwarded call, with the caller and request id its ``_meta`` names; a
    call without a caller is refused by the adapter (no verified caller), as in the host."""
    found: Mapping[str, Any] = meta if isinstance(meta, Mapping) else {}
    try:
        caller: Caller | None = caller_from_meta(found)
    except (ValueError, KeyError, TypeError, PydanticValidationError):
        caller = None
    request_id = found.get(REQUEST_ID_META)
    return CallRecord(
        request_id if isinstance(request_id, str) else None,
        caller=caller,
        kind=kind,
        admitted=True,
    )

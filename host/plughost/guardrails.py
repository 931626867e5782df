"""The guardrail SDK: what ``@plugin.before_call`` and ``@plugin.after_call`` hooks see and answer.

Only a plugin that guards every plugin's calls (a policy, a redactor) needs these, so they live
here rather than in `plughost`: ``from plughost.guardrails import CallInfo, Deny``.
"""

from __future__ import annotations

from plughost.sdk.guardrails import CallInfo, CallOutput, Deny, Rewrite

__all__ = ["CallInfo", "CallOutput", "Deny", "Rewrite"]

"""The elicitation SDK: asking the user mid-call (`ToolContext.ask`) and reading the answer, and
the errors of asking the client's model (`ToolContext.sample`).

Only tools that ask their user or its model need these names (the methods are on
`ToolContext`), so they live here rather than in `plughost`:
``from plughost.elicitation import Ask, Answer``.
"""

from __future__ import annotations

from plughost.sdk.elicitation import (
    Answer,
    Ask,
    InputUnavailable,
    SamplingFailed,
    SamplingUnavailable,
)

__all__ = ["Answer", "Ask", "InputUnavailable", "SamplingFailed", "SamplingUnavailable"]
